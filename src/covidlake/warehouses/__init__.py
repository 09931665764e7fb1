"""Warehouses: where the star schema is loaded for analysts.

A backend states what differs as data (`Capabilities`); load.py turns the star manifest into
DDL with those capabilities and hands the backend a plan to apply atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

from covidlake.errors import ConfigError


@dataclass(frozen=True)
class Capabilities:
    dialect: str  # sqlglot dialect of the warehouse's SQL
    ddl_dialect: str | None = None  # render DDL with sqlglot for this dialect; None = generic
    types: dict[str, str] = field(default_factory=dict)  # DuckDB type -> warehouse type
    varchar_limit: int = 65535  # VARCHAR(n) above this becomes the unbounded text type
    enforces_foreign_keys: bool = True
    transactional_ddl: bool = True


@dataclass
class LoadTable:
    name: str  # unqualified
    ddl: str  # CREATE TABLE ...
    source_uri: str  # where the Parquet file is, as the backend reads it
    local_path: str | None  # a local copy, when the lake is a folder
    rows: int


class Warehouse(Protocol):
    capabilities: Capabilities
    url: str  # redacted

    def loaded_version(self, schema: str) -> str | None:
        """The star version of the last successful load, or None."""
        ...

    def load(self, schema: str, tables: list[LoadTable], version: str, run_id: str) -> None:
        """Replace the schema's tables with `tables`, all or nothing."""
        ...

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table: ...

    def close(self) -> None: ...


def open_warehouse(url: str) -> Warehouse:
    """`./covidlake.duckdb` or `duckdb:///path/to/file.duckdb`."""
    scheme = urlparse(url).scheme if "://" in url else "duckdb"
    if scheme == "duckdb":
        from covidlake.warehouses.duckdb import DuckDBWarehouse

        path = url.split("://", 1)[1] if "://" in url else url
        return DuckDBWarehouse(path[1:] if path.startswith("//") else path)
    raise ConfigError(f"no warehouse for {scheme}:// URLs", hint="supported: duckdb:// or a path")
