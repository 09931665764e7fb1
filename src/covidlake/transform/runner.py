"""Where the transform's SQL runs. The model is written once, in DuckDB's dialect; a runner
executes it on one engine (DuckDB here, Spark in engines/spark.py, which transpiles it)."""

from __future__ import annotations

from typing import Any, Protocol

import duckdb
import pyarrow as pa

from covidlake.lakesql import ident, lit


class SqlRunner(Protocol):
    def execute(self, sql: str) -> None:
        """Run one or more statements (DuckDB's dialect). `CREATE OR REPLACE TABLE schema.t AS
        SELECT ...` is the only DDL the model uses."""
        ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def create_table(self, name: str, columns: list[tuple[str, str]],
                     rows: list[tuple[Any, ...]]) -> None:
        """A small table from Python values (columns as (name, DuckDB type))."""
        ...

    def load_csv(self, name: str, path: str) -> None:
        """A reference CSV (header, all text) as table `name`."""
        ...

    def arrow(self, name: str) -> pa.Table: ...


class DuckDBRunner:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        for schema in ("stage", "star", "ref", "prev"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def create_table(self, name: str, columns: list[tuple[str, str]],
                     rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(f"{ident(n)} {t}" for n, t in columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)

    def load_csv(self, name: str, path: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv({lit(path)}, "
                         "header=true, all_varchar=true)")

    def arrow(self, name: str) -> pa.Table:
        return self.con.execute(f"SELECT * FROM {name}").to_arrow_table()
