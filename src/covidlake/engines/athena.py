"""Amazon Athena as a query engine (`--engine athena`): SQL written once in DuckDB's dialect,
transpiled by sqlglot to Athena's Trino dialect, run through boto3 in a workgroup with an
output location and a bytes-scanned limit.

Kept thin on purpose: this machine has no Athena, so the call path is tested against a stub
(moto) and the transpilation of every shipped query is tested against DuckDB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from covidlake.catalog import Catalog
from covidlake.catalog.glue import athena_readiness
from covidlake.errors import ConfigError, QueryError

# Athena's result types -> Arrow (everything comes back as text)
ARROW_TYPES = {"bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(),
               "tinyint": pa.int8(), "double": pa.float64(), "float": pa.float32(),
               "real": pa.float32(), "boolean": pa.bool_(), "date": pa.date32(),
               "timestamp": pa.timestamp("ms")}


def to_athena(sql: str) -> str:
    """DuckDB SQL in Athena's dialect; a construct Athena lacks is an error, not a guess.

    >>> to_athena("SELECT state, sum(cases) FROM us_county GROUP BY 1 LIMIT 3")
    'SELECT state, SUM(cases) FROM us_county GROUP BY 1 LIMIT 3'
    """
    try:
        return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="athena",
                                            unsupported_level=ErrorLevel.RAISE))
    except SqlglotError as exc:
        raise QueryError(f"cannot translate the query for Athena: {exc}",
                         hint="rewrite it in portable SQL, or use --engine duckdb") from exc


@dataclass(frozen=True)
class AthenaSettings:
    database: str
    workgroup: str
    output_location: str  # s3://bucket/prefix/
    bytes_limit: int  # stop a query that scans more than this


class AthenaEngine:
    dialect = "athena"

    def __init__(self, catalog: Catalog, settings: AthenaSettings, client: Any = None,
                 poll_seconds: float = 0.5, timeout_seconds: float = 600) -> None:
        if not settings.output_location.startswith("s3://"):
            raise ConfigError("Athena needs an S3 output location (COVIDLAKE_ATHENA_OUTPUT "
                              "or --athena-output s3://bucket/prefix/)")
        self.catalog, self.settings = catalog, settings
        if client is None:
            import boto3  # the AWS SDK is needed only for this backend

            client = boto3.client("athena")
        self.athena = client
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds

    def _check_tables(self, sql: str) -> None:
        for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table):
            t = self.catalog.get(table.name)
            if t is None:
                continue
            ready, why = athena_readiness(t)
            if not ready:
                raise QueryError(f"Athena cannot read table {t.name} as registered: {why}",
                                 hint="query it with --engine duckdb, which unions the "
                                      "files by column name")

    def query(self, sql: str) -> pa.Table:
        self._check_tables(sql)
        text = to_athena(sql)
        s = self.settings
        qid = self.athena.start_query_execution(
            QueryString=text, QueryExecutionContext={"Database": s.database},
            WorkGroup=s.workgroup, ResultConfiguration={"OutputLocation": s.output_location},
        )["QueryExecutionId"]
        self._wait(qid)
        return self._results(qid)

    def _wait(self, qid: str) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            ex = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            state = ex["Status"]["State"]
            scanned = ex.get("Statistics", {}).get("DataScannedInBytes", 0)
            if scanned > self.settings.bytes_limit:
                self.athena.stop_query_execution(QueryExecutionId=qid)
                raise QueryError(f"Athena query {qid} stopped: it scanned {scanned:,} bytes, "
                                 f"over the limit of {self.settings.bytes_limit:,}",
                                 hint="narrow the query or raise COVIDLAKE_ATHENA_BYTES_LIMIT")
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "CANCELLED"):
                reason = ex["Status"].get("StateChangeReason", "no reason given")
                raise QueryError(f"Athena query {qid} {state.lower()}: {reason}")
            if time.monotonic() > deadline:
                self.athena.stop_query_execution(QueryExecutionId=qid)
                raise QueryError(f"Athena query {qid} did not finish in "
                                 f"{self.timeout_seconds:.0f}s; stopped")
            time.sleep(self.poll_seconds)

    def _results(self, qid: str) -> pa.Table:
        columns: list[dict[str, Any]] = []
        rows: list[list[str | None]] = []
        for page in self.athena.get_paginator("get_query_results").paginate(
                QueryExecutionId=qid):
            if not columns:
                columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
                data = page["ResultSet"]["Rows"][1:]  # the first row repeats the header
            else:
                data = page["ResultSet"]["Rows"]
            rows += [[d.get("VarCharValue") for d in r["Data"]] for r in data]
        arrays = {}
        for i, col in enumerate(columns):
            text = pa.array([r[i] for r in rows], pa.string())
            target = ARROW_TYPES.get(col["Type"].lower())
            arrays[col["Name"]] = text.cast(target) if target is not None else text
        return pa.table(arrays)

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.query(sql)

    def close(self) -> None:
        pass
