"""PySpark as the transform engine (`--engine spark`): the same model SQL, transpiled.

The star-schema logic is written once, in DuckDB's dialect (transform/sql, quality.py); here
sqlglot renders each statement for Spark, with the few rewrites Spark needs (schema-qualified
names become temp views `schema__table`; REGEXP_FULL_MATCH becomes an anchored RLIKE; a
strptime with a list of formats becomes COALESCE over TRY_TO_TIMESTAMP with Java patterns;
strip_accents is a small UDF). `CREATE OR REPLACE TABLE ... AS` becomes a checkpointed temp
view, `CREATE OR REPLACE VIEW` a plain one.

Sources are read the way the catalog describes them, from local copies of the raw objects
(Spark cannot reach S3 on this machine; on a cluster it would read s3:// directly): header
lines and BOMs are dropped and gzip is undone while staging, then Spark's CSV/JSON/Parquet
readers deliver text columns c0..cN that the catalog's typing SQL turns into columns.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from covidlake import log
from covidlake.catalog import Catalog, Dialect, FileGroup, TableDef
from covidlake.errors import CovidlakeError
from covidlake.lakesql import group_select, ident
from covidlake.store import ObjectStore

SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "DOUBLE": "double",
               "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp"}


def java_pattern(fmt: str) -> str:
    """A strptime format as a Java/Spark datetime pattern; one-letter month/day/hour fields
    accept 1 or 2 digits like strptime, unless fields touch (YYYYMMDD).

    >>> java_pattern("%m/%d/%y %H:%M"), java_pattern("%Y%m%d"), java_pattern("%Y-%m-%dT%H:%M:%SZ")
    ('M/d/yy H:mm', 'yyyyMMdd', "yyyy-M-d'T'H:mm:ss'Z'")
    """
    adjacent = bool(re.search(r"%[a-zA-Z]%[a-zA-Z]", fmt))
    codes = {"%Y": "yyyy", "%y": "yy", "%m": "MM" if adjacent else "M",
             "%d": "dd" if adjacent else "d", "%H": "HH" if adjacent else "H", "%M": "mm",
             "%S": "ss", "%f": "SSSSSS"}
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and fmt[i:i + 2] in codes:
            out.append(codes[fmt[i:i + 2]])
            i += 2
        elif fmt[i].isalpha():
            out.append(f"'{fmt[i]}'")
            i += 1
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def view_name(db: str, name: str) -> str:
    """Spark's temp views have no schema: `stage.obs` is the view `stage__obs`."""
    return f"{db}__{name}" if db else name


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.args.get("db") is not None:
        alias = node.args.get("alias")
        table = exp.to_table(view_name(node.db, node.name))
        if alias is not None:
            table.set("alias", alias)
        return table
    if isinstance(node, exp.RegexpFullMatch) and isinstance(node.expression, exp.Literal):
        return exp.RegexpLike(this=node.this,
                              expression=exp.Literal.string(f"^(?:{node.expression.name})$"))
    if isinstance(node, exp.Anonymous) and node.name.upper() == "TRY_STRPTIME":
        value, fmts = node.expressions
        items = fmts.expressions if isinstance(fmts, exp.Array) else [fmts]
        tries = [exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[
            value.copy(), exp.Literal.string(java_pattern(f.name))]) for f in items]
        return exp.Coalesce(this=tries[0], expressions=tries[1:]) if len(tries) > 1 else tries[0]
    return node


def to_spark(statement: exp.Expression) -> str:
    return statement.transform(_rewrite).sql(dialect="spark")


def _strip_accents(text: str | None) -> str | None:
    if text is None:
        return None
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def session(app: str = "covidlake") -> Any:
    """A local Spark bound to 127.0.0.1, with UTC timestamps and few shuffle partitions."""
    # Python workers must be this interpreter, which has covidlake (the UDF lives here)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise CovidlakeError("the Spark engine needs PySpark",
                             hint="pip install 'covidlake[spark]' (and Java 17)") from exc
    master = os.environ.get("COVIDLAKE_SPARK_MASTER", "local[*]")  # local[2], a cluster URL
    spark = (SparkSession.builder.master(master).appName(app)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "4g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.udf.register("strip_accents", _strip_accents)
    return spark


class SparkRunner:
    """The SqlRunner protocol on a Spark session."""

    # ids that grow with each partition's rows: a file read in one partition is numbered in
    # order (a larger file split in several is numbered in order, with gaps)
    row_id = "monotonically_increasing_id()"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def stage(self, sql: str) -> None:
        self.execute(sql)

    def _view(self, name: str) -> str:
        db, _, table = name.replace('"', "").rpartition(".")
        return view_name(db, table)

    def execute(self, sql: str) -> None:
        for statement in sqlglot.parse(sql, read="duckdb"):
            if statement is None:
                continue
            if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW"):
                target = statement.this
                name = target.this if isinstance(target, exp.Schema) else target
                view = view_name(name.db, name.name)
                df = self.spark.sql(to_spark(statement.expression))
                if statement.kind == "TABLE":  # a view stays a plan, as in DuckDB
                    df = df.localCheckpoint(eager=True)
                df.createOrReplaceTempView(view)
            else:
                self.spark.sql(to_spark(statement))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        statement = sqlglot.parse_one(sql, read="duckdb")
        return [tuple(r) for r in self.spark.sql(to_spark(statement)).collect()]

    def create_table(self, name: str, columns: list[tuple[str, str]],
                     rows: list[tuple[Any, ...]]) -> None:
        schema = ", ".join(f"{n} {SPARK_TYPES[t]}" for n, t in columns)
        self.spark.createDataFrame(rows, schema).createOrReplaceTempView(self._view(name))

    def load_csv(self, name: str, path: str) -> None:
        df = self.spark.read.options(header=True, multiLine=True, escape='"').csv(path)
        df.localCheckpoint(eager=True).createOrReplaceTempView(self._view(name))

    def arrow(self, name: str) -> pa.Table:
        return self.spark.table(self._view(name)).toArrow()


class SparkEngine:
    """Stages the lake's raw objects for Spark and exposes every table as src__<table>.

    On a local Spark the staged copies go to a temporary folder; on a cluster (the Glue job)
    they go to the lake under `_staging/spark/`, where every executor can read them.
    """

    def __init__(self, lake: ObjectStore, catalog: Catalog, spark: Any = None, *,
                 checked: dict[str, Collection[str]] | None = None) -> None:
        """`checked`: table -> the columns whose parse failures src__<table>'s
        `_bad_columns` reports (default: all), as in DuckDBEngine."""
        self.spark = spark or session()
        self.runner = SparkRunner(self.spark)
        self._tmp = None
        staging, staging_prefix = lake, "_staging/spark/"
        if self.spark.sparkContext.master.startswith("local"):
            from covidlake.store import open_store

            self._tmp = Path(tempfile.mkdtemp(prefix="covidlake-spark-"))
            staging, staging_prefix = open_store(str(self._tmp)), ""
        self.staging, self.prefix = staging, staging_prefix
        root = staging.uri(staging_prefix + "x")[:-1]
        self.root = root if "://" in root else f"file://{root}"
        for table in catalog.tables():
            self._register(lake, table, (checked or {}).get(table.name))

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _stage(self, lake: ObjectStore, key: str, dialect: Dialect) -> str:
        data = lake.get(key)
        if dialect.compression == "gzip":
            data = gzip.decompress(data)
        if dialect.format == "csv":
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            for _ in range(dialect.header_lines):
                data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
        self.staging.put(self.prefix + key, data)
        return self.staging.uri(self.prefix + key)

    def _read(self, group: FileGroup, paths: list[str]) -> Any:
        from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention

        d, names = group.dialect, [o for o, _ in group.columns]
        reader = self.spark.read
        if d.format == "parquet":
            df = reader.parquet(*paths)
            cols = [F.col(f"`{n}`").cast("string").alias(f"c{i}") for i, n in enumerate(names)]
            cols += [F.col(f"`{n}`").alias(f"n{i}") for i, n in enumerate(names)]
        elif d.format in ("jsonl", "json"):
            schema = ", ".join(f"`{n}` string" for n in names)
            df = reader.schema(schema).json(paths, multiLine=d.format == "json")
            cols = [F.col(f"`{n}`").alias(f"c{i}") for i, n in enumerate(names)]
        else:
            schema = ", ".join(f"c{i} string" for i in range(len(names)))
            df = reader.schema(schema).csv(
                paths, sep=d.delimiter, quote=d.quote, escape=d.escape, header=False,
                multiLine=True, ignoreLeadingWhiteSpace=True, ignoreTrailingWhiteSpace=False,
                encoding="ISO-8859-1" if d.encoding == "latin-1" else "UTF-8",
                # Spark has no quoted/unquoted distinction: a quoted NA is NULL there too
                **({"nullValue": d.null} if d.null else {}))
            cols = [F.col(f"c{i}") for i in range(len(names))]
        return df.select(*cols, F.input_file_name().alias("filename"))

    def _register(self, lake: ObjectStore, table: TableDef,
                  checked: Collection[str] | None = None) -> None:
        parts = []
        for i, group in enumerate(table.groups):
            paths = [self._stage(lake, k, group.dialect) for k in group.files]
            raw = f"raw__{table.name}__{i}"
            self._read(group, paths).createOrReplaceTempView(raw)
            sql = group_select(group, paths, table, self.root, source=raw, checked=checked)
            parts.append(self.spark.sql(to_spark(sqlglot.parse_one(sql, read="duckdb"))))
        df = parts[0]
        for part in parts[1:]:
            df = df.unionByName(part, allowMissingColumns=True)
        casts = [f"CAST({ident(c.name)} AS {SPARK_TYPES[c.type]}) AS {ident(c.name)}"
                 for c in table.columns]
        view = f"typed__{table.name}"
        df.createOrReplaceTempView(view)
        typed = self.spark.sql(
            to_spark(sqlglot.parse_one(f"SELECT {', '.join(casts)}, _file, _bad_columns "
                                       f"FROM {view}", read="duckdb")))
        typed.localCheckpoint(eager=True).createOrReplaceTempView(f"src__{table.name}")
        log.info(f"spark: staged {table.name} ({len(table.files)} files)")
