"""crawl: infer each table's schema from the raw zone and register it in the catalog.

Like a Glue crawler, but it finds the header of an all-text CSV, keeps codes as text, unions
files with different headers by column name (the four JHU eras), types a column by its
majority and counts the values that do not fit, and reads only new or changed files again.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from covidlake import log
from covidlake.catalog import Catalog, ColumnDef, FileEntry, FileGroup, TableDef
from covidlake.crawl.classify import HEAD_BYTES, classify
from covidlake.crawl.infer import (
    BASIC_STATS,
    DATE_STATS,
    column_def,
    merge,
    stats_sql,
    unique_names,
    wants_date_pass,
)
from covidlake.errors import CatalogError, SourceError
from covidlake.ingest import read_manifest
from covidlake.sources import SOURCES, SourceTable
from covidlake.store import ObjectStore


@dataclass
class CrawlResult:
    tables: list[str] = field(default_factory=list)
    files_read: int = 0
    files_reused: int = 0
    changes: dict[str, list[str]] = field(default_factory=dict)
    catalog_version: int = 0


def crawl(lake: ObjectStore, catalog: Catalog, tables: tuple[SourceTable, ...] = SOURCES,
          con: duckdb.DuckDBPyConnection | None = None) -> CrawlResult:
    con = con or duckdb.connect()
    manifest = read_manifest(lake)
    result = CrawlResult()
    for src in log.track(tables, "crawl", total=len(tables)):
        table, read, changes = _crawl_table(src, lake, catalog.get(src.name), manifest, con)
        catalog.put(table)
        result.tables.append(table.name)
        result.files_read += read
        result.files_reused += len(table.files) - read
        if changes:
            result.changes[table.name] = changes
            log.warn(f"schema of {table.name} changed (v{table.version}): {'; '.join(changes)}")
    catalog.commit()
    result.catalog_version = catalog.version
    log.info(f"crawl: {len(result.tables)} tables, {result.files_read} files read, "
             f"{result.files_reused} unchanged; catalog v{catalog.version}")
    return result


def _group_key(dialect: Any, header: list[str]) -> str:
    return json.dumps([asdict(dialect), header])


def _crawl_table(src: SourceTable, lake: ObjectStore, old: TableDef | None,
                 manifest: dict[str, Any], con: duckdb.DuckDBPyConnection
                 ) -> tuple[TableDef, int, list[str]]:
    objects = list(lake.list(src.lake_prefix))
    if not objects:
        raise CatalogError(f"no objects under {lake.uri(src.lake_prefix)} for table {src.name}",
                           hint="run `covidlake ingest` first")
    files: dict[str, FileEntry] = {}
    groups: dict[str, FileGroup] = {}  # by dialect + header
    descriptions: dict[str, str] = {}
    fresh: dict[str, list[str]] = defaultdict(list)  # group key -> files to read

    for obj in objects:
        entry = manifest.get(obj.key)
        data = None
        if entry is None or entry.bytes != obj.size:
            data = lake.get(obj.key)
            sha = hashlib.sha256(data).hexdigest()
        else:
            sha = entry.sha256
        prev = old.files.get(obj.key) if old else None
        if prev and prev.sha256 == sha:
            group = old.groups[prev.group]
            key = _group_key(group.dialect, [o for o, _ in group.columns])
            groups.setdefault(key, FileGroup(group.dialect, group.columns, []))
            groups[key].files.append(obj.key)
            files[obj.key] = prev
            for _, name in group.columns:
                col = old.column(name)
                if col and col.description:
                    descriptions[name] = col.description
            continue
        head = (data if data is not None else lake.get(obj.key))[:HEAD_BYTES]
        found = classify(obj.key, head)
        names = unique_names(found.header)
        key = _group_key(found.dialect, found.header)
        columns = list(zip(found.header, names, strict=True))
        groups.setdefault(key, FileGroup(found.dialect, columns, []))
        groups[key].files.append(obj.key)
        if found.description:
            descriptions.update(zip(names, found.description, strict=True))
        fresh[key].append(obj.key)
        files[obj.key] = FileEntry(sha, obj.size, 0, 0, {}, found.bom, found.newline)

    root = lake.uri("").rstrip("/") + "/"
    for key, keys in fresh.items():
        _file_stats(src.name, groups[key], keys, files, lake, root, con)

    ordered = sorted(groups.values(), key=lambda g: max(g.files), reverse=True)
    for i, g in enumerate(ordered):
        g.files.sort()
        for k in g.files:
            files[k].group = i
    columns = _columns(ordered, files, descriptions)
    table = TableDef(
        name=src.name, location=src.lake_prefix, format=ordered[0].dialect.format,
        columns=columns, groups=ordered, files=dict(sorted(files.items())),
    )
    table.schema_hash = _schema_hash(columns)
    changes = _diff(old.columns, columns) if old else []
    read = sum(len(v) for v in fresh.values())
    if old is not None:
        table.version = old.version + (1 if changes else 0)
        table.history, table.crawled_at = list(old.history), old.crawled_at
        if table.to_dict() == old.to_dict():
            return old, read, []
    table.crawled_at = datetime.now(UTC).isoformat(timespec="seconds")
    if old is None or changes:
        table.history.append({"version": table.version, "crawled_at": table.crawled_at,
                              "schema_hash": table.schema_hash, "changes": changes})
    return table, read, changes


def _run(con: duckdb.DuckDBPyConnection, sql: str, table: str, keys: list[str]
         ) -> list[tuple[Any, ...]]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"{table}: cannot read {', '.join(keys[:3])}: "
                          f"{str(exc).splitlines()[0]}",
                          hint="fix or remove the file, then run crawl again") from exc


def _file_stats(table: str, group: FileGroup, keys: list[str], files: dict[str, FileEntry],
                lake: ObjectStore, root: str, con: duckdb.DuckDBPyConnection) -> None:
    """Fill rows and per-column statistics of `keys` (files of one group), two passes."""
    originals = [o for o, _ in group.columns]
    paths = [lake.uri(k) for k in keys]
    nb, nd = len(BASIC_STATS), len(DATE_STATS)
    for row in _run(con, stats_sql(paths, group.dialect, originals), table, keys):
        entry = files[row[0].replace(root, "")]
        entry.rows = row[1]
        entry.stats = {o: [*row[2 + i * nb: 2 + (i + 1) * nb], *[0] * nd]
                       for i, o in enumerate(originals)}
    dated = [i for i, (o, name) in enumerate(group.columns)
             if any(wants_date_pass(name, files[k].stats[o]) for k in keys)]
    if not dated:
        return
    sql = stats_sql(paths, group.dialect, originals, dated, dates=True)
    for row in _run(con, sql, table, keys):
        entry = files[row[0].replace(root, "")]
        for j, i in enumerate(dated):
            entry.stats[originals[i]][nb:] = row[2 + j * nd: 2 + (j + 1) * nd]


def _columns(groups: list[FileGroup], files: dict[str, FileEntry],
             descriptions: dict[str, str]) -> list[ColumnDef]:
    """Columns in the newest group's order, then any others; stats merged over every file."""
    order: list[str] = []
    originals: dict[str, list[str]] = defaultdict(list)
    stats: dict[str, list[list[Any]]] = defaultdict(list)
    for g in groups:
        for orig, name in g.columns:
            if name not in order:
                order.append(name)
            if orig not in originals[name]:
                originals[name].append(orig)
            stats[name] += [files[k].stats[orig] for k in g.files]
    total = sum(f.rows for f in files.values())
    return [column_def(n, originals[n], descriptions.get(n, ""), merge(stats[n]), total)
            for n in order]


def _schema_hash(columns: list[ColumnDef]) -> str:
    doc = json.dumps([(c.name, c.type, c.formats) for c in columns])
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _diff(old: list[ColumnDef], new: list[ColumnDef]) -> list[str]:
    before, after = {c.name: c for c in old}, {c.name: c for c in new}
    changes = [f"+{n} {after[n].type}" for n in after if n not in before]
    changes += [f"-{n}" for n in before if n not in after]
    changes += [f"~{n} {before[n].type}->{after[n].type}" for n in after
                if n in before and before[n].type != after[n].type]
    return changes
