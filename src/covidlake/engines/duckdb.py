"""DuckDB over the lake: catalog tables become views reading the raw files in place."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from covidlake import duck
from covidlake.catalog import Catalog
from covidlake.errors import QueryError
from covidlake.lakesql import ident, table_select
from covidlake.store import ObjectStore


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(self, lake: ObjectStore, catalog: Catalog,
                 con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.lake = lake
        self.con = con or duck.connect()
        lake.configure_duckdb(self.con)
        self.con.execute("CREATE SCHEMA IF NOT EXISTS src")
        root = lake.uri("").rstrip("/") + "/"
        for table in catalog.tables():
            self.con.execute(f"CREATE OR REPLACE VIEW {ident(table.name)} AS "
                             + table_select(table, lake.uri, root))
            self.con.execute(f"CREATE OR REPLACE VIEW src.{ident(table.name)} AS "
                             + table_select(table, lake.uri, root, diagnostics=True))

    def query(self, sql: str) -> pa.Table:
        try:
            return self.con.execute(sql).to_arrow_table() if sql.strip() else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.con.execute(sql, params or [])

    def close(self) -> None:
        self.con.close()
