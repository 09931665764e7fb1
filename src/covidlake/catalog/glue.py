"""The AWS Glue Data Catalog as a catalog backend (`--catalog glue://DATABASE`).

The lake keeps its embedded catalog as the source of truth (dialects, file groups, per-file
statistics: what a re-crawl and the DuckDB engine need); every commit also publishes each
table to Glue, as a Glue crawler would: database, columns, SerDe (OpenCSVSerDe for quoted CSV
with skip.header.line.count, JsonSerDe, Parquet), location and partitions. Glue keeps its own
table versions, so a schema change is an `update_table`.

Region and endpoint come from the usual AWS settings (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

from typing import Any

from covidlake.catalog import TableDef
from covidlake.catalog.embedded import EmbeddedCatalog
from covidlake.errors import CatalogError
from covidlake.store import ObjectStore

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
FORMATS: dict[str, dict[str, Any]] = {  # catalog format -> Glue storage, as data
    "csv": {"classification": "csv", "input": TEXT_INPUT, "output": TEXT_OUTPUT,
            "serde": "org.apache.hadoop.hive.serde2.OpenCSVSerde"},
    "jsonl": {"classification": "json", "input": TEXT_INPUT, "output": TEXT_OUTPUT,
              "serde": "org.openx.data.jsonserde.JsonSerDe"},
    "json": {"classification": "json", "input": TEXT_INPUT, "output": TEXT_OUTPUT,
             "serde": "org.openx.data.jsonserde.JsonSerDe"},
    "parquet": {"classification": "parquet",
                "input": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "output": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
# Hive types Athena reads straight from text; dates and timestamps only in these formats.
HIVE_TYPES = {"BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean", "VARCHAR": "string"}
HIVE_TEXT_FORMATS = {"DATE": ["%Y-%m-%d"], "TIMESTAMP": ["%Y-%m-%d %H:%M:%S"]}


def glue_type(column: Any, fmt: str) -> str:
    """The Glue/Hive type of a catalog column; a date Hive cannot parse stays a string."""
    if column.type in HIVE_TYPES:
        return HIVE_TYPES[column.type]
    if fmt == "parquet" or column.formats == HIVE_TEXT_FORMATS.get(column.type):
        return column.type.lower()
    return "string"


def athena_readiness(table: TableDef) -> tuple[bool, str]:
    """Athena reads CSV columns by position from every file under the location: a folder
    that mixes header versions, or holds files the crawler left out, does not read right."""
    layouts = {tuple(o for o, _ in g.columns) for g in table.groups}
    if table.format == "csv" and len(layouts) > 1:
        return False, (f"{len(layouts)} header versions in one folder; Athena's CSV reader "
                       "maps columns by position")
    if table.excluded:
        return False, f"{len(table.excluded)} files under the location do not fit the table"
    if len({g.dialect.header_lines for g in table.groups}) > 1:
        return False, "files differ in their number of header lines"
    return True, ""


def table_input(table: TableDef, location: str) -> dict[str, Any]:
    g = table.groups[0]
    spec = FORMATS[table.format]
    ready, why = athena_readiness(table)
    params = {"classification": spec["classification"],
              "compressionType": g.dialect.compression or "none",
              "recordCount": str(table.rows), "sizeKey": str(table.bytes),
              "covidlake.schema_version": str(table.version),
              "covidlake.schema_hash": table.schema_hash,
              "covidlake.athena_ready": str(ready).lower()}
    if why:
        params["covidlake.athena_note"] = why
    serde: dict[str, Any] = {"SerializationLibrary": spec["serde"], "Parameters": {}}
    if table.format == "csv":
        params["skip.header.line.count"] = str(g.dialect.header_lines)
        serde["Parameters"] = {"separatorChar": g.dialect.delimiter,
                               "quoteChar": g.dialect.quote,
                               "escapeChar": "\\" if g.dialect.escape == g.dialect.quote
                               else g.dialect.escape,
                               "skip.header.line.count": str(g.dialect.header_lines)}
    columns = [{"Name": c.name, "Type": glue_type(c, table.format),
                "Comment": _comment(c)} for c in table.columns if not c.partition]
    return {
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
        "PartitionKeys": [{"Name": c.name, "Type": glue_type(c, "partition")}
                          for c in table.columns if c.partition],
        "StorageDescriptor": {
            "Columns": columns, "Location": location,
            "InputFormat": spec["input"], "OutputFormat": spec["output"],
            "Compressed": bool(g.dialect.compression), "SerdeInfo": serde,
        },
    }


def _comment(c: Any) -> str:
    text = f"originally {' | '.join(c.original_names)}; covidlake type {c.type}"
    if c.formats:
        text += f" ({', '.join(c.formats)})"
    return text[:255]


class GlueCatalog:
    def __init__(self, lake: ObjectStore, database: str, client: Any = None) -> None:
        self.inner = EmbeddedCatalog(lake)
        self.lake = lake
        self.database = database
        if client is None:
            import boto3  # the AWS SDK is needed only for this backend

            client = boto3.client("glue")
        self.glue = client

    @property
    def version(self) -> int:
        return self.inner.version

    def tables(self) -> list[TableDef]:
        return self.inner.tables()

    def get(self, name: str) -> TableDef | None:
        return self.inner.get(name)

    def put(self, table: TableDef) -> None:
        self.inner.put(table)

    def commit(self) -> None:
        self.inner.commit()
        try:
            self._ensure_database()
            for table in self.inner.tables():
                self.publish(table)
        except CatalogError:
            raise
        except Exception as exc:  # botocore's errors, whatever their class
            raise CatalogError(f"AWS Glue database {self.database!r}: {exc}",
                               hint="check AWS credentials, AWS_DEFAULT_REGION and "
                                    "AWS_ENDPOINT_URL; the lake's own catalog was saved") from exc

    def _ensure_database(self) -> None:
        try:
            self.glue.get_database(Name=self.database)
        except self.glue.exceptions.EntityNotFoundException:
            self.glue.create_database(DatabaseInput={
                "Name": self.database,
                "Description": "COVID-19 Data Lake tables registered by covidlake"})

    def publish(self, table: TableDef) -> None:
        """Create or update the Glue table when its schema or files changed; sync partitions."""
        location = self.lake.uri(table.location).rstrip("/") + "/"
        wanted = table_input(table, location)
        try:
            current = self.glue.get_table(DatabaseName=self.database, Name=table.name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            self.glue.create_table(DatabaseName=self.database, TableInput=wanted)
        else:
            same = (current.get("Parameters", {}) == wanted["Parameters"]
                    and current["StorageDescriptor"]["Columns"]
                    == wanted["StorageDescriptor"]["Columns"])
            if not same:
                self.glue.update_table(DatabaseName=self.database, TableInput=wanted)
        self._sync_partitions(table, location, wanted["StorageDescriptor"])

    def _sync_partitions(self, table: TableDef, location: str, sd: dict[str, Any]) -> None:
        if not table.partition_keys:
            return
        want = {}
        for f in table.files.values():
            values = [f.partition[k] for k in table.partition_keys]
            path = "/".join(f"{k}={f.partition[k]}" for k in table.partition_keys)
            want[tuple(values)] = {**sd, "Location": f"{location}{path}/"}
        have: set[tuple[str, ...]] = set()
        for page in self.glue.get_paginator("get_partitions").paginate(
                DatabaseName=self.database, TableName=table.name):
            have |= {tuple(p["Values"]) for p in page["Partitions"]}
        new = [{"Values": list(v), "StorageDescriptor": want[v]} for v in sorted(want)
               if v not in have]
        for i in range(0, len(new), 100):  # the API takes 100 at a time
            out = self.glue.batch_create_partition(DatabaseName=self.database,
                                                   TableName=table.name,
                                                   PartitionInputList=new[i:i + 100])
            if out.get("Errors"):
                raise CatalogError(f"Glue refused partitions of {table.name}: "
                                   f"{out['Errors'][0]['ErrorDetail']}")
        gone = [{"Values": list(v)} for v in sorted(have - set(want))]
        for i in range(0, len(gone), 25):
            self.glue.batch_delete_partition(DatabaseName=self.database, TableName=table.name,
                                             PartitionsToDelete=gone[i:i + 25])
