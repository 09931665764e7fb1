"""DuckDB SQL that reads lake objects the way the catalog describes them.

Shared by the crawler (which computes its statistics on DuckDB) and the DuckDB engine (which
exposes every catalog table as a view). Every reader yields all-text columns named c0, c1, ...
plus `filename`; typing happens in SQL so that bad values can be counted instead of failing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime

from covidlake.catalog import ColumnDef, Dialect, FileGroup, TableDef


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def value(v: object) -> str:
    """A Python value as a SQL literal: text, numbers, booleans, dates and NULL.

    >>> value("it's"), value(None), value(3), value(True), value(date(2020, 3, 1))
    ("'it''s'", 'NULL', '3', 'TRUE', "DATE '2020-03-01'")
    """
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        return repr(v) if math.isfinite(v) else f"CAST('{v}' AS DOUBLE)"
    if isinstance(v, datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, date):
        return f"DATE '{v.isoformat()}'"
    return lit(str(v))


def ints(values: Sequence[int]) -> str:
    """Integers for `IN (...)`; NULL when there are none, which matches nothing.

    >>> ints([20200313, 20200314]), ints([])
    ('20200313, 20200314', 'NULL')
    """
    return ", ".join(str(int(v)) for v in values) or "NULL"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def trimmed(expr: str) -> str:
    """`expr` (text) without its edge spaces, NULL if empty: NULLIF(TRIM(expr), ''), with
    the TRIM only where there is an edge space (most values have none, and TRIM copies each
    value it is given: on the scale set, half the crawler's statistics)."""
    return (f"CASE WHEN {expr} LIKE ' %' OR {expr} LIKE '% ' THEN NULLIF(TRIM({expr}), '') "
            f"WHEN {expr} <> '' THEN {expr} END")


def strptime(v: str, formats: Sequence[str]) -> str:
    """TRY_STRPTIME(v, formats): the first format that parses `v`, NULL if none does.

    Each format is tried only where `v` holds its literal characters in order (a LIKE; a
    space matches any whitespace run in strptime, so spaces are left out): a failing
    strptime costs ~6 parses, and with four formats typing the full mirror's JHU timestamps
    took 0.43 s instead of 0.08 s.

    >>> strptime('v', ['%Y-%m-%dT%H:%M:%S'])
    "CASE WHEN v LIKE '%-%-%T%:%:%' THEN TRY_STRPTIME(v, '%Y-%m-%dT%H:%M:%S') END"
    """
    tries = []
    for f in formats:
        pattern = re.sub("%+", "%", "%" + re.sub(r"%-?.", "%", f).replace(" ", "%") + "%")
        parse = f"TRY_STRPTIME({v}, {lit(f)})"
        tries.append(parse if pattern == "%" else f"CASE WHEN {v} LIKE {lit(pattern)} "
                     f"THEN {parse} END")
    if not tries:
        return "NULL"
    return tries[0] if len(tries) == 1 else f"COALESCE({', '.join(tries)})"


def reader(paths: Sequence[str], dialect: Dialect, names: Sequence[str],
           rejects: str | None = None) -> str:
    """A relation reading `paths` as text columns c0..cN (N = len(names) - 1) and `filename`;
    Parquet also gives the declared-type columns n0..nN.

    A CSV line that does not have the header's number of fields is skipped, never padded or
    cut: the crawler counts such lines per file (with `rejects`, DuckDB keeps them in the
    tables `<rejects>_errors` and `<rejects>_scans`), and the transform reports them."""
    files = "[" + ", ".join(lit(p) for p in paths) + "]"
    compression = lit(dialect.compression or "uncompressed")
    if dialect.format == "parquet":
        cols = ", ".join(f"CAST({ident(n)} AS VARCHAR) AS c{i}, {ident(n)} AS n{i}"
                         for i, n in enumerate(names))
        return f"(SELECT {cols}, filename FROM read_parquet({files}, filename=true, " \
               "union_by_name=true))"
    if dialect.format in ("jsonl", "json"):
        fmt = "newline_delimited" if dialect.format == "jsonl" else "array"
        cols = ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names)
        renamed = ", ".join(f"{ident(n)} AS c{i}" for i, n in enumerate(names))
        return (f"(SELECT {renamed}, filename FROM read_json({files}, format={lit(fmt)}, "
                f"columns={{{cols}}}, compression={compression}, filename=true))")
    cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
    encoding = "latin-1" if dialect.encoding == "latin-1" else "utf-8"
    return (
        f"read_csv({files}, columns={{{cols}}}, header=false, skip={dialect.header_lines}, "
        f"delim={lit(dialect.delimiter)}, quote={lit(dialect.quote)}, "
        f"escape={lit(dialect.escape)}, encoding={lit(encoding)}, "
        f"compression={compression}, auto_detect=false, filename=true, ignore_errors=true"
        + (f", nullstr={lit(dialect.null)}, allow_quoted_nulls=false" if dialect.null else "")
        + (f", store_rejects=true, rejects_table={lit(rejects + '_errors')}, "
           f"rejects_scan={lit(rejects + '_scans')}" if rejects else "")
        + ")"
    )


def partition_value(key: str) -> str:
    """A Hive partition value from the file's path: .../key=value/..."""
    return f"url_decode(regexp_extract(filename, {lit('/' + re.escape(key) + '=([^/]*)/')}, 1))"


def typed(v: str, column: ColumnDef) -> str:
    """`v` (text, already trimmed()) converted to the column's type; values that do not parse
    become NULL."""
    match column.type:
        case "BIGINT":  # digits only, as the crawler counted them ('1e3' is not a count)
            return (f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]+') "
                    f"THEN TRY_CAST({v} AS BIGINT) END")
        case "DOUBLE" | "BOOLEAN":
            return f"TRY_CAST({v} AS {column.type})"
        case "DATE" | "TIMESTAMP":
            return f"CAST({strptime(v, column.formats)} AS {column.type})"
        case _:
            return v


def group_select(group: FileGroup, paths: Sequence[str], table: TableDef, root: str,
                 source: str | None = None, checked: Collection[str] | None = None) -> str:
    """One file group's rows with catalog names and types, `_file` and `_bad_columns`.
    `source` replaces the reader with a relation of the same shape (c0..cN, filename).
    `checked`: the columns `_bad_columns` reports (default: all); the others' text is not
    converted unless a query reads them (a flag reads every value it names).

    Three nested selects, so that each value is trimmed once and converted once: the
    `_bad_columns` flags compare the text with the converted value (written out in one
    select, both were evaluated twice: 0.5 s of the 1.5 s that stage the full mirror's JHU
    files)."""
    by_name = {c.name: c for c in table.columns}
    sources = [(f"c{i}", orig, name) for i, (orig, name) in enumerate(group.columns)]
    sources += [(partition_value(k), k, c.name)
                for k, c in zip(table.partition_keys, [c for c in table.columns if c.partition],
                                strict=True)]
    texts, values, out, bad = [], [], [], []
    for i, (text, orig, name) in enumerate(sources):
        column = by_name[name]
        if orig in group.declared:  # Parquet: the file's own type, no parsing
            n = [o for o, _ in group.columns].index(orig)
            texts.append(f"n{n} AS t{i}")
            values.append(f"CAST(t{i} AS {column.type}) AS v{i}")
        elif column.type == "VARCHAR":
            texts.append(f"NULLIF({text}, '') AS t{i}")
            values.append(f"t{i} AS v{i}")
        else:
            texts.append(f"{trimmed(text)} AS t{i}")
            values.append(f"t{i}, {typed(f't{i}', column)} AS v{i}")
            if checked is None or name in checked:
                bad.append(f"CASE WHEN t{i} IS NOT NULL AND v{i} IS NULL THEN {lit(name)} END")
        out.append(f"v{i} AS {ident(name)}")
    bad_expr = f"concat_ws(',', {', '.join(bad)})" if bad else "''"
    names = [n for n, _ in group.columns]
    return (f"SELECT {', '.join(out)}, replace(filename, {lit(root)}, '') AS _file, "
            f"{bad_expr} AS _bad_columns FROM (SELECT {', '.join(values)}, filename "
            f"FROM (SELECT {', '.join(texts)}, filename "
            f"FROM {source or reader(paths, group.dialect, names)}))")


def table_select(table: TableDef, uri_of: Callable[[str], str], root: str, *,
                 diagnostics: bool = False, checked: Collection[str] | None = None) -> str:
    """All of a table's files as one relation (file groups unioned by column name).

    With `diagnostics`, adds `_file` (the lake key) and `_bad_columns` (comma-separated names
    of the `checked` columns, default all, whose non-empty text did not parse).
    """
    groups = [g for g in table.groups if g.files]
    parts = [group_select(g, [uri_of(k) for k in g.files], table, root, checked=checked)
             for g in groups]
    # Columns a group lacks are NULL; cast so every union branch agrees on the type. A column
    # no group has (the files are a subset: an incremental run's new ones) is NULL too.
    present = {n for g in groups for _, n in g.columns} | {
        c.name for c in table.columns if c.partition}
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    select = ", ".join(
        f"CAST({ident(c.name) if c.name in present else 'NULL'} AS {c.type}) AS {ident(c.name)}"
        for c in table.columns
    ) + (", _file, _bad_columns" if diagnostics else "")
    return f"SELECT {select} FROM ({union})"
