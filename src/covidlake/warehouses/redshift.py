"""Amazon Redshift as the warehouse: `redshift://user@host:5439/db?iam_role=arn:...`.

DDL in Redshift's dialect with distribution and sort keys chosen for the star join (the fact
and dim_region distributed on region_key so their join is co-located; the small dimensions
copied to every node; facts sorted by date), ENCODE AUTO, and VARCHAR sizes from the measured
maxima. Data arrives with `COPY ... FROM 's3://...' IAM_ROLE ...` from the star files the export
wrote to an S3 lake (Parquet by default, `?format=csv` for CSV), inside the staged transaction
of warehouses/sql.py. When a COPY fails, the load error tables say which file, line and
column, and why; that goes into the error.

The password comes from PGPASSWORD (or the URL, never printed).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from covidlake.errors import ConfigError, LoadError
from covidlake.lakesql import lit
from covidlake.warehouses import Capabilities, LoadTable
from covidlake.warehouses.sql import SqlWarehouse

TABLE_OPTIONS = {
    "fact_covid": "DISTSTYLE KEY DISTKEY (region_key) SORTKEY (date_key, region_key) ENCODE AUTO",
    "dim_region": "DISTSTYLE KEY DISTKEY (region_key) SORTKEY (region_key) ENCODE AUTO",
    "dim_date": "DISTSTYLE ALL SORTKEY (date_key) ENCODE AUTO",
    "dim_hospital": "DISTSTYLE ALL SORTKEY (hospital_key) ENCODE AUTO",
    "*": "DISTSTYLE AUTO ENCODE AUTO",
}
CAPABILITIES = Capabilities(dialect="redshift", ddl_dialect="redshift", loads_from="s3",
                            varchar_limit=65535, enforces_foreign_keys=False,
                            table_options=TABLE_OPTIONS, replaces_days=True)
# The newest load error first: Redshift Serverless has SYS_LOAD_ERROR_DETAIL, provisioned
# clusters STL_LOAD_ERRORS; both are tried.
LOAD_ERRORS = (
    "SELECT file_name, line_number, column_name, error_message FROM sys_load_error_detail "
    "ORDER BY start_time DESC LIMIT 1",
    "SELECT filename, line_number, colname, err_reason FROM stl_load_errors "
    "ORDER BY starttime DESC LIMIT 1",
)


def copy_sql(table: LoadTable, target: str, iam_role: str, fmt: str) -> list[str]:
    """The COPY statements for one star table, one per exported file in the S3 lake (the
    facts have one per month; a key prefix would match both formats).

    >>> from covidlake.export import TableExport, ColumnSchema
    >>> from covidlake.transform.model import BY_NAME
    >>> t = LoadTable("d", TableExport("d", 1, [ColumnSchema("date_key", "INTEGER")]),
    ...               BY_NAME["dim_date"], [], {"parquet": ["s3://l/d.parquet"]})
    >>> copy_sql(t, "covid.d__new", "arn:r", "parquet")
    ["COPY covid.d__new FROM 's3://l/d.parquet' IAM_ROLE 'arn:r' FORMAT AS PARQUET"]
    """
    uris = table.uris.get(fmt, [])
    wrong = next((u for u in uris if not u.startswith("s3://")), None)
    if not uris or wrong is not None:
        raise LoadError(f"Redshift loads {table.name} from S3, but the star file is at "
                        f"{wrong or 'no ' + fmt + ' file'}",
                        hint="run the pipeline with --lake s3://bucket/prefix")
    if fmt == "parquet":  # columns by position, as exported
        return [f"COPY {target} FROM {lit(uri)} IAM_ROLE {lit(iam_role)} FORMAT AS PARQUET"
                for uri in uris]
    cols = ", ".join(c.name for c in table.export.columns)
    return [f"COPY {target} ({cols}) FROM {lit(uri)} IAM_ROLE {lit(iam_role)} FORMAT AS CSV "
            "IGNOREHEADER 1 DATEFORMAT 'YYYY-MM-DD' EMPTYASNULL" for uri in uris]


class RedshiftWarehouse(SqlWarehouse):
    capabilities = CAPABILITIES

    def __init__(self, url: str, connect: Any = None) -> None:
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.iam_role = query.get("iam_role") or os.environ.get("COVIDLAKE_REDSHIFT_IAM_ROLE", "")
        self.format = query.get("format", "parquet")
        if self.format not in ("parquet", "csv"):
            raise ConfigError(f"Redshift COPY format {self.format!r}", hint="parquet or csv")
        if not self.iam_role:
            raise ConfigError("Redshift COPY needs an IAM role that can read the lake",
                              hint="add ?iam_role=arn:aws:iam::ACCOUNT:role/NAME to the URL or "
                                   "set COVIDLAKE_REDSHIFT_IAM_ROLE")
        self._parsed = parsed
        super().__init__(url, connect)

    def _connect(self) -> Any:
        import redshift_connector  # the driver, needed only for this backend

        p = self._parsed
        return redshift_connector.connect(
            host=p.hostname, port=p.port or 5439, database=p.path.lstrip("/") or "dev",
            user=unquote(p.username or ""),
            password=unquote(p.password) if p.password else os.environ.get("PGPASSWORD", ""),
            timeout=30)

    def _bulk_load(self, cur: Any, table: LoadTable, target: str) -> None:
        for sql in copy_sql(table, target, self.iam_role, self.format):
            cur.execute(sql)

    def _failure_detail(self) -> str:
        cur = self.con.cursor()
        for sql in LOAD_ERRORS:
            try:
                cur.execute(sql)
                row = cur.fetchone()
            except Exception:  # noqa: BLE001 - the other table, or no access to it
                self.con.rollback()
                continue
            self.con.rollback()
            if row:
                file, line, column, reason = (str(v).strip() for v in row)
                return f"file {file}, line {line}, column {column}: {reason}"
        return ""

    def _analyze(self, schema: str, tables: list[LoadTable]) -> list[str]:
        return [f"ANALYZE {schema}.{t.name}" for t in tables]
