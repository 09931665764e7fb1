"""Warehouses: where the star schema is loaded for analysts.

A backend states what differs as data (`Capabilities`); load.py turns the star manifest into
DDL with those capabilities and hands the backend a plan to apply atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from covidlake.errors import ConfigError
from covidlake.export import TableExport, month_suffix
from covidlake.lakesql import ints
from covidlake.transform.model import StarTable

if TYPE_CHECKING:  # imported where used: the run path needs no PyArrow
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    dialect: str  # sqlglot dialect of the warehouse's SQL
    ddl_dialect: str | None = None  # render DDL with sqlglot for this dialect; None = generic
    types: dict[str, str] = field(default_factory=dict)  # DuckDB type -> warehouse type
    varchar_limit: int = 65535  # VARCHAR(n) above this becomes the unbounded text type
    enforces_foreign_keys: bool = True
    # False: the DDL leaves foreign keys out and the loader checks them in its transaction
    # (DuckDB enforces each with an index on the referencing columns: see duckdb.py)
    declares_foreign_keys: bool = True
    # False: likewise for the primary key, which the loader checks for duplicates (DuckDB
    # builds an index for it: see duckdb.py)
    declares_primary_keys: bool = True
    loads_from: str = "local"  # local: the star files on this machine; s3: the lake's URIs
    table_options: dict[str, str] = field(default_factory=dict)  # table (or "*") -> DDL tail
    replaces_days: bool = False  # can apply a star delta (new fact days) in place


@dataclass
class LoadTable:
    name: str  # unqualified
    export: TableExport  # the exported schema, rows and files
    model: StarTable  # grain and keys
    local_paths: list[str]  # local copies of the Parquet files (loads_from = local)
    uris: dict[str, list[str]]  # format (parquet, csv) -> the lake's URIs of its files

    @property
    def rows(self) -> int:
        return self.export.rows

    def months(self, date_keys: list[int]) -> LoadTable:
        """This table with only the files of the months of `date_keys` when it is written one
        file per month (the facts); any other table as it is."""
        tags = {month_suffix(k // 100) + "." for k in date_keys}

        def keep(path: str) -> bool:
            return any(t in path.rsplit("/", 1)[-1] for t in tags)

        if not self.model.partition_by_month or not any(
                keep(p) for uris in self.uris.values() for p in uris):
            return self  # unpartitioned, or files from before the month layout
        return LoadTable(self.name, self.export, self.model,
                         [p for p in self.local_paths if keep(p)],
                         {f: [u for u in uris if keep(u)] for f, uris in self.uris.items()})


def replace_days_sql(t: LoadTable, name: str, source: str, date_keys: list[int],
                     referenced: set[str]) -> list[str]:
    """The statements that bring table `name` (holding a star delta's base) to the rows of
    `source` (a table, or a table function over its files): the fact rows of `date_keys` are
    replaced; a dimension other tables reference is updated and added to (its rows are never
    removed: region keys held); any other table is replaced whole."""
    day = t.model.partition_by_month  # the facts' date key
    if day:
        return [f"DELETE FROM {name} WHERE {day} IN ({ints(date_keys)})",
                f"INSERT INTO {name} SELECT * FROM {source} WHERE {day} IN ({ints(date_keys)})"]
    if t.name in referenced:
        match = " AND ".join(f"{name}.{k} = n.{k}" for k in t.model.primary_key)
        sets = ", ".join(f"{c.name} = n.{c.name}" for c in t.export.columns
                         if c.name not in t.model.primary_key)
        return [f"UPDATE {name} SET {sets} FROM {source} n WHERE {match}",
                f"INSERT INTO {name} SELECT n.* FROM {source} n WHERE NOT EXISTS "
                f"(SELECT 1 FROM {name} WHERE {match})"]
    return [f"DELETE FROM {name}", f"INSERT INTO {name} SELECT * FROM {source}"]


class Warehouse(Protocol):
    capabilities: Capabilities
    url: str  # redacted

    def loaded_version(self, schema: str) -> str | None:
        """The star version of the last successful load, or None."""
        ...

    def relations(self, schema: str) -> set[str]:
        """The names of the schema's tables and views."""
        ...

    def load(self, schema: str, tables: list[LoadTable], version: str, run_id: str) -> None:
        """Replace the schema's tables with `tables`, all or nothing."""
        ...

    def load_days(self, schema: str, tables: list[LoadTable], version: str, run_id: str,
                  date_keys: list[int]) -> None:
        """(capabilities.replaces_days) Bring a warehouse holding the delta's base version to
        `version` in one transaction: replace the fact rows of `date_keys`, update and add
        dimension rows; a LoadError (rolled back) if the result does not count right."""
        ...

    def query(self, sql: str, params: list[Any] | None = None, *, native: bool = False
              ) -> pa.Table:
        """Rows as Arrow. `sql` is in DuckDB's dialect and rendered for the warehouse, unless
        `native` says it is written in the warehouse's own already (the shell's case)."""
        ...

    def close(self) -> None: ...


def open_warehouse(url: str, *, read_only: bool = False) -> Warehouse:
    """`./covidlake.duckdb` or `duckdb:///path/file.duckdb`; `postgresql://user@host:port/db`;
    `redshift://user@host:5439/db?iam_role=arn:...`. Passwords come from PGPASSWORD or
    ~/.pgpass (libpq's conventions); one typed into the URL works but is never printed.
    `read_only`: for readers (report, query, shell); a DuckDB file then admits other readers,
    and PostgreSQL and Redshift roll back every query's transaction anyway."""
    scheme = urlparse(url).scheme if "://" in url else "duckdb"
    if scheme == "duckdb":
        from covidlake.warehouses.duckdb import DuckDBWarehouse

        path = url.split("://", 1)[1] if "://" in url else url
        return DuckDBWarehouse(path[1:] if path.startswith("//") else path, read_only)
    if scheme in ("postgresql", "postgres"):
        from covidlake.warehouses.postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    if scheme == "redshift":
        from covidlake.warehouses.redshift import RedshiftWarehouse

        return RedshiftWarehouse(url)
    raise ConfigError(f"no warehouse for {scheme}:// URLs",
                      hint="duckdb:// (or a path), postgresql:// or redshift://")
