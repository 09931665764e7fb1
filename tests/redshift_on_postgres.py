"""A DB-API connection that lets covidlake's Redshift backend run its load against PostgreSQL
(redshift-connector cannot talk to PostgreSQL, and no Redshift exists here):

- Redshift-only table attributes (DISTSTYLE, DISTKEY, SORTKEY, ENCODE) are dropped;
- `COPY t FROM 's3://...' IAM_ROLE ... FORMAT AS PARQUET|CSV` streams the object from the
  S3 lake into `COPY t FROM STDIN`, and a failure is recorded the way Redshift records it;
- `SELECT ... FROM sys_load_error_detail` answers with that record.
Everything else goes to PostgreSQL unchanged.
"""

from __future__ import annotations

import io
import re
from typing import Any

import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from covidlake.store import open_store

REDSHIFT_ONLY = re.compile(r"\s+(DISTSTYLE \w+|DISTKEY \([^)]*\)|SORTKEY \([^)]*\)|ENCODE AUTO)")
COPY = re.compile(r"COPY (?P<target>\S+)(?: \((?P<cols>[^)]*)\))? FROM '(?P<uri>s3://[^']+)' "
                  r"IAM_ROLE '[^']+' FORMAT AS (?P<fmt>PARQUET|CSV)(?P<rest>.*)$", re.S)
CONTEXT = re.compile(r"line (?P<line>\d+)(?:, column (?P<col>\w+))?")


class RedshiftOnPostgres:
    def __init__(self, pg_url: str) -> None:
        self.pg = psycopg.connect(pg_url)
        self.load_errors: list[tuple[str, int, str, str]] = []
        self.copies: list[str] = []  # every COPY statement, as Redshift would have run it

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def commit(self) -> None:
        self.pg.commit()

    def rollback(self) -> None:
        self.pg.rollback()

    def close(self) -> None:
        self.pg.close()


class _Cursor:
    def __init__(self, conn: RedshiftOnPostgres) -> None:
        self.conn, self.cur = conn, conn.pg.cursor()
        self._rows: list[tuple[Any, ...]] | None = None
        self.description: Any = None

    def execute(self, sql: str, params: Any = None) -> None:
        self._rows = None
        copy = COPY.match(sql)
        if copy:
            self.conn.copies.append(sql)
            return self._copy(copy)
        if "sys_load_error_detail" in sql:
            self._rows = self.conn.load_errors[-1:]
            self.description = [("file_name",), ("line_number",), ("column_name",),
                                ("error_message",)]
            return None
        if "stl_load_errors" in sql:
            raise psycopg.errors.UndefinedTable("stl_load_errors: not on this cluster")
        self.cur.execute(REDSHIFT_ONLY.sub("", sql), params)
        self.description = self.cur.description
        return None

    def _copy(self, m: re.Match[str]) -> None:
        uri = m["uri"]
        bucket, key = uri[len("s3://"):].split("/", 1)
        data = open_store(f"s3://{bucket}").get(key)
        header = ""
        if m["fmt"] == "PARQUET":
            buf = io.BytesIO()
            pacsv.write_csv(pq.read_table(io.BytesIO(data)), buf,
                            write_options=pacsv.WriteOptions(include_header=False))
            data = buf.getvalue()
        elif "IGNOREHEADER 1" in m["rest"]:
            header = ", HEADER true"
        cols = f" ({m['cols']})" if m["cols"] else ""
        try:
            with self.cur.copy(f"COPY {m['target']}{cols} FROM STDIN (FORMAT csv{header})") as cp:
                cp.write(data)
        except psycopg.Error as exc:
            found = CONTEXT.search(exc.diag.context or "")
            line = int(found["line"]) if found else 0
            column = (found["col"] if found and found["col"] else "") or "?"
            self.conn.load_errors.append((uri, line, column, exc.diag.message_primary or ""))
            raise

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._rows is not None:
            return self._rows[0] if self._rows else None
        return self.cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._rows is not None:
            return list(self._rows)
        return self.cur.fetchall()
