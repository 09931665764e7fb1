"""Object stores: where source files come from and where the lake lives.

A store is addressed by URL; backends register by scheme. Keys are '/'-separated and
relative to the store's root:

>>> store = open_store("./lake")          # a local folder (file://); or s3://bucket/prefix
>>> store.put("raw/x.csv", b"a,b\\n")      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from covidlake.errors import ConfigError


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    # What changes when the object does, as the store reports it without reading it (a local
    # file's mtime, an S3 ETag); "" if unknown. Ingest skips reading an object whose size and
    # version match its last copy, as `aws s3 sync` and rsync's quick check do.
    version: str = ""


class ObjectStore(Protocol):
    """The few operations the pipeline needs from a folder or a bucket."""

    url: str

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under `prefix`, sorted by key."""
        ...

    def exists(self, key: str) -> bool: ...

    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never half."""
        ...

    def put_file(self, key: str, path: Path) -> None: ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for engines that read files directly, or None."""
        ...

    def uri(self, key: str) -> str:
        """The URL of `key`, as an engine reading the store should see it."""
        ...

    def configure_duckdb(self, con: Any) -> None:
        """Make `uri()` readable and writable from a DuckDB connection."""
        ...

    def sweep(self) -> int:
        """Remove what killed writers left (temporary files, unfinished uploads); call only
        while holding the lake's lock. Returns how many were removed."""
        ...


_BACKENDS: dict[str, Callable[[str], ObjectStore]] = {}


def register(scheme: str, factory: Callable[[str], ObjectStore]) -> None:
    _BACKENDS[scheme] = factory


def open_store(url: str) -> ObjectStore:
    """A store for a path or URL: `./lake`, `file:///data/lake`."""
    scheme = urlparse(url).scheme if "://" in url else "file"
    if scheme not in _BACKENDS:
        raise ConfigError(
            f"no object store for {scheme}:// URLs ({url})",
            hint=f"supported: {', '.join(s + '://' for s in sorted(_BACKENDS))} or a plain path",
        )
    return _BACKENDS[scheme](url)


def _local(url: str) -> ObjectStore:
    from covidlake.store.local import LocalStore

    return LocalStore(url)


def _s3(url: str) -> ObjectStore:
    from covidlake.store.s3 import S3Store

    return S3Store(url)


register("file", _local)
register("s3", _s3)
