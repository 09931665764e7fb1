"""CREATE TABLE from an exported table's schema and the model's keys, for any warehouse.

Written once in a generic form (INTEGER, BIGINT, DOUBLE, DATE, BOOLEAN, VARCHAR(n) from the
measured lengths, the primary and foreign keys a warehouse declares) and rendered by sqlglot
for the warehouse's dialect; backend extras (Redshift's DISTKEY/SORTKEY/ENCODE) come from its
capabilities.
"""

from __future__ import annotations

from covidlake.export import TableExport
from covidlake.lakesql import lit
from covidlake.transform.model import SCHEMA, StarTable
from covidlake.warehouses import Capabilities


def create_table(table: TableExport, model: StarTable, caps: Capabilities,
                 schema: str = SCHEMA, *, suffix: str = "", tag: str = "") -> str:
    """CREATE TABLE schema.<name><suffix>. Foreign keys point at the same suffix (tables of one
    load reference each other); `tag` names the constraints uniquely (a load's staging tables
    are renamed into place, so their constraint names must not collide with the old ones).

    >>> from covidlake.export import ColumnSchema
    >>> t = TableExport("dim_x", 1, [ColumnSchema("x_key", "INTEGER"),
    ...                              ColumnSchema("name", "VARCHAR", 12)])
    >>> create_table(t, StarTable("dim_x", "", ("x_key",)), Capabilities("postgres", "postgres"))
    'CREATE TABLE covid.dim_x (x_key INT NOT NULL, name VARCHAR(12), PRIMARY KEY (x_key))'
    """
    parts = []
    for c in table.columns:
        type_ = caps.types.get(c.type, c.type)
        if c.type == "VARCHAR":
            n = max(1, c.max_length)
            type_ = f"VARCHAR({n})" if n <= caps.varchar_limit else caps.types.get("TEXT", "TEXT")
        not_null = " NOT NULL" if c.name in model.primary_key else ""
        parts.append(f"{c.name} {type_}{not_null}")
    if caps.declares_primary_keys:
        name = f"CONSTRAINT {table.name}_pk_{tag} " if tag else ""
        parts.append(f"{name}PRIMARY KEY ({', '.join(model.primary_key)})")
    for i, fk in enumerate(model.foreign_keys if caps.declares_foreign_keys else ()):
        name = f"CONSTRAINT {table.name}_fk{i + 1}_{tag} " if tag else ""
        parts.append(f"{name}FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES "
                     f"{schema}.{fk.table}{suffix} ({', '.join(fk.ref_columns)})")
    sql = f"CREATE TABLE {schema}.{table.name}{suffix} ({', '.join(parts)})"
    if caps.ddl_dialect is not None:  # None: the warehouse takes the generic form as it is
        import sqlglot  # only for the warehouses that need their own dialect

        sql = sqlglot.transpile(sql, write=caps.ddl_dialect)[0]
    options = caps.table_options.get(table.name, caps.table_options.get("*", ""))
    return f"{sql} {options}".rstrip()


def key_comments(model: StarTable, caps: Capabilities, schema: str = SCHEMA) -> list[str]:
    """COMMENT ON statements for the keys a warehouse does not declare, so that the grain and
    the relationships are still in its catalog for analysts and BI tools: the table's primary
    key, each foreign key column's reference.

    >>> from covidlake.transform.model import ForeignKey
    >>> x = StarTable("dim_x", "one x", ("x_key",),
    ...               (ForeignKey(("region_key",), "dim_region", ("region_key",)),))
    >>> caps = Capabilities("duckdb", declares_foreign_keys=False, declares_primary_keys=False)
    >>> for sql in key_comments(x, caps):
    ...     print(sql)
    COMMENT ON TABLE covid.dim_x IS 'one x; primary key (x_key), unique: checked by each load'
    COMMENT ON COLUMN covid.dim_x.region_key IS 'references covid.dim_region (region_key)'
    """
    name = f"{schema}.{model.name}"
    key = (f"{model.grain}; primary key ({', '.join(model.primary_key)}), unique: checked by "
           "each load")
    out = [] if caps.declares_primary_keys else [f"COMMENT ON TABLE {name} IS {lit(key)}"]
    if not caps.declares_foreign_keys:
        out += [f"COMMENT ON COLUMN {name}.{col} IS 'references {schema}.{fk.table} ({ref})'"
                for fk in model.foreign_keys
                for col, ref in zip(fk.columns, fk.ref_columns, strict=True)]
    return out
