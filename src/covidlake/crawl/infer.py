"""Column names and types: snake_case names, a full statistics pass on DuckDB, type decisions.

Statistics are kept per file, so a re-crawl reads only new or changed files and re-decides
types from the stored numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from covidlake.catalog import ColumnDef, Dialect
from covidlake.lakesql import lit, reader, strptime, trimmed

DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y")  # %y before %Y: '3/22/20' is 2020
TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
)
BASIC_STATS = ("non_empty", "int_ok", "double_ok", "bool_ok", "leading_zero", "date_like",
               "max_length", "min", "max", "num_min", "num_max")
DATE_STATS = ("ymd_ok", "date_ok", "ts_ok", *(f"date:{f}" for f in DATE_FORMATS),
              *(f"ts:{f}" for f in TIMESTAMP_FORMATS))
STAT_NAMES = BASIC_STATS + DATE_STATS
_DATE_LIKE = "[0-9]{1,4}[-/][0-9]{1,2}([-/][0-9]{1,4})?([ T][0-9:.]+Z?)?"
# Codes keep their text even when every value is a number (FIPS 1001 is '01001').
CODE_NAME = re.compile(r"(^|_)(fips|zip|zipcode|zip_code|postal_code|code|id2|geo_id)$")
# Names that mean the same column across the JHU header versions (and elsewhere).
SYNONYMS = {"lat": "latitude", "long": "longitude", "lon": "longitude", "lng": "longitude"}
# The basic statistics read a group as (file, column, value) rows below this many bytes of
# files per column (see long_stats)
LONG_BELOW = 256 * 1024
BAD_SHARE = 0.01  # a column is typed by its majority if at most 1% of values do not fit


def snake(name: str) -> str:
    """A column name in snake_case.

    >>> [snake(n) for n in ("Case-Fatality_Ratio", "Province/State", "hospitalizedCurrently",
    ...                     "GEO.id2", "Long_", "Latitude (average)")]
    ['case_fatality_ratio', 'province_state', 'hospitalized_currently', 'geo_id2', 'longitude', \
'latitude_average']
    """
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower() or "column"
    if s[0].isdigit():
        s = "c_" + s
    return SYNONYMS.get(s, s)


def unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        base = snake(n)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def _count(cond: str) -> str:
    # count_if, not count(*) FILTER: each FILTER is a pass of its own (3x slower here)
    return f"coalesce(count_if({cond}), 0)"


def _prepared(src: str, idx: Sequence[int], keep: str = "filename, ") -> str:
    """`src` with each column's value (v: trimmed, NULL if empty), raw length (l) and number
    (d) computed once: the statistics use them several times, and DuckDB computes an
    expression again in each aggregate that uses it."""
    first = ", ".join(f"{trimmed(f'c{i}')} AS v{i}, length(c{i}) AS l{i}" for i in idx)
    second = ", ".join(f"v{i}, l{i}, {_number(f'v{i}')} AS d{i}, ascii(v{i}) AS a{i}" for i in idx)
    return f"(SELECT {keep}{second} FROM (SELECT {keep}{first} FROM {src}))"


def _number(v: str) -> str:
    # a value whose first character is a letter other than i or n (inf, nan) is no number:
    # the cast, costly where it fails, runs on the others only
    return (f"CASE WHEN (ascii({v}) BETWEEN 65 AND 90 OR ascii({v}) BETWEEN 97 AND 122) "
            f"AND ascii({v}) NOT IN (73, 78, 105, 110) THEN NULL "
            f"ELSE TRY_CAST({v} AS DOUBLE) END")


def _basic_exprs(i: int) -> list[str]:
    """BASIC_STATS of column i of a _prepared relation."""
    v, d, a = f"v{i}", f"d{i}", f"a{i}"
    # each test runs only on the values that can pass it (a CASE evaluates its THEN, and an
    # AND its right side, on the rows that passed the left): a pattern or a cast on every
    # value of every column was most of the crawl
    return [
        f"count({v})",
        f"count(CASE WHEN {d} IS NOT NULL AND regexp_full_match({v}, '[+-]?[0-9]+') "
        f"THEN TRY_CAST({v} AS BIGINT) END)",
        f"count({d})",
        _count(f"CASE WHEN strlen({v}) IN (4, 5) THEN lower({v}) IN ('true', 'false') END"),
        _count(f"CASE WHEN {a} = 48 THEN regexp_full_match({v}, '0[0-9]+') END"),
        _count(f"CASE WHEN {a} BETWEEN 48 AND 57 AND {d} IS NULL "
               f"THEN regexp_full_match({v}, '{_DATE_LIKE}') END"),
        f"coalesce(max(l{i}), 0)",
        f"min({v})",
        f"max({v})",
        f"min({d})",
        f"max({d})",
    ]


def _date_exprs(v: str, weight: str | None = None) -> list[str]:
    """Counts of values (`v`: trimmed()) matching each date format; with `weight`, over
    distinct values that many rows hold (the date pass groups values first: a strptime per
    distinct value)."""

    def count(cond: str) -> str:
        return f"sum({weight}) FILTER (WHERE {cond})" if weight else _count(cond)

    return [
        count(f"regexp_full_match({v}, '(19|20)[0-9]{{6}}') "
              f"AND TRY_STRPTIME({v}, '%Y%m%d') IS NOT NULL"),
        count(f"{strptime(v, DATE_FORMATS)} IS NOT NULL"),
        count(f"{strptime(v, TIMESTAMP_FORMATS)} IS NOT NULL"),
        *(count(f"{strptime(v, [f])} IS NOT NULL") for f in DATE_FORMATS),
        *(count(f"{strptime(v, [f])} IS NOT NULL") for f in TIMESTAMP_FORMATS),
    ]


def stats_sql(paths: Sequence[str], dialect: Dialect, names: Sequence[str],
              columns: Sequence[int] | None = None, *, dates: bool = False,
              rejects: str | None = None, long: bool = False) -> str:
    """BASIC_STATS: one row per file: filename, row count, then per column BASIC_STATS.
    With `long`, the same numbers as one row per file and column: filename, column index,
    row count, BASIC_STATS (see `long_stats`).

    DATE_STATS (`dates`): one row per file and column of `columns` holding a value:
    filename, column index, then DATE_STATS. The date pass is costly (a strptime per
    format), so it runs only on columns whose values look like dates in the basic pass, or
    whose name says date, and once per distinct value of a file (dates repeat: a JHU file
    has a few Last_Update values in thousands of rows).
    """
    src = reader(paths, dialect, names, rejects)
    if long:
        cols = ", ".join(f"c{i}" for i in range(len(names)))
        values = (f"(SELECT filename, CAST(substr(col, 2) AS INTEGER) AS i, t AS c0 FROM "
                  f"(SELECT {cols}, filename FROM {src}) UNPIVOT INCLUDE NULLS "
                  f"(t FOR col IN ({cols})))")
        return (f"SELECT filename, i, count(*), {', '.join(_basic_exprs(0))} "
                f"FROM {_prepared(values, [0], keep='filename, i, ')} GROUP BY filename, i")
    if not dates:
        idx = range(len(names)) if columns is None else columns
        exprs = [e for i in idx for e in _basic_exprs(i)]
        return (f"SELECT filename, count(*), {', '.join(exprs)} FROM {_prepared(src, idx)} "
                "GROUP BY filename")
    cols = ", ".join(f"c{i}" for i in columns or ())
    return (f"SELECT filename, CAST(substr(col, 2) AS INTEGER), "
            f"{', '.join(_date_exprs('v', weight='n'))} "
            f"FROM (SELECT filename, col, {trimmed('t')} AS v, count(*) AS n FROM (UNPIVOT "
            f"(SELECT {cols}, filename FROM {src}) ON {cols} INTO NAME col VALUE t) "
            "GROUP BY ALL) GROUP BY filename, col")


def wide_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """stats_sql(long=True)'s rows in the wide shape: per file, filename, row count, then
    each column's BASIC_STATS in column order."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    return [(f, cells[0][2], *(x for c in cells for x in c[3:]))
            for f, cells in ((f, list(g)) for f, g in groupby(rows, key=lambda r: r[0]))]


def long_stats(columns: int, bytes_: int) -> bool:
    """Whether the basic statistics of a group read best as one value per row (`long`).
    Wide (one row per line, 11 aggregates per column) is faster on many rows of few
    columns; on a wide, short file its thousand aggregates cost more to plan and to update
    than its values do to unpivot (states_daily's 53 columns: 0.50 s wide, 0.23 s long;
    the JHU group of 90 files and 14 columns: 1.12 s wide, 1.18 s long)."""
    return bytes_ < LONG_BELOW * max(columns, 1)


def values_stats(con: Any, values: Sequence[str]) -> list[Any]:
    """STAT_NAMES for a list of values (Hive partition values, say)."""
    rows = ", ".join(f"({lit(v)})" for v in values)
    table = f"(VALUES {rows}) t(c0)"
    basic = con.execute(f"SELECT {', '.join(_basic_exprs(0))} "
                        f"FROM {_prepared(table, [0], keep='')}").fetchone()
    dates = con.execute(f"SELECT {', '.join(_date_exprs('v'))} "
                        f"FROM (SELECT {trimmed('c0')} AS v FROM {table})").fetchone()
    return [*basic, *dates]


def wants_date_pass(name: str, basic: Sequence[Any]) -> bool:
    return "date" in name or basic[BASIC_STATS.index("date_like")] > 0


def merge(stats: Sequence[list[Any]]) -> dict[str, Any]:
    """Per-file statistics of one column, summed over files."""
    out: dict[str, Any] = {}
    for i, name in enumerate(STAT_NAMES):
        values = [v for s in stats if (v := s[i]) is not None]
        if name == "max_length":
            out[name] = max(values, default=0)
        elif name in ("min", "num_min"):
            out[name] = min(values, default=None)
        elif name in ("max", "num_max"):
            out[name] = max(values, default=None)
        else:
            out[name] = sum(values)
    return out


# (format, its index in STAT_NAMES), dates then timestamps: looked up once, not per file
# (10x set: 11,430 files' statistics per column, 1.6M lookups in a no-op crawl)
_FORMAT_SLOTS = tuple([(f, STAT_NAMES.index(f"{kind}:{f}")) for f in formats]
                      for kind, formats in (("date", DATE_FORMATS), ("ts", TIMESTAMP_FORMATS)))


def dominant_formats(per_file: Sequence[list[Any]]) -> set[str]:
    """The date and timestamp formats that are the most used one in at least one file: a
    format seen only in a stray value of a file written in another is not accepted (that
    value is counted as bad instead)."""
    out: set[str] = set()
    for slots in _FORMAT_SLOTS:
        for stats in per_file:
            counts = [stats[i] or 0 for _, i in slots]
            best = max(counts, default=0)
            if best:
                out.update(f for (f, _), n in zip(slots, counts, strict=True) if n == best)
    return out


def decide(name: str, s: dict[str, Any], accepted: set[str] | None = None
           ) -> tuple[str, list[str], int]:
    """(type, strptime formats, values that do not fit) for one column's merged statistics;
    `accepted` limits the date formats (see dominant_formats)."""
    n = s["non_empty"]
    if n == 0:
        return "VARCHAR", [], 0
    allowed = int(n * BAD_SHARE)

    def fits(ok: int) -> bool:
        return ok >= n - allowed

    code = bool(CODE_NAME.search(name)) or s["leading_zero"] > allowed
    if fits(s["bool_ok"]):
        return "BOOLEAN", [], n - s["bool_ok"]
    if "date" in name and fits(s["ymd_ok"]):
        return "DATE", ["%Y%m%d"], n - s["ymd_ok"]
    if not code and fits(s["int_ok"]):
        return "BIGINT", [], n - s["int_ok"]
    if not code and fits(s["double_ok"]):
        return "DOUBLE", [], n - s["double_ok"]
    def used(kind: str, formats: tuple[str, ...]) -> list[str]:
        return [f for f in formats if s[f"{kind}:{f}"] and (accepted is None or f in accepted)]

    if fits(s["date_ok"]):
        formats = used("date", DATE_FORMATS)
        return "DATE", formats, n - max(s["date_ok"] - _stray(s, "date", formats), 0)
    if fits(s["ts_ok"]):
        formats = used("ts", TIMESTAMP_FORMATS)
        return "TIMESTAMP", formats, n - max(s["ts_ok"] - _stray(s, "ts", formats), 0)
    return "VARCHAR", [], 0


def _stray(s: dict[str, Any], kind: str, kept: list[str]) -> int:
    """Values matched only by a format that was not kept (an upper bound when formats
    overlap)."""
    formats = DATE_FORMATS if kind == "date" else TIMESTAMP_FORMATS
    dropped = [s[f"{kind}:{f}"] for f in formats if f not in kept and s[f"{kind}:{f}"]]
    return min(sum(dropped), s[f"{kind}_ok"]) if dropped and kept else 0


OK_STAT = {"BIGINT": "int_ok", "DOUBLE": "double_ok", "BOOLEAN": "bool_ok", "DATE": "date_ok",
           "TIMESTAMP": "ts_ok"}


def column_def(name: str, originals: list[str], description: str, s: dict[str, Any],
               total_rows: int, declared: str | None = None,
               override: dict[str, Any] | None = None,
               accepted: set[str] | None = None) -> ColumnDef:
    """A catalog column from merged statistics. A type the file declares (Parquet) wins over
    inference; an override (the optional hints file) wins over both."""
    if override:
        type_ = override["type"].upper()
        if type_ not in ("VARCHAR", *OK_STAT):
            raise ValueError(f"unknown type {type_!r} for column {name!r}")
        inferred = decide(name, s)
        formats = list(override.get("formats") or (inferred[1] if inferred[0] == type_ else []))
        if type_ == "DATE" and not formats:
            formats = [f for f in DATE_FORMATS if s[f"date:{f}"]] or list(DATE_FORMATS)
        if type_ == "TIMESTAMP" and not formats:
            formats = [f for f in TIMESTAMP_FORMATS if s[f"ts:{f}"]] or list(TIMESTAMP_FORMATS)
        ok = s["non_empty"] if type_ == "VARCHAR" else s[OK_STAT[type_]]
        if formats == ["%Y%m%d"]:
            ok = s["ymd_ok"]
        type_, bad = type_, max(s["non_empty"] - ok, 0)
    elif declared:
        type_, formats, bad = declared, [], 0
    else:
        type_, formats, bad = decide(name, s, accepted)
    if type_ in ("BIGINT", "DOUBLE"):  # numeric order, not text order
        bounds = [s["num_min"], s["num_max"]]
        examples = [str(int(x)) if type_ == "BIGINT" else str(x) for x in bounds if x is not None]
    else:
        examples = [str(x) for x in (s["min"], s["max"]) if x is not None]
    return ColumnDef(name=name, type=type_, original_names=originals, formats=formats,
                     description=description, max_length=s["max_length"],
                     null_count=total_rows - s["non_empty"], bad_count=bad,
                     examples=list(dict.fromkeys(examples)))
