"""A local folder as an object store (the default lake)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from covidlake.errors import StoreError
from covidlake.store import ObjectInfo


class LocalStore:
    def __init__(self, url: str) -> None:
        path = unquote(urlparse(url).path) if url.startswith("file://") else url
        self.root = Path(path).expanduser().resolve()
        self.url = self.root.as_uri()
        self._inside = str(self.root).rstrip(os.sep) + os.sep

    def _path(self, key: str) -> Path:
        # lexical (normpath, not resolve): no system call per key, and `..` cannot escape
        path = Path(os.path.normpath(self.root / key))
        if path != self.root and not str(path).startswith(self._inside):
            raise StoreError(f"key {key!r} points outside the store {self.root}")
        return path

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return
        found = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            # keys as strings, once per folder: a Path per file was most of a no-op's
            # listing (10x set: 11,439 objects, listed three times)
            folder = os.path.relpath(dirpath, self.root)
            folder = "" if folder == "." else folder.replace(os.sep, "/") + "/"
            for name in filenames:
                if name.startswith(".") or name.endswith(".tmp"):
                    continue
                key = folder + name
                if key.startswith(prefix):
                    path = os.path.join(dirpath, name)
                    try:
                        st = os.stat(path)
                    except OSError as exc:
                        raise StoreError(f"cannot read {path}: {exc.strerror}",
                                         hint="check the file exists and is readable") from exc
                    found.append(ObjectInfo(key, st.st_size, f"mtime:{st.st_mtime_ns}"))
        yield from sorted(found, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}",
                             hint="check the file exists and is readable") from exc

    def put(self, key: str, data: bytes) -> None:
        with self._atomic(key) as tmp:
            tmp.write_bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        with self._atomic(key) as tmp:
            shutil.copyfile(path, tmp)

    @contextmanager
    def _atomic(self, key: str) -> Iterator[Path]:
        """A temp file beside the target, renamed over it only if the block succeeds."""
        target = self._path(key)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
            os.close(fd)
            tmp = Path(name)
            yield tmp
            os.replace(tmp, target)
        except OSError as exc:  # disk full, read-only, permissions: say where and what
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}",
                             hint="free space or fix permissions on the lake's disk, then run "
                                  "again; nothing was half-written") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def configure_duckdb(self, con: object) -> None:
        """Local files need nothing."""

    def sweep(self) -> int:
        removed = 0
        if self.root.is_dir():
            for tmp in self.root.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` fills a file beside `target` that then replaces it whole, so a reader
    never sees half a file (outside a lake: query --output, report --html). OSError is the
    caller's to word."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
