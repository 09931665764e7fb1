"""DuckDB SQL that reads lake objects the way the catalog describes them.

Shared by the crawler (which computes its statistics on DuckDB) and the DuckDB engine (which
exposes every catalog table as a view). Every reader yields all-text columns named c0, c1, ...
plus `filename`; typing happens in SQL so that bad values can be counted instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from covidlake.catalog import ColumnDef, Dialect, FileGroup, TableDef


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader(paths: Sequence[str], dialect: Dialect, names: Sequence[str]) -> str:
    """A table function reading `paths` as text columns c0..cN (N = len(names) - 1)."""
    files = "[" + ", ".join(lit(p) for p in paths) + "]"
    if dialect.format == "jsonl":
        cols = ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names)
        return (f"(SELECT {', '.join(f'{ident(n)} AS c{i}' for i, n in enumerate(names))}, "
                f"filename FROM read_json({files}, format='newline_delimited', "
                f"columns={{{cols}}}, filename=true))")
    cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
    encoding = "latin-1" if dialect.encoding == "latin-1" else "utf-8"
    return (
        f"read_csv({files}, columns={{{cols}}}, header=false, skip={dialect.header_lines}, "
        f"delim={lit(dialect.delimiter)}, quote={lit(dialect.quote)}, "
        f"escape={lit(dialect.quote)}, encoding={lit(encoding)}, auto_detect=false, "
        f"null_padding=true, filename=true)"
    )


def typed(expr: str, column: ColumnDef) -> str:
    """`expr` (text) converted to the column's type; values that do not parse become NULL."""
    v = f"NULLIF(TRIM({expr}), '')"
    match column.type:
        case "BIGINT" | "DOUBLE" | "BOOLEAN":
            return f"TRY_CAST({v} AS {column.type})"
        case "DATE" | "TIMESTAMP":
            fmts = "[" + ", ".join(lit(f) for f in column.formats) + "]"
            return f"CAST(TRY_STRPTIME({v}, {fmts}) AS {column.type})"
        case _:
            return f"NULLIF({expr}, '')"


def group_select(group: FileGroup, paths: Sequence[str], table: TableDef, root: str) -> str:
    """One file group's rows with catalog names and types, `_file` and `_bad_columns`."""
    by_name = {c.name: c for c in table.columns}
    exprs, bad = [], []
    for i, (_, name) in enumerate(group.columns):
        column = by_name[name]
        value = typed(f"c{i}", column)
        exprs.append(f"{value} AS {ident(name)}")
        if column.type != "VARCHAR":
            bad.append(f"CASE WHEN NULLIF(TRIM(c{i}), '') IS NOT NULL AND {value} IS NULL "
                       f"THEN {lit(name)} END")
    bad_expr = f"concat_ws(',', {', '.join(bad)})" if bad else "''"
    names = [n for n, _ in group.columns]
    return (f"SELECT {', '.join(exprs)}, replace(filename, {lit(root)}, '') AS _file, "
            f"{bad_expr} AS _bad_columns FROM {reader(paths, group.dialect, names)}")


def table_select(table: TableDef, uri_of: Callable[[str], str], root: str, *,
                 diagnostics: bool = False) -> str:
    """All of a table's files as one relation (file groups unioned by column name).

    With `diagnostics`, adds `_file` (the lake key) and `_bad_columns` (comma-separated names
    of columns whose non-empty text did not parse).
    """
    parts = [group_select(g, [uri_of(k) for k in g.files], table, root)
             for g in table.groups if g.files]
    # Columns a group lacks are NULL; cast so every union branch agrees on the type.
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    select = ", ".join(
        f"CAST({ident(c.name)} AS {c.type}) AS {ident(c.name)}" for c in table.columns
    ) + (", _file, _bad_columns" if diagnostics else "")
    return f"SELECT {select} FROM ({union})"
