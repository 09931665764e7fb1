"""crawl: infer each table's schema from the raw zone and register it in the catalog.

Like a Glue crawler, but it finds the header of an all-text CSV, keeps codes as text, unions
files with different headers by column name (the four JHU eras), reports files that do not
fit instead of merging them blindly, types a column by its majority and counts the values
that do not fit, turns Hive-style `key=value/` folders into partition columns, versions each
table's schema, and reads only new or changed files again.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from covidlake import duck, log
from covidlake.catalog import Catalog, ColumnDef, FileEntry, FileGroup, TableDef
from covidlake.crawl.classify import classify
from covidlake.crawl.infer import (
    BASIC_STATS,
    DATE_STATS,
    column_def,
    dominant_formats,
    long_stats,
    merge,
    snake,
    stats_sql,
    unique_names,
    values_stats,
    wants_date_pass,
    wide_rows,
)
from covidlake.errors import CatalogError, SchemaError, SourceError
from covidlake.ingest import read_manifest
from covidlake.lakesql import lit
from covidlake.sources import SOURCES, SourceTable
from covidlake.store import ObjectStore

POLICIES = ("warn", "evolve", "fail")
WIDENING = {("BIGINT", "DOUBLE"), ("DATE", "TIMESTAMP")}
MIN_OVERLAP = 0.5  # a file group shares at least half its columns with the table, or is out


@dataclass
class CrawlResult:
    tables: list[str] = field(default_factory=list)
    files_read: int = 0
    files_reused: int = 0
    changes: dict[str, list[str]] = field(default_factory=dict)
    excluded: dict[str, dict[str, str]] = field(default_factory=dict)
    catalog_version: int = 0


def crawl(lake: ObjectStore, catalog: Catalog, tables: tuple[SourceTable, ...] = SOURCES,
          con: duckdb.DuckDBPyConnection | None = None, *, on_schema_change: str = "warn",
          overrides: dict[str, Any] | None = None) -> CrawlResult:
    """Crawl `tables`; on a schema change `warn` (accept, say so), `evolve` (accept added
    columns and widened types, refuse the rest) or `fail` (refuse any change). A refused
    change raises SchemaError and leaves the catalog as it was."""
    if on_schema_change not in POLICIES:
        raise CatalogError(f"unknown --on-schema-change {on_schema_change!r}",
                           hint=f"one of {', '.join(POLICIES)}")
    if con is None:
        con = duck.connect()
        lake.configure_duckdb(con)
    manifest = read_manifest(lake)
    result = CrawlResult()
    for name in set(overrides or {}) - {t.name for t in tables}:
        log.warn(f"schema overrides: no table {name!r} to apply them to")
    # A table's files are classified (Python) while the statistics of the tables before it
    # run (DuckDB, on a thread of its own, releasing the GIL); the table with the most files
    # goes last, its classification overlapping everybody else's statistics: on the full
    # mirror the JHU files' 0.5 s of header sniffing is then hidden
    listed = {src.name: list(lake.list(src.lake_prefix)) for src in tables}
    order = sorted(tables, key=lambda src: len(listed[src.name]))
    # the sniffing's own queries (JSON keys, partition values) run on a cursor of their own
    with closing(con.cursor()) as main:
        crawlers: dict[str, _TableCrawl] = {}
        with ThreadPoolExecutor(1) as statistics:
            pending = {}
            for src in log.track(order, "crawl", total=len(order)):
                crawler = _TableCrawl(src, lake, catalog.get(src.name), manifest, main,
                                      (overrides or {}).get(src.name, {}))
                crawler.place(listed[src.name])
                crawlers[src.name] = crawler
                pending[src.name] = statistics.submit(crawler.gather, con)
            for future in pending.values():
                future.result()  # the first error, if any (the others were waited for)
        staged = []
        for src in tables:
            table, read, changes = crawlers[src.name].decide()
            _apply_policy(table.name, changes, on_schema_change)
            staged.append(table)
            result.tables.append(table.name)
            result.files_read += read
            result.files_reused += len(table.files) - read
            if changes:
                result.changes[table.name] = changes
            if table.excluded:
                result.excluded[table.name] = table.excluded
    for table in staged:  # nothing is written unless every table passed its policy
        catalog.put(table)
        if table.name in result.changes:
            log.warn(f"schema of {table.name} changed (v{table.version}): "
                     + "; ".join(result.changes[table.name]))
        for key, why in table.excluded.items():
            log.warn(f"{table.name}: {key} left out: {why}")
    catalog.commit()
    result.catalog_version = catalog.version
    log.info(f"crawl: {len(result.tables)} tables, {result.files_read} files read, "
             f"{result.files_reused} unchanged; catalog v{catalog.version}")
    return result


def read_overrides(path: str) -> dict[str, Any]:
    """The optional hints file: `[us_county.columns.fips]` then `type = "VARCHAR"` (and
    `formats = ["%Y%m%d"]` for dates). Nothing in the crawler needs it; it only overrides."""
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"schema overrides {path}: {exc}",
                           hint='write e.g. [us_county.columns.fips] type = "VARCHAR"') from exc
    for table, spec in doc.items():
        cols = spec.get("columns") if isinstance(spec, dict) else None
        if not isinstance(cols, dict) or any("type" not in c for c in cols.values()):
            raise CatalogError(f"schema overrides {path}: [{table}] needs "
                               "[<table>.columns.<column>] tables with a type",
                               hint='e.g. [us_county.columns.fips] type = "VARCHAR"')
    return doc


def _apply_policy(table: str, changes: list[str], policy: str) -> None:
    if not changes or policy == "warn":
        return
    breaking = [c for c in changes if c.startswith("-") or (
        c.startswith("~") and tuple(c.split(" ", 1)[1].split("->")) not in WIDENING)]
    refused = changes if policy == "fail" else breaking
    if refused:
        raise SchemaError(
            f"schema of {table} changed: {'; '.join(refused)} (--on-schema-change {policy})",
            hint="check the source; to accept the change run crawl with "
                 "--on-schema-change warn" + ("" if policy == "fail" else " (it is breaking)"))


def _group_key(dialect: Any, header: list[str]) -> str:
    return json.dumps([asdict(dialect), header])


class _TableCrawl:
    """One table's crawl: classify new files, group them, gather statistics, decide types."""

    def __init__(self, src: SourceTable, lake: ObjectStore, old: TableDef | None,
                 manifest: dict[str, Any], con: duckdb.DuckDBPyConnection,
                 overrides: dict[str, Any]) -> None:
        self.src, self.lake, self.old, self.manifest, self.con = src, lake, old, manifest, con
        self.overrides = overrides.get("columns", {})
        if old is not None and old.overrides != self.overrides:
            self.old = old = TableDef.from_dict(old.to_dict() | {"files": {}})  # re-read all
        self.files: dict[str, FileEntry] = {}
        self.groups: dict[str, FileGroup] = {}
        self.descriptions: dict[str, str] = {}
        self.fresh: dict[str, list[str]] = defaultdict(list)  # group key -> files to read
        self.excluded: dict[str, str] = {}
        self.partition_keys: list[str] | None = None
        self.seen: dict[str, str] = {}  # sha256 + partition -> the first key with those bytes
        # an old group's index -> its group key and its columns' descriptions
        self.reused: dict[int, tuple[str, dict[str, str]]] = {}

    def place(self, objects: list[Any]) -> None:
        """Classify the new files of the table (`objects`: its keys in the lake) into groups."""
        src = self.src
        if not objects:
            raise CatalogError(f"no objects under {self.lake.uri(src.lake_prefix)} for table "
                               f"{src.name}", hint="run `covidlake ingest` first")
        for obj in objects:
            self._add(obj.key, obj.size)
        if not self.groups:
            raise CatalogError(f"{src.name}: no file under {src.lake_prefix} can be read",
                               hint="; ".join(f"{k}: {v}" for k, v in self.excluded.items()))

    def gather(self, con: duckdb.DuckDBPyConnection) -> None:
        """The statistics of the new files, on `con`."""
        root = self.lake.uri("").rstrip("/") + "/"
        for key, keys in self.fresh.items():
            _file_stats(self.src.name, self.groups[key], keys, self.files, self.lake, root, con,
                        set(self.overrides))

    def decide(self) -> tuple[TableDef, int, list[str]]:
        """The table from its groups and statistics: (table, files read, schema changes)."""
        src = self.src
        ordered = self._compatible_groups()
        for i, g in enumerate(ordered):
            g.files.sort()
            for k in g.files:
                self.files[k].group = i
        kept = {k for g in ordered for k in g.files}
        files = {k: f for k, f in sorted(self.files.items()) if k in kept}
        columns = _columns(ordered, files, self.descriptions, self.overrides)
        columns += self._partition_columns(files)
        table = TableDef(name=src.name, location=src.lake_prefix,
                         format=ordered[0].dialect.format, columns=columns, groups=ordered,
                         files=files, partition_keys=self.partition_keys or [],
                         excluded=dict(sorted(self.excluded.items())),
                         overrides=self.overrides)
        table.schema_hash = _schema_hash(columns)
        old = self.old
        changes = _diff(old.columns, columns) if old else []
        read = sum(len(v) for v in self.fresh.values())
        if old is not None:
            table.version = old.version + (1 if changes else 0)
            table.history, table.crawled_at = list(old.history), old.crawled_at
            if table == old:
                return old, read, []
        table.crawled_at = datetime.now(UTC).isoformat(timespec="seconds")
        if old is None or changes:
            table.history.append({"version": table.version, "crawled_at": table.crawled_at,
                                  "schema_hash": table.schema_hash, "changes": changes})
        return table, read, changes

    def _add(self, key: str, size: int) -> None:
        """Place one object: reuse what the last crawl knew if unchanged, else classify it."""
        rel = key[len(self.src.lake_prefix):]
        pairs = [seg.split("=", 1) for seg in rel.split("/")[:-1] if "=" in seg]
        keys = [k for k, _ in pairs]
        if self.partition_keys is None:
            self.partition_keys = keys
        elif keys != self.partition_keys:
            self.excluded[key] = (f"partition keys {keys} differ from the table's "
                                  f"{self.partition_keys}")
            return
        entry = self.manifest.get(key)
        data = None
        if entry is None or entry.bytes != size:
            data = self.lake.get(key)
            sha = hashlib.sha256(data).hexdigest()
        else:
            sha = entry.sha256
        # a copy under another name would count its rows twice (in another partition the
        # same bytes are other rows)
        same = sha + json.dumps(pairs)
        if same in self.seen:
            self.excluded[key] = f"the same bytes as {self.seen[same]}"
            return
        self.seen[same] = key
        if size == 0 or (data is not None and not data.strip()):
            self.excluded[key] = "empty file (no header, no rows)"
            return
        old = self.old
        prev = old.files.get(key) if old else None
        if old and prev and prev.sha256 == sha:
            if prev.group not in self.reused:  # once per old group (scale: 1,152 files, 4)
                group = old.groups[prev.group]
                gkey = _group_key(group.dialect, [o for o, _ in group.columns])
                self.groups.setdefault(gkey, FileGroup(group.dialect, group.columns, [],
                                                       group.declared))
                self.reused[prev.group] = gkey, {
                    name: col.description for _, name in group.columns
                    if (col := old.column(name)) and col.description}
            gkey, descriptions = self.reused[prev.group]
            self.groups[gkey].files.append(key)
            self.files[key] = prev
            self.descriptions.update(descriptions)
            return
        found = classify(key, data if data is not None else self.lake.get(key))
        header = found.header
        if found.dialect.format in ("jsonl", "json"):
            header = _json_columns(self.con, self.lake.uri(key), found.dialect, header)
        names = unique_names(header)
        gkey = _group_key(found.dialect, header)
        columns = list(zip(header, names, strict=True))
        self.groups.setdefault(gkey, FileGroup(found.dialect, columns, [], found.declared))
        self.groups[gkey].files.append(key)
        if found.description:
            self.descriptions.update(zip(names, found.description, strict=True))
        self.fresh[gkey].append(key)
        self.files[key] = FileEntry(sha, size, 0, 0, {}, found.bom, found.newline, dict(pairs))

    def _compatible_groups(self) -> list[FileGroup]:
        """The groups that make one table: the largest first, then each group sharing at least
        half of its columns with those already in. The rest are reported, not merged."""
        by_size = sorted(self.groups.values(),
                         key=lambda g: (sum(self.files[k].rows for k in g.files), max(g.files)),
                         reverse=True)
        kept: list[FileGroup] = []
        names: set[str] = set()
        for g in by_size:
            mine = {n for _, n in g.columns}
            if kept and len(mine & names) < MIN_OVERLAP * len(mine):
                for k in g.files:
                    self.excluded[k] = (f"its columns ({', '.join(o for o, _ in g.columns)}) "
                                        f"share too little with the table's")
                continue
            kept.append(g)
            names |= mine
        return sorted(kept, key=lambda g: max(g.files), reverse=True)

    def _partition_columns(self, files: dict[str, FileEntry]) -> list[ColumnDef]:
        out = []
        for key in self.partition_keys or []:
            values = [f.partition[key] for f in files.values()]
            stats = values_stats(self.con, values)
            col = column_def(snake(key), [key], "", merge([stats]), len(values),
                             override=self.overrides.get(snake(key)))
            col.partition, col.null_count = True, 0
            out.append(col)
        return out


def _json_columns(con: duckdb.DuckDBPyConnection, uri: str, dialect: Any,
                  head_keys: list[str]) -> list[str]:
    """Every top-level key of a JSON file (all records, not just the first ones)."""
    fmt = "newline_delimited" if dialect.format == "jsonl" else "array"
    compression = lit(dialect.compression or "uncompressed")
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM read_json({lit(uri)}, format={lit(fmt)}, "
                           f"compression={compression}, sample_size=-1, maximum_depth=1)"
                           ).fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"{uri}: not readable as JSON ({str(exc).splitlines()[0]})",
                          hint="fix or remove the file, then run crawl again") from exc
    keys = [r[0] for r in rows]
    return [k for k in head_keys if k in keys] + [k for k in keys if k not in head_keys]


def _run(con: duckdb.DuckDBPyConnection, sql: str, table: str, keys: list[str]
         ) -> list[tuple[Any, ...]]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"{table}: cannot read {', '.join(keys[:3])}: "
                          f"{str(exc).splitlines()[0]}",
                          hint="fix or remove the file, then run crawl again") from exc


def _file_stats(table: str, group: FileGroup, keys: list[str], files: dict[str, FileEntry],
                lake: ObjectStore, root: str, con: duckdb.DuckDBPyConnection,
                hinted: set[str]) -> None:
    """Fill rows and per-column statistics of `keys` (files of one group), two passes."""
    originals = [o for o, _ in group.columns]
    paths = [lake.uri(k) for k in keys]
    nb, nd = len(BASIC_STATS), len(DATE_STATS)
    csv = group.dialect.format == "csv"
    long = long_stats(len(originals), sum(files[k].bytes for k in keys))
    sql = stats_sql(paths, group.dialect, originals, rejects=REJECTS if csv else None,
                    long=long)
    rows = _run(con, sql, table, keys)
    for row in wide_rows(rows) if long else rows:
        entry = files[row[0].replace(root, "")]
        entry.rows = row[1]
        entry.stats = {o: [*row[2 + i * nb: 2 + (i + 1) * nb], *[0] * nd]
                       for i, o in enumerate(originals)}
    if csv:
        _malformed(con, files, root)
    for k in keys:  # an empty file yields no row
        if not files[k].stats:
            files[k].stats = {o: [0] * 6 + [0, None, None, None, None] + [0] * nd
                              for o in originals}
    dated = [i for i, (o, name) in enumerate(group.columns)
             if o not in group.declared and (name in hinted or any(
                 wants_date_pass(name, files[k].stats[o]) for k in keys))]
    if not dated:
        return
    sql = stats_sql(paths, group.dialect, originals, dated, dates=True)
    for row in _run(con, sql, table, keys):  # a file and column; 0 where no row (all NULL)
        entry = files[row[0].replace(root, "")]
        entry.stats[originals[row[1]]][nb:] = [x or 0 for x in row[2:2 + nd]]


REJECTS = "covidlake_rejects"
KEEP_MALFORMED = 1000  # lines kept per file, for the rejects area; all are counted


def _malformed(con: duckdb.DuckDBPyConnection, files: dict[str, FileEntry], root: str) -> None:
    """Record the lines DuckDB skipped: a wrong number of fields, an unclosed quote."""
    rows = con.execute(
        f"SELECT s.file_path, e.line, e.error_type, e.csv_line FROM {REJECTS}_errors e "
        f"JOIN {REJECTS}_scans s ON e.scan_id = s.scan_id AND e.file_id = s.file_id "
        "ORDER BY s.file_path, e.line").fetchall()
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}_errors; DROP TABLE IF EXISTS {REJECTS}_scans")
    for path, line, error, text in rows:
        entry = files[path.replace(root, "")]
        reason = str(error).lower()
        entry.malformed += 1
        entry.malformed_errors[reason] = entry.malformed_errors.get(reason, 0) + 1
        if len(entry.malformed_lines) < KEEP_MALFORMED:
            entry.malformed_lines.append([int(line), reason, text])


def _columns(groups: list[FileGroup], files: dict[str, FileEntry],
             descriptions: dict[str, str], overrides: dict[str, Any]) -> list[ColumnDef]:
    """Columns in the newest group's order, then any others; stats merged over every file."""
    order: list[str] = []
    originals: dict[str, list[str]] = defaultdict(list)
    stats: dict[str, list[list[Any]]] = defaultdict(list)
    declared: dict[str, set[str | None]] = defaultdict(set)
    for g in groups:
        for orig, name in g.columns:
            if name not in order:
                order.append(name)
            if orig not in originals[name]:
                originals[name].append(orig)
            stats[name] += [files[k].stats[orig] for k in g.files]
            declared[name].add(g.declared.get(orig))
    total = sum(f.rows for f in files.values())
    out = []
    for n in order:
        types = declared[n]
        one = next(iter(types)) if len(types) == 1 else None
        try:
            out.append(column_def(n, originals[n], descriptions.get(n, ""), merge(stats[n]),
                                  total, declared=one, override=overrides.get(n),
                                  accepted=dominant_formats(stats[n])))
        except ValueError as exc:
            raise CatalogError(f"schema overrides: {exc}",
                               hint="types: VARCHAR, BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP"
                               ) from exc
    return out


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
