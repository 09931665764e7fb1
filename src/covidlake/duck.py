"""In-process DuckDB connections for the crawl and the transform, with bounded memory.

DuckDB's default memory limit is 80% of the machine's RAM; a crawl of 4 million rows then
grows to 12 GB. Bounded, DuckDB spills joins, sorts and aggregates to a temporary folder
instead, so memory stays flat as the data grows. `COVIDLAKE_DUCKDB_MEMORY` (e.g. `4GB`)
and `COVIDLAKE_DUCKDB_THREADS` change the defaults.
"""

from __future__ import annotations

import os
import tempfile

import duckdb

from covidlake.errors import ConfigError

DEFAULT_MEMORY = "1GB"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory database that spills to a temporary folder beyond its memory limit."""
    con = duckdb.connect()
    quiet(con)
    con.execute(f"SET memory_limit = '{_setting('MEMORY', DEFAULT_MEMORY)}'")
    # results are ordered where order matters (ORDER BY): the rest may stream, which lets
    # DuckDB spill instead of running out of memory on tens of millions of rows
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/covidlake-duckdb-spill'")
    threads = _setting("THREADS", "")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def quiet(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar: DuckDB draws one on stdout for queries over 2 s, into the data a
    command prints (CSV, JSON) and into the output of a child process."""
    con.execute("SET enable_progress_bar = false")


def _setting(name: str, default: str) -> str:
    value = os.environ.get(f"COVIDLAKE_DUCKDB_{name}", default).strip()
    if value and not value.replace(".", "").replace(" ", "").isalnum():
        raise ConfigError(f"COVIDLAKE_DUCKDB_{name}={value!r} is not a size or a number",
                          hint="e.g. COVIDLAKE_DUCKDB_MEMORY=2GB, COVIDLAKE_DUCKDB_THREADS=2")
    return value
