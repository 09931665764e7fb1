"""Query engines: SQL over the lake's tables by catalog name.

An engine exposes every catalog table as a relation of the same name, and internal relations
`src.<table>` that add `_file` (the object's lake key) and `_bad_columns` for the transform.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from covidlake.catalog import Catalog
from covidlake.errors import ConfigError
from covidlake.store import ObjectStore

if TYPE_CHECKING:  # imported where used: the run path needs no PyArrow
    import pyarrow as pa


class Engine(Protocol):
    dialect: str  # sqlglot dialect name

    def query(self, sql: str) -> pa.Table:
        """Run a user's SQL; raises QueryError with the engine's message."""
        ...

    def execute(self, sql: str, params: list[Any] | None = None) -> None: ...

    def close(self) -> None: ...


def open_engine(kind: str, lake: ObjectStore, catalog: Catalog, settings: Any = None
                ) -> Engine:
    """`duckdb` (default): views over the lake's files. `athena`: Amazon Athena over the
    tables the Glue catalog backend registered."""
    if kind == "duckdb":
        from covidlake.engines.duckdb import DuckDBEngine

        return DuckDBEngine(lake, catalog)
    if kind == "athena":
        from covidlake.engines.athena import AthenaEngine, AthenaSettings

        return AthenaEngine(catalog, AthenaSettings(
            settings.athena_database, settings.athena_workgroup, settings.athena_output,
            settings.athena_bytes_limit))
    raise ConfigError(f"unknown engine {kind!r}", hint="duckdb or athena")
