"""query: SQL over the lake's tables by name (DuckDB locally), printed as a table, CSV or JSON."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

from covidlake.catalog import open_catalog
from covidlake.engines import open_engine
from covidlake.settings import Settings
from covidlake.store import open_store


def run_query(settings: Settings, sql: str) -> pa.Table:
    lake = open_store(settings.lake)
    engine = open_engine(settings.engine, lake, open_catalog(settings.catalog, lake), settings)
    try:
        return engine.query(sql)
    finally:
        engine.close()


def print_result(result: pa.Table, fmt: str, out: Console) -> None:
    """`table` for people; `csv` (with a header row) and `json` (an array) for programs."""
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(result, buf)
        out.file.write(buf.getvalue().decode())
    elif fmt == "json":
        out.file.write(json.dumps(result.to_pylist(), default=str, ensure_ascii=False) + "\n")
    else:
        table = Table(show_edge=False)
        for name in result.column_names:
            table.add_column(name)
        for row in result.to_pylist():
            table.add_row(*["NULL" if v is None else str(v) for v in row.values()])
        out.print(table)
        out.print(f"({result.num_rows} rows)", style="dim")
