"""query: SQL over the lake's tables by name (DuckDB locally, Athena on AWS) or over the
warehouse (its star tables and analyst views), written as a table, CSV, JSON or a Parquet file.

On the lake, SQL is DuckDB's (or Athena's, transpiled). On the warehouse it is the warehouse's
own dialect, sent as typed, and read-only: a DuckDB file is opened read-only and PostgreSQL
and Redshift roll each statement's transaction back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from covidlake.catalog import open_catalog, require
from covidlake.engines import open_engine
from covidlake.errors import ConfigError, CovidlakeError
from covidlake.settings import Settings
from covidlake.store import open_store
from covidlake.store.local import write_atomically
from covidlake.transform.model import SCHEMA

FORMATS = ("table", "csv", "json", "parquet")


class Session(Protocol):
    """Where SQL runs: the lake (catalog tables) or the warehouse (schema covid)."""

    where: str  # for prompts and messages, e.g. "lake ./lake"

    def query(self, sql: str) -> pa.Table: ...

    def tables(self) -> pa.Table:
        """name, kind and rows of what can be queried."""
        ...

    def columns(self, name: str) -> pa.Table: ...

    def close(self) -> None: ...


class LakeSession:
    def __init__(self, settings: Settings) -> None:
        lake = open_store(settings.lake)
        self.catalog = open_catalog(settings.catalog, lake)
        self.engine = open_engine(settings.engine, lake, self.catalog, settings)
        self.where = f"lake {lake.url}"

    def query(self, sql: str) -> pa.Table:
        return self.engine.query(sql)

    def tables(self) -> pa.Table:
        ts = self.catalog.tables()
        return pa.table({"name": [t.name for t in ts], "kind": ["table"] * len(ts),
                         "rows": [t.rows for t in ts], "files": [len(t.files) for t in ts]})

    def columns(self, name: str) -> pa.Table:
        t = require(self.catalog, name)
        return pa.table({"column": [c.name for c in t.columns],
                         "type": [c.type for c in t.columns],
                         "original": [", ".join(c.original_names) for c in t.columns]})

    def close(self) -> None:
        self.engine.close()


class WarehouseSession:
    def __init__(self, settings: Settings) -> None:
        from covidlake.warehouses import open_warehouse

        self.warehouse = open_warehouse(settings.warehouse, read_only=True)
        self.where = f"warehouse {self.warehouse.url}"

    def query(self, sql: str) -> pa.Table:
        return self.warehouse.query(sql, native=True)

    def tables(self) -> pa.Table:
        return self.warehouse.query(
            "SELECT table_schema || '.' || table_name AS name, CASE table_type WHEN 'VIEW' "
            "THEN 'view' ELSE 'table' END AS kind FROM information_schema.tables "
            f"WHERE table_schema = '{SCHEMA}' ORDER BY table_type, table_name")

    def columns(self, name: str) -> pa.Table:
        table = name.rsplit(".", 1)[-1].replace("'", "''")
        out = self.warehouse.query(
            "SELECT column_name AS column, data_type AS type FROM information_schema.columns "
            f"WHERE table_schema = '{SCHEMA}' AND table_name = '{table}' "
            "ORDER BY ordinal_position")
        if not out.num_rows:
            raise CovidlakeError(f"no table or view {name!r} in schema {SCHEMA}",
                                 hint="`.tables` lists them")
        return out

    def close(self) -> None:
        self.warehouse.close()


def open_session(settings: Settings, on: str = "lake") -> Session:
    if on == "lake":
        return LakeSession(settings)
    if on == "warehouse":
        return WarehouseSession(settings)
    raise ConfigError(f"cannot query {on!r}", hint="lake or warehouse")


def run_query(settings: Settings, sql: str, on: str = "lake") -> pa.Table:
    session = open_session(settings, on)
    try:
        return session.query(sql)
    finally:
        session.close()


def write_result(result: pa.Table, fmt: str, out: Console, output: Path | None = None) -> None:
    """`table` for people; `csv` (with a header row), `json` (an array of objects) and
    `parquet` (typed; needs `output`) for programs. With `output`, the file is replaced
    whole (written beside it, then renamed) and nothing goes to stdout."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}", hint=", ".join(FORMATS))
    if fmt == "parquet" and output is None:
        raise ConfigError("Parquet is a binary file format: say where with --output FILE")
    if output is None:
        if fmt == "table":
            _print_table(result, out)
        else:
            out.file.write(_text(result, fmt))
        return
    def write(tmp: Path) -> None:
        if fmt == "parquet":
            pq.write_table(result, tmp)
        elif fmt == "table":
            buf = Console(file=io.StringIO(), width=200, highlight=False)
            _print_table(result, buf)
            tmp.write_text(buf.file.getvalue(), encoding="utf-8")
        else:
            tmp.write_text(_text(result, fmt), encoding="utf-8")

    try:
        write_atomically(output, write)
    except OSError as exc:
        raise CovidlakeError(f"cannot write {output}: {exc.strerror}",
                             hint="choose a writable path with --output") from exc


def _text(result: pa.Table, fmt: str) -> str:
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(result, buf)
        return buf.getvalue().decode()
    return json.dumps(result.to_pylist(), default=str, ensure_ascii=False) + "\n"


def rich_table(data: pa.Table, cell: Callable[[Any], str], title: str | None = None) -> Table:
    """Arrow rows as a Rich table, numbers right-aligned; `cell` renders each value."""
    table = Table(title=title, title_justify="left", title_style="bold", show_edge=bool(title))
    for name in data.column_names:
        t = data.schema.field(name).type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        table.add_column(name, justify="right" if numeric else "left")
    for row in data.to_pylist():
        table.add_row(*[cell(v) for v in row.values()])
    return table


def _print_table(result: pa.Table, out: Console) -> None:
    out.print(rich_table(result, lambda v: "NULL" if v is None else str(v)))
    out.print(f"({result.num_rows:,} row{'' if result.num_rows == 1 else 's'})", style="dim")
