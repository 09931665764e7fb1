"""The catalog: what the crawler learnt about each table (schema, files, dialect, history).

`Catalog` is the protocol every backend implements; the embedded backend keeps the catalog in
the lake itself (`_catalog/catalog.json`), so a lake folder or bucket describes itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from covidlake.errors import CatalogError


@dataclass
class Dialect:
    """How to read one group of files."""

    format: str = "csv"  # csv | jsonl | json (an array of objects) | parquet
    encoding: str = "utf-8"  # utf-8 | latin-1
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'  # '"' = quotes doubled inside quoted fields; or '\\'
    header_lines: int = 1  # 0 = no header; 2 = a second header line (the Census file)
    compression: str = ""  # "" | gzip
    null: str = ""  # a bare (unquoted) field meaning NULL, as R writes NA; quoted, it is text


@dataclass
class ColumnDef:
    name: str  # snake_case, unified across files
    type: str  # BIGINT | DOUBLE | BOOLEAN | DATE | TIMESTAMP | VARCHAR
    original_names: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)  # strptime formats for DATE/TIMESTAMP
    description: str = ""  # a second header line, where a file has one
    partition: bool = False  # a Hive-style partition column (key=value/ in the path)
    max_length: int = 0
    null_count: int = 0
    bad_count: int = 0  # non-empty values that do not parse as `type` (read as NULL)
    examples: list[str] = field(default_factory=list)


@dataclass
class FileGroup:
    """Files under one table that share a header and a dialect (one JHU era, say)."""

    dialect: Dialect
    columns: list[tuple[str, str]]  # (name in the file, catalog column name), in file order
    files: list[str]
    declared: dict[str, str] = field(default_factory=dict)  # name in the file -> type (Parquet)


@dataclass
class FileEntry:
    sha256: str
    bytes: int
    rows: int
    group: int  # index into TableDef.groups
    stats: dict[str, list[Any]]  # per original column: see crawl.infer.STAT_NAMES
    bom: bool = False
    newline: str = "\n"  # or "\r\n"
    partition: dict[str, str] = field(default_factory=dict)  # Hive key -> value
    malformed: int = 0  # lines the CSV reader could not split into the header's fields
    malformed_lines: list[list[Any]] = field(default_factory=list)  # [line, error, text]
    malformed_errors: dict[str, int] = field(default_factory=dict)  # error -> lines


@dataclass
class TableDef:
    name: str
    location: str  # lake key prefix
    format: str
    columns: list[ColumnDef]
    groups: list[FileGroup]
    files: dict[str, FileEntry]
    version: int = 1
    schema_hash: str = ""
    crawled_at: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    partition_keys: list[str] = field(default_factory=list)  # Hive keys, in path order
    excluded: dict[str, str] = field(default_factory=dict)  # key -> why it is not in the table
    overrides: dict[str, Any] = field(default_factory=dict)  # hints applied (column -> spec)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files.values())

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files.values())

    def column(self, name: str) -> ColumnDef | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """As plain data, like dataclasses.asdict but without its deep copies (a table of
        thousands of files is saved on every crawl: asdict took most of a no-op run)."""
        return _plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableDef:
        return cls(
            name=d["name"], location=d["location"], format=d["format"],
            columns=[ColumnDef(**c) for c in d["columns"]],
            groups=[FileGroup(Dialect(**g["dialect"]), [tuple(p) for p in g["columns"]],
                              g["files"], g.get("declared", {})) for g in d["groups"]],
            files={k: FileEntry(**v) for k, v in d["files"].items()},
            version=d["version"], schema_hash=d["schema_hash"], crawled_at=d["crawled_at"],
            history=d["history"], partition_keys=d.get("partition_keys", []),
            excluded=d.get("excluded", {}), overrides=d.get("overrides", {}),
        )


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Catalog(Protocol):
    """Where table definitions live."""

    @property
    def version(self) -> int:
        """Increases whenever any table's schema or files change."""
        ...

    def tables(self) -> list[TableDef]: ...

    def get(self, name: str) -> TableDef | None: ...

    def put(self, table: TableDef) -> None:
        """Stage a table definition; `commit` makes staged changes visible."""
        ...

    def commit(self) -> None: ...


def require(catalog: Catalog, name: str) -> TableDef:
    table = catalog.get(name)
    if table is None:
        known = ", ".join(t.name for t in catalog.tables()) or "none"
        raise CatalogError(f"table {name!r} is not in the catalog (known: {known})",
                           hint="run `covidlake crawl` first, or check the --lake option")
    return table


def open_catalog(kind: str, lake: Any) -> Catalog:
    """`embedded` (default): the catalog lives in the lake. `glue://DATABASE`: the lake's
    catalog, published to the AWS Glue Data Catalog on every commit."""
    if kind == "embedded":
        from covidlake.catalog.embedded import EmbeddedCatalog

        return EmbeddedCatalog(lake)
    if kind.startswith("glue://") and kind[len("glue://"):].strip("/"):
        from covidlake.catalog.glue import GlueCatalog

        return GlueCatalog(lake, kind[len("glue://"):].strip("/"))
    raise CatalogError(f"unknown catalog {kind!r}", hint="embedded, or glue://DATABASE")
