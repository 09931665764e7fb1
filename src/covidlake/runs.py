"""Run records: every command that changes the lake or the warehouse gets an id and a record in
the lake (`_runs/<run_id>.json`): start and end, each stage's time and rows in and out, the
checksums of the source objects used and the catalog version; the base for lineage.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covidlake.store import ObjectStore

PREFIX = "_runs/"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_last_us = 0  # the stamp of the last run id made in this process


def _stamp() -> str:
    """A run id's time, to the microsecond and increasing within a process, so ids sort in
    the order runs began (to the second, two short runs in one second sorted by their
    random suffix, and the older one could be taken for the latest).

    >>> _stamp() < _stamp()
    True
    """
    global _last_us
    _last_us = max(time.time_ns() // 1000, _last_us + 1)
    seconds, micro = divmod(_last_us, 1_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y%m%dT%H%M%S}.{micro:06d}Z"


@dataclass
class StageRecord:
    name: str
    started_at: str
    seconds: float = 0.0
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    # the process's peak memory so far, at the stage's end: the stage where it rises set it
    peak_rss_mb: float | None = None
    # CPU time of all the process's threads (user + system): cpu_seconds / seconds is how
    # many of the machine's cores the stage kept busy
    cpu_seconds: float = 0.0


_STATUS = Path("/proc/self/status")


def _peak_mb() -> float | None:
    """The process's peak RSS so far (Linux VmHWM), or None elsewhere. Not reset between
    stages: that would also reset what `time -v` and a parent's rusage report."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


@dataclass
class RunRecord:
    run_id: str
    command: str
    started_at: str
    settings: dict[str, str]
    ended_at: str = ""
    status: str = "running"  # running | succeeded | failed
    error: str = ""
    stages: list[StageRecord] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)  # key, bytes, sha256
    catalog_version: int | None = None
    star_version: str | None = None
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, int] = field(default_factory=dict)  # status -> checks

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        d = dict(d)
        d["stages"] = [StageRecord(**s) for s in d.get("stages", [])]
        return cls(**d)


class Run:
    """Records one command; saved to the lake when it ends, whether it succeeded or not."""

    def __init__(self, lake: ObjectStore, command: str, settings: dict[str, str]) -> None:
        self.lake = lake
        self.record = RunRecord(f"{_stamp()}-{secrets.token_hex(3)}", command, _now(), settings)
        # the catalog as the crawl left it, for the stages after it: read once per run (the
        # scale set's catalog, with every file's statistics, took 0.04 s to read)
        self.catalog: Any = None

    @property
    def id(self) -> str:
        return self.record.run_id

    @contextmanager
    def stage(self, name: str) -> Iterator[StageRecord]:
        stage = StageRecord(name, _now())
        self.record.stages.append(stage)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield stage
        finally:
            stage.seconds = round(time.perf_counter() - started, 3)
            stage.cpu_seconds = round(time.process_time() - cpu, 3)
            # VmHWM is max(RSS now, a mark the kernel raises only on some unmaps), so memory
            # an allocator returns with madvise can lower it (CI saw 248.9 then 248.8 MB):
            # the peak so far is the highest reading so far
            peak = _peak_mb()
            earlier = [s.peak_rss_mb for s in self.record.stages if s.peak_rss_mb is not None]
            stage.peak_rss_mb = max([peak, *earlier]) if peak is not None else None

    def finish(self, error: BaseException | None = None) -> None:
        self.record.ended_at = _now()
        self.record.status = "failed" if error else "succeeded"
        self.record.error = str(error) if error else ""
        body = json.dumps(asdict(self.record), indent=1, default=str).encode()
        self.lake.put(f"{PREFIX}{self.id}.json", body)


def last_run(lake: ObjectStore, command: str | None = None) -> RunRecord | None:
    """The newest run record (of `command`, if given)."""
    for obj in sorted(lake.list(PREFIX), key=lambda o: o.key, reverse=True):
        record = RunRecord.from_dict(json.loads(lake.get(obj.key)))
        if command is None or record.command == command:
            return record
    return None


def read_run(lake: ObjectStore, run_id: str) -> RunRecord | None:
    """The record of one run, or None when the lake has none by that id."""
    key = f"{PREFIX}{run_id}.json"
    if "/" in run_id or not lake.exists(key):
        return None
    return RunRecord.from_dict(json.loads(lake.get(key)))
