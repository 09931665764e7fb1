from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from covidlake.catalog import Dialect
from covidlake.crawl.infer import (
    BASIC_STATS,
    DATE_STATS,
    decide,
    long_stats,
    merge,
    snake,
    stats_sql,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Case-Fatality_Ratio", "case_fatality_ratio"),
        ("Province/State", "province_state"),
        ("Last Update", "last_update"),
        ("Long_", "longitude"),
        ("Lat", "latitude"),
        ("hospitalizedCurrently", "hospitalized_currently"),
        ("GEO.id2", "geo_id2"),
        ("GEO.display-label", "geo_display_label"),
        ("Potential_Increase_In_Bed_Capac", "potential_increase_in_bed_capac"),
        ("Alpha-2 code", "alpha_2_code"),
        ("2020", "c_2020"),
    ],
)
def test_snake(name: str, expected: str) -> None:
    assert snake(name) == expected


def _decide(tmp_path: Path, name: str, values: list[str]) -> tuple[str, list[str], int]:
    path = tmp_path / "t.csv"
    path.write_text("\n".join([name, *values]) + "\n")
    sql = stats_sql([str(path)], Dialect(header_lines=1), [name])
    row = duckdb.connect().execute(sql).fetchone()
    stats = [*row[2:], *[0] * len(DATE_STATS)]
    dates = duckdb.connect().execute(
        stats_sql([str(path)], Dialect(header_lines=1), [name], [0], dates=True)).fetchone()
    if dates is not None:  # no row: the column holds no value to parse
        stats[len(BASIC_STATS):] = [x or 0 for x in dates[2:]]
    return decide(snake(name), merge([stats]))


@pytest.mark.parametrize(
    ("name", "values", "type_", "formats", "bad"),
    [
        ("fips", ["1001", "53061", "36061"], "VARCHAR", [], 0),  # a code stays text
        ("county_code", ["01001", "02013", "53061"], "VARCHAR", [], 0),
        ("id", ["01", "02", "10"], "VARCHAR", [], 0),  # leading zeros: a code by its values
        ("cases", ["1", "20", "-3", ""], "BIGINT", [], 0),
        ("ratio", ["0.5", "1", "2e3"], "DOUBLE", [], 0),
        ("flag", ["true", "False", "TRUE"], "BOOLEAN", [], 0),
        ("date", ["20200122", "20200816"], "DATE", ["%Y%m%d"], 0),
        ("total", ["20200122", "20200816"], "BIGINT", [], 0),  # no 'date' in the name
        ("date", ["2020-01-21", "2020-05-01"], "DATE", ["%Y-%m-%d"], 0),
        ("day", ["3/22/20", "12/1/20"], "DATE", ["%m/%d/%y", "%m/%d/%Y"], 0),
        ("last_update", ["1/22/2020 17:00", "2020-03-01T10:13:19", "3/22/20 23:45",
                         "2020-05-30 02:32:48"], "TIMESTAMP",
         ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M"], 0),
        ("name", ["Alabama", "Alaska"], "VARCHAR", [], 0),
        ("empty", ["", ""], "VARCHAR", [], 0),
        # a few bad values: typed by the majority, the bad ones counted
        ("cases", [str(i) for i in range(199)] + ["n/a"], "BIGINT", [], 1),
        # too many bad values: text
        ("cases", ["1", "2", "three"], "VARCHAR", [], 0),
    ],
)
def test_decide_types(tmp_path: Path, name: str, values: list[str], type_: str,
                      formats: list[str], bad: int) -> None:
    assert _decide(tmp_path, name, values) == (type_, formats, bad)


# The statistics skip a test where the value cannot pass it (a letter first: no number); each
# value here must count exactly as the plain definitions count it.
_PLAIN = [  # BASIC_STATS by definition, on v = the trimmed value or NULL
    "count(v)",
    "count(CASE WHEN regexp_full_match(v, '[+-]?[0-9]+') THEN TRY_CAST(v AS BIGINT) END)",
    "count(TRY_CAST(v AS DOUBLE))",
    "coalesce(count_if(lower(v) IN ('true', 'false')), 0)",
    "coalesce(count_if(regexp_full_match(v, '0[0-9]+')), 0)",
    "coalesce(count_if(regexp_full_match(v, '[0-9]{1,4}[-/][0-9]{1,2}([-/][0-9]{1,4})?"
    "([ T][0-9:.]+Z?)?')), 0)",
    "coalesce(max(length(raw)), 0)", "min(v)", "max(v)",
    "min(TRY_CAST(v AS DOUBLE))", "max(TRY_CAST(v AS DOUBLE))",
]


@pytest.mark.parametrize("value", [
    "12", " 12 ", "-3", "+5", "007", "0", "1.0", ".5", "2e3", "1_000", "inf", "-Inf", "NaN",
    "nan", "Infinity", "n/a", "NA", "e5", "x1", "\t5", "true", " FALSE ", "True", "truth",
    "2020-01-01", "1/2/20", "3/22/20 23:45", "2020-03-01T10:13:19", "Alabama", "Zürich",
    "école", "", "   ", "-", "0x10", "99999999999999999999",
])
@pytest.mark.parametrize("long", [False, True])
def test_statistics_count_as_defined(tmp_path: Path, value: str, long: bool) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f'x\n"{value}"\n')
    con = duckdb.connect()
    got = con.execute(stats_sql([str(path)], Dialect(header_lines=1), ["x"], long=long)
                      ).fetchone()
    if long:  # filename, column index, then the same numbers
        assert got[1] == 0
        got = got[1:]
    want = con.execute(
        f"SELECT count(*), {', '.join(_PLAIN)} FROM (SELECT c0 AS raw, "
        f"NULLIF(trim(c0), '') AS v FROM read_csv('{path}', columns={{'c0': 'VARCHAR'}}, "
        "header=false, skip=1, quote='\"', auto_detect=false))").fetchone()
    assert repr(got[1:]) == repr(want)  # repr: NaN equals NaN


# lakesql.strptime tries a format only where the value holds its literal characters: it must
# give exactly what TRY_STRPTIME with the list gives (first format that parses wins)
_FORMAT_LISTS = [
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M"],
    ["%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d"],
    ["%Y%m%d"], ["%d.%m.%Y"], ["%Y-%m-%dT%H:%M:%SZ"], ["%-m/%-d/%Y"],
]


@pytest.mark.parametrize("value", [
    "2020-03-22 23:45:00", "2020-03-22T23:45:00", "2020-03-22t23:45:00", "2020-03-22\t23:45:00",
    "2020-03-22   23:45:00", "3/22/20 23:45", "3/22/2020 23:45", "1/22/2020 17:00", "3/22/20",
    "03/22/2020", "2020-3-2", "2020-03-22", "20200322", "22.03.2020", "2020-03-22T23:45:00Z",
    "2020/03/22", "23:45", "", "n/a", "2020-13-45", "it's 3/22/20",
])
def test_strptime_as_the_list(value: str) -> None:
    from covidlake.lakesql import lit, strptime

    con = duckdb.connect()
    for formats in _FORMAT_LISTS:
        listed = "[" + ", ".join(lit(f) for f in formats) + "]"
        got, want = con.execute(f"SELECT {strptime('v', formats)}, TRY_STRPTIME(v, {listed}) "
                                f"FROM (SELECT {lit(value)} AS v)").fetchone()
        assert got == want, (value, formats)


@pytest.mark.parametrize(("columns", "bytes_", "long"), [
    (53, 2_193_012, True),  # states_daily: wide and short
    (25, 570, True),  # us-total-latest: one row
    (6, 4_184_139, False),  # us_county: long and narrow
    (14, 30_000_000, False),  # a JHU header version's files
])
def test_long_statistics_where_columns_outweigh_rows(columns: int, bytes_: int,
                                                      long: bool) -> None:
    assert long_stats(columns, bytes_) is long


def test_long_and_wide_statistics_agree(tmp_path: Path) -> None:
    """The two shapes of the basic pass give every file and column the same numbers: blank
    and missing values, codes, dates, a file with no rows, a column with no value."""
    files = {
        "a.csv": "fips,cases,day,note,empty\n01001,5,2020-01-02, x ,\n,  ,1/2/20,,\n"
                 "53061,-3.5,2020-13-40,true,\n",
        "b.csv": "fips,cases,day,note,empty\n1001,7,,False,\n",
        "c.csv": "fips,cases,day,note,empty\n",
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    names = ["fips", "cases", "day", "note", "empty"]
    con = duckdb.connect()
    wide = {r[0]: list(r[1:]) for r in con.execute(
        stats_sql(paths, Dialect(header_lines=1), names)).fetchall()}
    long: dict[str, list[object]] = {}
    for r in sorted(con.execute(stats_sql(paths, Dialect(header_lines=1), names, long=True)
                                ).fetchall(), key=lambda r: (r[0], r[1])):
        long.setdefault(r[0], [r[2]]).extend(r[3:])
    assert sorted(wide) == sorted(paths[:2])  # c.csv: no row in either shape
    assert repr(sorted(long.items())) == repr(sorted(wide.items()))
