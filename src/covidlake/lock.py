"""One writer per lake: every command that changes the lake or the warehouse holds the lake's
lock, so two runs never interleave. The second one waits (`--wait SECONDS`) or refuses with
a message naming the run that holds the lock.

A folder lake uses an OS file lock (`.covidlake.lock`), which a killed process releases by
itself. A bucket uses a lock object written only if absent (S3 conditional writes); the lock
of a run that cannot be alive (its process on this host has ended, or its lease ran out) is
taken over, with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covidlake import log
from covidlake.errors import CovidlakeError
from covidlake.store import ObjectStore

LOCAL = ".covidlake.lock"
REMOTE = "_runs/.lock"
LEASE_SECONDS = 6 * 3600  # no run takes this long; an older lock object is a dead run's
POLL_SECONDS = 0.5


class LockError(CovidlakeError):
    """The lake is in use by another run."""


def _owner(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "pid": os.getpid(), "host": os.uname().nodename,
            "since": datetime.now(UTC).isoformat(timespec="seconds"), "epoch": time.time()}


def _busy(lake: ObjectStore, holder: dict[str, Any], wait: float) -> LockError:
    who = (f"run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} on "
           f"{holder.get('host', '?')}, since {holder.get('since', '?')})")
    return LockError(f"the lake {lake.url} is in use by {who}",
                     hint="wait for it to finish, or pass --wait SECONDS" if not wait
                     else f"it did not finish within {wait:.0f}s")


@contextlib.contextmanager
def lake_lock(lake: ObjectStore, run_id: str, wait: float = 0.0) -> Iterator[None]:
    root = lake.local_path("")
    if root is not None:
        with _file_lock(lake, Path(root), run_id, wait):
            yield
    else:
        with _object_lock(lake, run_id, wait):
            yield


@contextlib.contextmanager
def _file_lock(lake: ObjectStore, root: Path, run_id: str, wait: float) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCAL
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    try:
                        holder = json.loads(path.read_text() or "{}")
                    except (OSError, ValueError):
                        holder = {}
                    raise _busy(lake, holder, wait) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_owner(run_id)).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock; so does the process dying


def _stale(holder: dict[str, Any]) -> bool:
    """A lock object whose run cannot be alive: its process on this host has ended (killed,
    or it lost the server while releasing), or its lease ran out."""
    if time.time() - holder.get("epoch", time.time()) > LEASE_SECONDS:
        return True
    if holder.get("host") != os.uname().nodename:
        return False
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


@contextlib.contextmanager
def _object_lock(lake: Any, run_id: str, wait: float) -> Iterator[None]:
    client, bucket, key = lake.client, lake.bucket, lake.prefix + REMOTE
    body = json.dumps(_owner(run_id)).encode()
    deadline = time.monotonic() + wait
    while True:
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            break
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            try:
                holder = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception:  # noqa: BLE001 - released meanwhile, or unreadable
                holder = {}
            if holder and _stale(holder):
                log.warn(f"taking over the lock of run {holder.get('run_id')} on {lake.url}: "
                         "that run is gone")
                client.delete_object(Bucket=bucket, Key=key)
                continue
            if time.monotonic() >= deadline:
                raise _busy(lake, holder, wait) from None
            time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        client.delete_object(Bucket=bucket, Key=key)
