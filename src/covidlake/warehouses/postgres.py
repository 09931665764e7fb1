"""PostgreSQL as the warehouse: DDL in PostgreSQL's dialect, bulk load with COPY FROM STDIN
(psycopg 3), the staged swap of warehouses/sql.py, indexes on the foreign keys, ANALYZE."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from covidlake.warehouses import Capabilities, LoadTable
from covidlake.warehouses.sql import SqlWarehouse

CAPABILITIES = Capabilities(dialect="postgres", ddl_dialect="postgres", loads_from="local",
                            replaces_days=True)
BATCH_ROWS = 64_000


def csv_chunks(path: str) -> Any:
    """A Parquet file as CSV text without a header, in batches: NULL is an empty field, an
    empty string is a quoted "" (COPY's CSV conventions)."""
    options = pacsv.WriteOptions(include_header=False)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        buf = io.BytesIO()
        pacsv.write_csv(pa.Table.from_batches([batch]), buf, write_options=options)
        yield buf.getvalue()


class PostgresWarehouse(SqlWarehouse):
    capabilities = CAPABILITIES

    def __init__(self, url: str, connect: Any = None) -> None:
        self._dsn = url.replace("postgres://", "postgresql://", 1)
        super().__init__(url, connect)

    def _connect(self) -> Any:
        import psycopg  # the driver, needed only for this backend

        return psycopg.connect(self._dsn, connect_timeout=10, application_name="covidlake")

    def _bulk_load(self, cur: Any, table: LoadTable, target: str) -> None:
        cols = ", ".join(c.name for c in table.export.columns)
        with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            for path in table.local_paths:
                for chunk in csv_chunks(path):
                    copy.write(chunk)

    def _after_swap(self, schema: str, tables: list[LoadTable], tag: str) -> list[str]:
        """Index every foreign key column that does not lead the primary key."""
        out = []
        for t in tables:
            for fk in t.model.foreign_keys:
                if list(fk.columns) != list(t.model.primary_key[: len(fk.columns)]):
                    cols = ", ".join(fk.columns)
                    out.append(f"CREATE INDEX {t.name}_{'_'.join(fk.columns)}_{tag} "
                               f"ON {schema}.{t.name} ({cols})")
        return out

    def _analyze(self, schema: str, tables: list[LoadTable]) -> list[str]:
        return [f"ANALYZE {schema}.{t.name}" for t in tables]
