"""load: generate DDL from the star manifest and load the warehouse atomically.

DDL is written once (DuckDB's dialect) from the exported schema (real types, VARCHAR(n) from
the measured lengths, primary and foreign keys) and rendered for the warehouse by sqlglot.
A failed load leaves the previous tables; loading the same star version again is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot

from covidlake import log
from covidlake.errors import LoadError
from covidlake.export import StarManifest, TableExport
from covidlake.store import ObjectStore
from covidlake.transform.model import BY_NAME, SCHEMA, StarTable
from covidlake.warehouses import Capabilities, LoadTable, Warehouse


@dataclass
class LoadResult:
    version: str
    loaded: bool  # False when the warehouse already had this version
    rows: dict[str, int]


def ddl(table: TableExport, model: StarTable, caps: Capabilities, schema: str = SCHEMA) -> str:
    """CREATE TABLE for one star table, in the warehouse's dialect.

    >>> from covidlake.export import ColumnSchema
    >>> t = TableExport("dim_x", 1, [ColumnSchema("x_key", "INTEGER"),
    ...                              ColumnSchema("name", "VARCHAR", 12)])
    >>> ddl(t, StarTable("dim_x", "", ("x_key",)), Capabilities("postgres", "postgres"))
    'CREATE TABLE covid.dim_x (x_key INT NOT NULL, name VARCHAR(12), PRIMARY KEY (x_key))'
    """
    parts = []
    for c in table.columns:
        type_ = caps.types.get(c.type, c.type)
        if c.type == "VARCHAR":
            n = max(1, c.max_length)
            type_ = f"VARCHAR({n})" if n <= caps.varchar_limit else caps.types.get("TEXT", "TEXT")
        not_null = " NOT NULL" if c.name in model.primary_key else ""
        parts.append(f"{c.name} {type_}{not_null}")
    parts.append(f"PRIMARY KEY ({', '.join(model.primary_key)})")
    for fk in model.foreign_keys:
        parts.append(f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES "
                     f"{schema}.{fk.table} ({', '.join(fk.ref_columns)})")
    sql = f"CREATE TABLE {schema}.{table.name} ({', '.join(parts)})"
    if caps.ddl_dialect is None:  # the warehouse takes the generic form as it is
        return sql
    return sqlglot.transpile(sql, write=caps.ddl_dialect)[0]


def plan(manifest: StarManifest, lake: ObjectStore, caps: Capabilities) -> list[LoadTable]:
    tables = sorted(manifest.tables, key=lambda t: BY_NAME[t.name].load_order)
    out = []
    for t in tables:
        key = next(k for k in t.files if k.endswith(".parquet"))
        local = lake.local_path(key)
        out.append(LoadTable(t.name, ddl(t, BY_NAME[t.name], caps), lake.uri(key),
                             str(local) if local else None, t.rows))
    return out


def load(lake: ObjectStore, warehouse: Warehouse, run_id: str, *, force: bool = False
         ) -> LoadResult:
    manifest = StarManifest.read(lake)
    if manifest is None:
        raise LoadError(f"no star schema in {lake.url} (star/_manifest.json is missing)",
                        hint="run `covidlake transform` first")
    rows = {t.name: t.rows for t in manifest.tables}
    if not force and warehouse.loaded_version(SCHEMA) == manifest.version:
        log.info(f"load: {warehouse.url} already has star version {manifest.version}")
        return LoadResult(manifest.version, False, rows)
    tables = plan(manifest, lake, warehouse.capabilities)
    warehouse.load(SCHEMA, tables, manifest.version, run_id)
    log.info(f"load: {sum(rows.values()):,} rows in {len(tables)} tables into {warehouse.url}")
    return LoadResult(manifest.version, True, rows)
