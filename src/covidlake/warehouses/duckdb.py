"""A DuckDB file as the warehouse (the default). Loads are one transaction.

Keys are not declared: DuckDB enforces each primary and foreign key with an ART index, and
on the scale set's 4.4M fact rows the foreign keys' indexes made a full load 3x slower (8.9 s
against 2.8 s), the file 2.3x larger, and the commit and checkpoint of one new day 1.6 s
instead of 0.05 s; the fact's primary key index alone made its load 5.6-6.5 s against
1.7-2.1 s, and the file 83 MB against 58 MB (bench/, 2 cores). The load checks every key
itself before it commits, so a warehouse never holds a duplicate or a dangling key; each
table's COMMENT states its grain and primary key, and each foreign key column's what it
references."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from covidlake.duck import quiet
from covidlake.errors import LoadError, QueryError
from covidlake.lakesql import ints, lit
from covidlake.transform.model import FACT
from covidlake.views import VIEWS, render
from covidlake.warehouses import Capabilities, LoadTable, replace_days_sql
from covidlake.warehouses.ddl import create_table, key_comments

if TYPE_CHECKING:  # imported where used: the run path needs no PyArrow
    import pyarrow as pa


def _files(t: LoadTable) -> str:
    return "read_parquet([" + ", ".join(lit(p) for p in t.local_paths) + "])"


CAPABILITIES = Capabilities(dialect="duckdb", replaces_days=True,
                            declares_foreign_keys=False, declares_primary_keys=False)
HISTORY = "load_history"


class DuckDBWarehouse:
    capabilities = CAPABILITIES

    def __init__(self, path: str, read_only: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.url = f"duckdb://{self.path}"
        if read_only and not self.path.exists():
            raise LoadError(f"no warehouse at {self.path}",
                            hint="run `covidlake run` (or `covidlake load`) first")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
            quiet(self.con)
        except duckdb.Error as exc:
            raise LoadError(f"cannot open warehouse {self.path}: {exc}",
                            hint="is another covidlake process using it?") from exc

    def loaded_version(self, schema: str) -> str | None:
        if HISTORY not in self.relations(schema):
            return None
        row = self.con.execute(f"SELECT star_version FROM {schema}.{HISTORY} "
                               "ORDER BY loaded_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def relations(self, schema: str) -> set[str]:
        # as Python values: an Arrow result would import PyArrow into every load (0.03 s)
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [schema]).fetchall()}

    @contextmanager
    def _atomic(self, schema: str, tables: list[LoadTable], version: str,
                run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction that ends with the load's history row; any error rolls it back and
        leaves the previous tables."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            self._record(schema, tables, version, run_id)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, LoadError):
                raise
            raise LoadError(f"load into {self.path} failed, previous tables kept: "
                            f"{str(exc).splitlines()[0]}",
                            hint="fix the cause and run load again") from exc

    def _expect_rows(self, name: str, t: LoadTable, hint: str) -> None:
        got = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        if got != t.rows:
            raise LoadError(f"{name}: {got} rows loaded, manifest says {t.rows}", hint=hint)

    def _expect_none(self, sql: str, what: str) -> None:
        """`sql` gives the count of rows that break a key and the first one's key; a count
        refuses the load, with `what` ({count} and {first} filled in) as the message."""
        count, first = self.con.execute(sql).fetchone()
        if count:
            raise LoadError(what.format(count=count, first=first),
                            hint="the star files do not match; run transform --force, then "
                                 "load --force")

    def _expect_unique(self, schema: str, t: LoadTable, where: str = "") -> None:
        """No two rows of `t` (among those `where` selects) share its primary key. Equal keys
        are neighbours once sorted: on the scale set's 4.4M facts, a window over each day's
        rows sorted by region takes 0.3-0.4 s where grouping by the key takes 1.1-1.5 s."""
        *part, last = t.model.primary_key
        cols = ", ".join(t.model.primary_key)
        over = (f"PARTITION BY {', '.join(part)} " if part else "") + f"ORDER BY {last}"
        self._expect_none(
            f"SELECT count(*), min(concat_ws(', ', {cols})) FROM (SELECT {cols}, "
            f"lag({last}) OVER ({over}) AS before FROM {schema}.{t.name} WHERE TRUE {where}) "
            f"WHERE before = {last}",
            f"{schema}.{t.name}: {{count}} row(s) repeat a primary key ({cols}) "
            "(first {first})")

    def _expect_references(self, schema: str, t: LoadTable, where: str = "") -> None:
        """Every foreign key of `t` (in the rows `where` selects) finds its row."""
        for fk in t.model.foreign_keys:
            col, ref = fk.columns[0], fk.ref_columns[0]
            self._expect_none(
                f"SELECT count(*), min({col}) FROM {schema}.{t.name} x WHERE {col} IS NOT NULL "
                f"{where} AND NOT EXISTS (SELECT 1 FROM {schema}.{fk.table} d "
                f"WHERE d.{ref} = x.{col})",
                f"{schema}.{t.name}: {{count}} row(s) reference no {schema}.{fk.table} row "
                f"(first {col} = {{first}})")

    def load(self, schema: str, tables: list[LoadTable], version: str, run_id: str) -> None:
        existing = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [schema]).fetchall()}
        with self._atomic(schema, tables, version, run_id) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for v in reversed(VIEWS):  # views read the tables (and each other)
                con.execute(f"DROP VIEW IF EXISTS {schema}.{v.name}")
            for t in reversed(tables):  # facts before the dimensions they reference
                if t.name in existing:
                    con.execute(f"DROP TABLE {schema}.{t.name}")
            for t in tables:
                con.execute(create_table(t.export, t.model, self.capabilities, schema))
                con.execute(f"INSERT INTO {schema}.{t.name} SELECT * FROM {_files(t)}")
                self._expect_rows(f"{schema}.{t.name}", t, "run transform again, then load")
                self._expect_unique(schema, t)
                self._expect_references(schema, t)
                for comment in key_comments(t.model, self.capabilities, schema):
                    con.execute(comment)
            for v in VIEWS:
                con.execute(render(v, self.capabilities.dialect))

    def load_days(self, schema: str, tables: list[LoadTable], version: str, run_id: str,
                  date_keys: list[int]) -> None:
        referenced = {fk.table for t in tables for fk in t.model.foreign_keys}
        with self._atomic(schema, tables, version, run_id) as con:
            for t in tables:  # dimensions first: the new fact rows reference their new rows
                name = f"{schema}.{t.name}"
                src = _files(t.months(date_keys))
                for stmt in replace_days_sql(t, name, src, date_keys, referenced):
                    con.execute(stmt)
                # the other days' facts were checked when they were loaded
                where = f"AND date_key IN ({ints(date_keys)})" if t.name == FACT else ""
                self._expect_rows(name, t, "run `covidlake load --force`")
                self._expect_unique(schema, t, where)
                self._expect_references(schema, t, where)

    def _record(self, schema: str, tables: list[LoadTable], version: str, run_id: str) -> None:
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{HISTORY} (run_id VARCHAR, "
                         "star_version VARCHAR, loaded_at TIMESTAMP, tables VARCHAR)")
        self.con.execute(f"INSERT INTO {schema}.{HISTORY} VALUES (?, ?, ?, ?)",
                         [run_id, version, datetime.now(UTC).replace(tzinfo=None),
                          json.dumps({t.name: t.rows for t in tables})])

    def query(self, sql: str, params: list[Any] | None = None, *, native: bool = False
              ) -> pa.Table:
        """SQL in DuckDB's dialect (which is this warehouse's own: `native` changes nothing)."""
        try:
            return self.con.execute(sql, params or []).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(f"query failed on {self.url}: {exc}") from exc

    def close(self) -> None:
        self.con.close()
