"""Where the transform's SQL runs. The model is written once, in DuckDB's dialect; a runner
executes it on one engine (DuckDB here, Spark in engines/spark.py, which transpiles it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from covidlake.lakesql import ident, lit, value

if TYPE_CHECKING:  # imported where used: the run path needs no PyArrow
    import pyarrow as pa


class SqlRunner(Protocol):
    # The SQL that gives each staged row a `rowid` column in read order, or None where the
    # engine's tables have a `rowid` of their own (DuckDB's, in insertion order). The model
    # numbers a file's rows from it: a window over millions of rows costs seconds.
    row_id: str | None

    def stage(self, sql: str) -> None:
        """Run `CREATE OR REPLACE TABLE stage.<source> AS SELECT ...`, keeping the rows of
        each file in their order."""
        ...

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
    row_id = None

    def __init__(self, con: duckdb.DuckDBPyConnection,
                 views: dict[str, str] | None = None) -> None:
        """`views`: source table -> the CREATE VIEW of src.<table>, created when a statement
        first names it (DuckDBEngine(deferred=True))."""
        self.con = con
        self.views = {f"src.{ident(name)}": ddl for name, ddl in (views or {}).items()}
        for schema in ("stage", "star", "ref", "prev"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def _bind(self, sql: str) -> None:
        for name in [n for n in self.views if n in sql]:
            self.con.execute(self.views.pop(name))

    def stage(self, sql: str) -> None:
        self._bind(sql)
        # The connection may reorder rows (duck.connect), which lets big joins and sorts
        # spill; the staging keeps the order, so that rowid follows each file's rows (on the
        # scale set: +0.5 s, against -2 s for a numbering window).
        (keep,) = self.con.execute("SELECT current_setting('preserve_insertion_order')"
                                   ).fetchone()
        self.con.execute("SET preserve_insertion_order = true")
        try:
            self.con.execute(sql)
        finally:
            self.con.execute(f"SET preserve_insertion_order = {str(bool(keep)).lower()}")

    def execute(self, sql: str) -> None:
        self._bind(sql)
        self.con.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        self._bind(sql)
        return self.con.execute(sql).fetchall()

    def create_table(self, name: str, columns: list[tuple[str, str]],
                     rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(f"{ident(n)} {t}" for n, t in columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")
        # as literals: DuckDB's Python binding tries to import pandas for every parameter
        # value, and a failed import searches sys.path each time (56 rows took 0.2-0.4 s)
        for start in range(0, len(rows), 1000):
            values = ", ".join("(" + ", ".join(map(value, row)) + ")"
                               for row in rows[start:start + 1000])
            self.con.execute(f"INSERT INTO {name} VALUES {values}")

    def load_csv(self, name: str, path: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv({lit(path)}, "
                         "header=true, all_varchar=true)")

    def arrow(self, name: str) -> pa.Table:
        return self.con.execute(f"SELECT * FROM {name}").to_arrow_table()
