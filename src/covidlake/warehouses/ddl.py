"""CREATE TABLE from an exported table's schema and the model's keys, for any warehouse.

Written once in a generic form (INTEGER, BIGINT, DOUBLE, DATE, BOOLEAN, VARCHAR(n) from the
measured lengths, primary and foreign keys) and rendered by sqlglot for the warehouse's
dialect; backend extras (Redshift's DISTKEY/SORTKEY/ENCODE) come from its capabilities.
"""

from __future__ import annotations

from covidlake.export import TableExport
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


def foreign_key_comments(model: StarTable, schema: str = SCHEMA) -> list[str]:
    """COMMENT ON COLUMN for each foreign key a warehouse does not declare, so that the
    relationship is still in its catalog for analysts and BI tools.

    >>> from covidlake.transform.model import BY_NAME
    >>> print(*foreign_key_comments(BY_NAME["dim_hospital"]))
    COMMENT ON COLUMN covid.dim_hospital.region_key IS 'references covid.dim_region (region_key)'
    """
    return [f"COMMENT ON COLUMN {schema}.{model.name}.{col} IS 'references {schema}.{fk.table} "
            f"({ref})'" for fk in model.foreign_keys
            for col, ref in zip(fk.columns, fk.ref_columns, strict=True)]
