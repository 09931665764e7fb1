"""What PostgreSQL and Redshift share: a DB-API connection, SQL rendered from DuckDB's dialect,
and the staged, atomic loads (all tables, or a star delta's new days).

A load runs in one transaction: create `<table>__new` for every star table, bulk load each
(the backend's own way: COPY FROM STDIN, COPY FROM S3), check the row counts, drop the old
tables, rename the new ones into place, index and record the load; then commit. Any failure
rolls everything back: readers keep seeing the previous tables throughout.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import sqlglot

from covidlake.errors import LoadError, QueryError
from covidlake.settings import redact
from covidlake.views import VIEWS, render
from covidlake.warehouses import Capabilities, LoadTable, replace_days_sql
from covidlake.warehouses.ddl import create_table

HISTORY = "load_history"


class SqlWarehouse:
    capabilities: Capabilities
    connect_attempts = 3

    def __init__(self, url: str, connect: Callable[[], Any] | None = None) -> None:
        self.url = redact(url)
        self._connect_fn = connect
        self.con = self._connect_with_retries()

    # -- backend hooks ----------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _retryable(self, exc: Exception) -> bool:
        """Network trouble is worth another try; wrong credentials are not."""
        text = str(exc).lower()
        return any(s in text for s in ("connection refused", "could not connect", "timeout",
                                       "timed out", "server closed the connection"))

    def _bulk_load(self, cur: Any, table: LoadTable, target: str) -> None:
        raise NotImplementedError

    def _failure_detail(self) -> str:
        """More about a failed load, read after the rollback (Redshift's load errors)."""
        return ""

    def _after_swap(self, schema: str, tables: list[LoadTable], tag: str) -> list[str]:
        return []

    def _analyze(self, schema: str, tables: list[LoadTable]) -> list[str]:
        return []

    # -- connection -------------------------------------------------------------------------
    def _connect_with_retries(self) -> Any:
        delay = 0.5
        for attempt in range(1, self.connect_attempts + 1):
            try:
                return self._connect_fn() if self._connect_fn else self._connect()
            except Exception as exc:  # the driver's own error classes
                if attempt == self.connect_attempts or not self._retryable(exc):
                    raise LoadError(f"cannot connect to {self.url}: "
                                    f"{redact(str(exc)).strip().splitlines()[0]}",
                                    hint="check the host, port, database and user; the "
                                         "password comes from PGPASSWORD or ~/.pgpass") from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection
            self.con.close()

    # -- queries ----------------------------------------------------------------------------
    def render(self, sql: str) -> str:
        """SQL written in DuckDB's dialect, in this warehouse's."""
        return sqlglot.transpile(sql, read="duckdb", write=self.capabilities.dialect)[0]

    def query(self, sql: str, params: list[Any] | None = None, *, native: bool = False
              ) -> pa.Table:
        """SQL in DuckDB's dialect, rendered for this warehouse; `native`: already in its own."""
        cur = self.con.cursor()
        try:
            cur.execute(sql if native else self.render(sql), params or None)
            if cur.description is None:  # a statement without rows (the shell's SET, ...)
                self.con.rollback()
                return pa.table({})
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            self.con.rollback()  # read-only; end the implicit transaction
        except Exception as exc:
            self.con.rollback()
            raise QueryError(f"query failed on {self.url}: {exc}") from exc
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def loaded_version(self, schema: str) -> str | None:
        if HISTORY not in self.relations(schema):
            return None
        last = self.query(f"SELECT star_version FROM {schema}.{HISTORY} "
                          "ORDER BY loaded_at DESC LIMIT 1")
        return last.column(0)[0].as_py() if last.num_rows else None

    def relations(self, schema: str) -> set[str]:
        return set(self.query("SELECT table_name FROM information_schema.tables "
                              f"WHERE table_schema = '{schema}'").column(0).to_pylist())

    # -- the load ---------------------------------------------------------------------------
    def _record(self, cur: Any, schema: str, tables: list[LoadTable], version: str,
                run_id: str) -> None:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{HISTORY} (run_id VARCHAR(64), "
                    "star_version VARCHAR(64), loaded_at TIMESTAMP, tables VARCHAR(4096))")
        cur.execute(f"INSERT INTO {schema}.{HISTORY} VALUES (%s, %s, %s, %s)",
                    (run_id, version, datetime.now(UTC).replace(tzinfo=None),
                     json.dumps({t.name: t.rows for t in tables})))

    def _count(self, cur: Any, name: str) -> int:
        cur.execute(f"SELECT count(*) FROM {name}")
        return int(cur.fetchone()[0])

    def _rolled_back(self, exc: Exception, what: str) -> LoadError:
        """Roll back after `exc` and say what failed, with the backend's own detail."""
        with contextlib.suppress(Exception):  # the connection itself may be gone
            self.con.rollback()
        try:
            detail = self._failure_detail()
        except Exception:  # noqa: BLE001 - no more detail to be had
            detail = ""
        return LoadError(f"{what}, previous tables kept: "
                         f"{redact(str(exc)).strip().splitlines()[0]}"
                         + (f"; {detail}" if detail else ""),
                         hint="fix the cause and run load again")

    def load(self, schema: str, tables: list[LoadTable], version: str, run_id: str) -> None:
        tag = secrets.token_hex(3)
        cur = self.con.cursor()
        step = "starting"
        try:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for t in reversed(tables):  # leftovers of a load that died before its rollback
                cur.execute(f"DROP TABLE IF EXISTS {schema}.{t.name}__new")
            for t in tables:
                step = f"loading {t.name}"
                cur.execute(create_table(t.export, t.model, self.capabilities, schema,
                                         suffix="__new", tag=tag))
                self._bulk_load(cur, t, f"{schema}.{t.name}__new")
                got = self._count(cur, f"{schema}.{t.name}__new")
                if got != t.rows:
                    raise LoadError(f"{schema}.{t.name}: loaded {got:,} rows, the star has "
                                    f"{t.rows:,}", hint="run transform again, then load")
            step = "swapping the new tables in"
            for v in reversed(VIEWS):  # they depend on the old tables; made again below
                cur.execute(f"DROP VIEW IF EXISTS {schema}.{v.name}")
            for t in reversed(tables):
                cur.execute(f"DROP TABLE IF EXISTS {schema}.{t.name}")
            for t in tables:
                cur.execute(f"ALTER TABLE {schema}.{t.name}__new RENAME TO {t.name}")
            for stmt in self._after_swap(schema, tables, tag):
                cur.execute(stmt)
            step = "creating the analyst views"
            for v in VIEWS:
                cur.execute(render(v, self.capabilities.dialect))
            self._record(cur, schema, tables, version, run_id)
            step = "committing"
            self.con.commit()
        except Exception as exc:
            raise self._rolled_back(exc, f"load into {self.url} failed while {step}") from exc
        for stmt in self._analyze(schema, tables):
            cur.execute(stmt)
        self.con.commit()

    def load_days(self, schema: str, tables: list[LoadTable], version: str, run_id: str,
                  date_keys: list[int]) -> None:
        """Replace the fact rows of `date_keys` (from the files of their months), update and
        add dimension rows, replace the other tables; one transaction, checked by counts."""
        referenced = {fk.table for t in tables for fk in t.model.foreign_keys}
        cur = self.con.cursor()
        step = "starting"
        try:
            for t in tables:  # dimensions first: the new fact rows reference their new rows
                step = f"loading {t.name}"
                name, incoming = f"{schema}.{t.name}", f"{schema}.{t.name}__days"
                cur.execute(f"DROP TABLE IF EXISTS {incoming}")
                cur.execute(f"CREATE TABLE {incoming} (LIKE {name})")
                self._bulk_load(cur, t.months(date_keys), incoming)
                for stmt in replace_days_sql(t, name, incoming, date_keys, referenced):
                    cur.execute(stmt)
                cur.execute(f"DROP TABLE {incoming}")
                got = self._count(cur, name)
                if got != t.rows:
                    raise LoadError(f"{name}: {got:,} rows after replacing the new days, the "
                                    f"star has {t.rows:,}", hint="run `covidlake load --force`")
            self._record(cur, schema, tables, version, run_id)
            step = "committing"
            self.con.commit()
        except Exception as exc:
            error = self._rolled_back(exc, f"replacing days in {self.url} failed while {step}")
            if isinstance(exc, LoadError):  # a count that did not add up: say it as it is
                raise
            raise error from exc
