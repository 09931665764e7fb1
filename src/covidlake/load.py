"""load: load the exported star schema into the warehouse, atomically.

DDL comes from the star manifest (warehouses/ddl.py); each backend loads in one transaction
and swaps the new tables in only when every table loaded and counted right, so a failed load
leaves the previous tables. Loading the same star version again is a no-op.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from covidlake import log
from covidlake.errors import LoadError
from covidlake.export import StarManifest
from covidlake.store import ObjectStore
from covidlake.transform.model import BY_NAME, SCHEMA
from covidlake.views import VIEWS
from covidlake.warehouses import Capabilities, LoadTable, Warehouse


@dataclass
class LoadResult:
    version: str
    loaded: bool  # False when the warehouse already had this version
    rows: dict[str, int]
    by_day: bool = False  # only the delta's fact days were replaced


@contextmanager
def plan(manifest: StarManifest, lake: ObjectStore, caps: Capabilities
         ) -> Iterator[list[LoadTable]]:
    """The tables in load order (dimensions first), with local copies of the Parquet files
    when the warehouse loads from this machine and the lake is not a local folder."""
    tables = sorted(manifest.tables, key=lambda t: BY_NAME[t.name].load_order)
    with tempfile.TemporaryDirectory(prefix="covidlake-load-") as tmp:
        out = []
        for t in tables:
            uris: dict[str, list[str]] = {}
            for k in sorted(t.files):  # one file per table, or per month (the facts)
                uris.setdefault(k.rsplit(".", 1)[1], []).append(lake.uri(k))
            local_paths = []
            for key in sorted(k for k in t.files if k.endswith(".parquet")):
                local = lake.local_path(key)
                if local is None and caps.loads_from == "local":
                    local = Path(tmp) / key.replace("/", "_")
                    local.write_bytes(lake.get(key))
                if local is not None:
                    local_paths.append(str(local))
            out.append(LoadTable(t.name, t, BY_NAME[t.name], local_paths, uris))
        yield out


def missing_views(warehouse: Warehouse) -> list[str]:
    """The analyst views a warehouse lacks (one loaded by an older covidlake has none)."""
    have = warehouse.relations(SCHEMA)
    return [v.name for v in VIEWS if v.name not in have]


def load(lake: ObjectStore, warehouse: Warehouse, run_id: str, *, force: bool = False
         ) -> LoadResult:
    manifest = StarManifest.read(lake)
    if manifest is None:
        raise LoadError(f"no star schema in {lake.url} (star/_manifest.json is missing)",
                        hint="run `covidlake transform` first")
    rows = {t.name: t.rows for t in manifest.tables}
    # what the warehouse holds, asked once: a loaded version with every analyst view
    loaded = None if force else warehouse.loaded_version(SCHEMA)
    if loaded is not None and missing_views(warehouse):
        loaded = None
    if loaded == manifest.version:
        log.info(f"load: {warehouse.url} already has star version {manifest.version}")
        return LoadResult(manifest.version, False, rows)
    delta = manifest.delta  # the fact days to replace, if the warehouse holds its base
    days = (delta["fact_date_keys"] if delta is not None and loaded == delta["base"]
            and warehouse.capabilities.replaces_days else None)
    # in a by-day load, the tables whose files are the base's: they hold the same rows already
    unchanged = set(delta.get("unchanged", [])) if delta is not None else set()
    with plan(manifest, lake, warehouse.capabilities) as tables:
        if days is not None:
            try:
                warehouse.load_days(SCHEMA, [t for t in tables if t.name not in unchanged],
                                    manifest.version, run_id, days)
            except LoadError as exc:  # rolled back: the warehouse still holds the base
                log.warn(f"load: replacing days failed ({exc}); loading every table")
                days = None
        if days is None:
            warehouse.load(SCHEMA, tables, manifest.version, run_id)
    if days is not None and delta is not None:
        log.info(f"load: {len(days)} fact day(s) replaced, the other tables updated"
                 + (f" but {', '.join(sorted(unchanged))} (unchanged)" if unchanged else "")
                 + f", in {warehouse.url} (star {delta['base']} → {manifest.version})")
    else:
        log.info(f"load: {sum(rows.values()):,} rows in {len(tables)} tables into "
                 f"{warehouse.url}")
    return LoadResult(manifest.version, True, rows, days is not None)
