"""Transform cases as input/expected pairs: a raw row of the bundled sample, and the row of
the star schema it must become."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import Done

# (file day, raw place as the file spells it) -> (level, country, province, county, fips)
PLACES = [
    ("01-22-2020", "Hubei, Mainland China",
     ("state", "China", "Hubei", None, None), 444),
    ("03-13-2020", "Korea, South",
     ("country", "South Korea", None, None, None), 7979),
    ("01-22-2020", "South Korea",
     ("country", "South Korea", None, None, None), 1),
    ("03-01-2020", "Snohomish County, WA",  # early 'X County, ST' naming -> the county
     ("county", "US", "Washington", "Snohomish", "53061"), 2),
    ("03-01-2020", "Chicago, IL",  # a city lying in one county
     ("county", "US", "Illinois", "Cook", "17031"), 3),
    ("02-15-2020", "Diamond Princess cruise ship, Others",
     ("country", "Diamond Princess", None, None, None), 285),
    ("03-22-2020", "King, Washington (FIPS 53033)",  # '53033,King,...,3/22/20 23:45,...,1040'
     ("county", "US", "Washington", "King", "53033"), 1040),
    ("08-26-2020", "Acadia, Louisiana (FIPS 22001)",
     ("county", "US", "Louisiana", "Acadia", "22001"), None),
]


@pytest.mark.parametrize(("day", "raw", "place", "confirmed"), PLACES,
                         ids=[f"{d} {r}" for d, r, _, _ in PLACES])
def test_jhu_rows_land_on_the_right_place(sample_run: Done, day: str, raw: str,
                                          place: tuple[object, ...], confirmed: int | None
                                          ) -> None:
    date_key = int(day[6:] + day[:2] + day[3:5])
    con = sample_run.connect()
    rows = con.execute("""
        SELECT f.confirmed FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key)
        WHERE f.date_key = ? AND r.level = ? AND r.country_region = ?
          AND r.province_state IS NOT DISTINCT FROM ? AND r.county IS NOT DISTINCT FROM ?
          AND r.fips IS NOT DISTINCT FROM ?""", [date_key, *place]).fetchall()
    assert len(rows) == 1, f"{raw} on {day}: {rows}"
    if confirmed is not None:
        assert rows[0][0] == confirmed


def test_duplicate_place_and_day_resolved_deterministically(sample_run: Done) -> None:
    # 03-22-2020 lists District of Columbia twice with the same last_update (deaths 0 and 2):
    # one fact row; the tie breaks on the figures, and the superseded row is counted.
    con = sample_run.connect()
    rows = con.execute("""
        SELECT f.confirmed, f.deaths FROM covid.fact_covid f
        JOIN covid.dim_region r USING (region_key)
        WHERE f.date_key = 20200322 AND r.fips = '11001'""").fetchall()
    assert rows == [(102, 2)]
    dupes = con.execute("SELECT failing_rows FROM covid.dq_results WHERE check_name = "
                        "'duplicates_resolved' AND table_name = 'enigma_jhu'").fetchone()[0]
    assert dupes >= 1


@cache
def _rows(path: Path) -> list[list[str]]:
    """The file's rows, header first, as Python's csv module reads them (each file once)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def _data_row(path: Path, n: int) -> list[str]:
    """The file's n-th row after its header."""
    return _rows(path)[n]


def test_rejects_name_their_row_in_the_file(sample_run: Done) -> None:
    # src_row is the row's position in its file (1 = the first after the header): every
    # rejected row read back from there carries the place the reject names
    rejects = duckdb.sql(
        "SELECT file, src_row, reason, country, province, county, fips FROM read_parquet(?) "
        "WHERE src_row IS NOT NULL", params=[str(sample_run.lake / "rejects/rejected_rows.parquet")]
    ).fetchall()
    assert {r[2] for r in rejects} >= {"no figures in any measure",
                                       "duplicate for place and day (superseded)"}
    for file, n, reason, *place in rejects:
        cells = {c.strip() for c in _data_row(sample_run.lake / file, n)}
        named = [p for p in place if p not in (None, "China", "US")]  # aliased, or implied
        assert named and all(p in cells for p in named), (file, n, reason, place, cells)
    # the superseded District of Columbia row of 03-22-2020 is the one with 0 deaths
    dc = [r for r in rejects if r[0].endswith("03-22-2020.csv") and r[6] == "11001"]
    assert len(dc) == 1 and _data_row(sample_run.lake / dc[0][0], dc[0][1])[8] == "0"


def test_one_row_per_place(sample_run: Done) -> None:
    con = sample_run.connect()
    assert con.execute("""SELECT count(*) FROM (SELECT level, country_region, province_state,
        county, fips FROM covid.dim_region GROUP BY ALL HAVING count(*) > 1)""").fetchone() == (0,)
    # every US state and county row carries the state's two-digit FIPS prefix
    assert con.execute("""SELECT count(*) FROM covid.dim_region c JOIN covid.dim_region s
        ON s.level = 'state' AND s.country_region = 'US' AND s.province_state = c.province_state
        WHERE c.level = 'county' AND c.fips IS NOT NULL AND left(c.fips, 2) <> s.fips
        """).fetchone() == (0,)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # population: Census 2018 for a county, the sum of counties for a state
        ("SELECT population FROM covid.dim_region WHERE fips = '01001'", 55601),
        ("SELECT population = (SELECT sum(population) FROM covid.dim_region WHERE level = "
         "'county' AND fips LIKE '53%') FROM covid.dim_region WHERE fips = '53'", True),
        ("SELECT state_abbr FROM covid.dim_region WHERE fips = '72'", "PR"),  # not in state_abv
        ("SELECT count(*) FROM covid.dim_region WHERE level = 'country' AND country_region IN "
         "('Mainland China', 'Korea, South', 'Taiwan*')", 0),
        # dim_date: ISO weekday, weekend flag, a full calendar
        ("SELECT (day_of_week, day_name, is_weekend) FROM covid.dim_date WHERE date_key = "
         "20200322", (7, "Sunday", True)),
        ("SELECT max(date) - min(date) + 1 = count(*) FROM covid.dim_date", True),
        ("SELECT (min(date_key), max(date_key)) = (SELECT (min(date_key), max(date_key)) FROM "
         "covid.fact_covid) FROM covid.dim_date", True),
        # CTP at state level, NYT at county level, us_daily at the country
        ("SELECT f.positive FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
         "WHERE r.fips = '36' AND f.date_key = 20200401", 83712),
        ("SELECT f.nyt_cases FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
         "WHERE r.fips = '53033' AND f.date_key = 20200401", 2498),
        # one row per day and place, whatever the sources: King County's JHU and NYT figures
        # of 2020-04-01 in one fact row ('53033,King,Washington,...,2330,150,...')
        ("SELECT list((f.confirmed, f.deaths, f.nyt_cases)) FROM covid.fact_covid f "
         "JOIN covid.dim_region r USING (region_key) "
         "WHERE r.fips = '53033' AND f.date_key = 20200401", [(2330, 150, 2498)]),
        ("SELECT f.positive FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
         "WHERE r.level = 'country' AND r.country_region = 'US' AND f.date_key = 20200405",
         None),  # filled below from the raw file
        # NYT's New York City has no FIPS: its own place, not merged into a county
        ("SELECT count(*) FROM covid.dim_region WHERE county = 'New York City' AND fips IS NULL",
         1),
        # hospitals: 'longtitude' becomes longitude; a county region where FIPS is known
        ("SELECT count(*) FROM covid.dim_hospital WHERE fips IS NOT NULL AND region_key IS NULL",
         0),
    ],
)
def test_star_examples(sample_run: Done, sql: str, expected: object) -> None:
    if expected is None:
        from covidlake.settings import bundled_sample

        path = f"{bundled_sample()}/rearc-covid-19-testing-data/csv/us_daily/us_daily.csv"
        lines = Path(path).read_text().splitlines()
        header = lines[0].split(",")
        row = next(ln.split(",") for ln in lines[1:] if ln.startswith("20200405"))
        expected = int(row[header.index("positive")])
    assert sample_run.connect().execute(sql).fetchone()[0] == expected


# The kept-days count of a decreasing series (quality._decreasing_kept) against a full count,
# on small series: (the facts before, the new days' rows now). Each series is (region_key,
# {date_key: confirmed}); None is a row without that measure. `deaths` holds the negated
# figures (a series falling where confirmed rises), so the one query must keep them apart.
_BEFORE = [(1, {1: 5, 2: 4, 3: 6, 5: 3, 8: 9}), (2, {2: 1, 4: None, 6: 0}), (3, {7: 2})]
_DECREASING_CASES = [
    ("one day in the middle", [4], [(1, {4: 2}), (2, {4: 3})]),
    ("a day replacing old figures", [2], [(1, {2: 7}), (2, {2: None})]),
    ("days apart, a kept day between", [2, 6], [(1, {2: 9, 6: 1}), (2, {6: 2})]),
    ("a first and a last day", [0, 9], [(1, {0: 6, 9: 1}), (3, {9: 1})]),
    ("a place only in the new days", [4, 5], [(4, {4: 3, 5: 1})]),
    ("a new day with no figures", [3], [(1, {3: None})]),
    # after every old report: counted from each place's last report (its tail) alone
    ("a day after every other", [9], [(1, {9: 8}), (2, {9: 1}), (3, {9: 1})]),
    ("two days after, a place new", [9, 11], [(1, {9: 10, 11: 9}), (4, {11: 2}),
                                              (2, {9: None, 11: 3})]),
]
_FROM_TAILS = {"a day after every other", "two days after, a place new"}


def _old_and_now(days: list[int], new: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The fact rows (date_key, region_key, confirmed, deaths) before and after the new days."""
    def facts(series: list[tuple]) -> list[tuple]:
        return [(d, r, v, None if v is None else -v) for r, points in series
                for d, v in points.items()]

    old = facts(_BEFORE)
    return old, [f for f in old if f[0] not in days] + facts(new)


def _fact_table(runner: Any, name: str, rows: list[tuple]) -> None:
    """`name` as a fact table of `rows`, its other measures NULL."""
    from covidlake.transform.model import MEASURES

    others = [m for m in MEASURES if m not in ("confirmed", "deaths")]
    runner.create_table(name, [("date_key", "INTEGER"), ("region_key", "INTEGER"),
                               ("confirmed", "BIGINT"), ("deaths", "BIGINT")]
                        + [(m, "BIGINT") for m in others],
                        [row + (None,) * len(others) for row in rows])


@pytest.mark.parametrize(("case", "days", "new"), _DECREASING_CASES,
                         ids=[c[0] for c in _DECREASING_CASES])
def test_decreasing_on_new_days_counts_as_a_full_count(case: str, days: list[int],
                                                       new: list[tuple]) -> None:
    import duckdb

    from covidlake.transform.quality import Kept, _decreasing_changes, tails_sql
    from covidlake.transform.runner import DuckDBRunner

    old, now = _old_and_now(days, new)
    con = duckdb.connect()
    runner = DuckDBRunner(con)
    series = ("confirmed", "deaths")
    full = ("SELECT count(*) FROM (SELECT {m} AS v, lag({m}) OVER (PARTITION BY "
            "region_key ORDER BY date_key) AS prev FROM {t} WHERE {m} IS NOT NULL) "
            "WHERE v < prev")
    _fact_table(runner, "prev.old", old)
    _fact_table(runner, "star.fact_covid", now)
    before = {f"decreasing_{m}": con.execute(full.format(m=m, t="prev.old")).fetchone()[0]
              for m in series}
    con.execute(f"CREATE TABLE prev.tails AS {tails_sql('prev.old')}")
    kept = Kept(days, "prev.old", before, "prev.tails")
    changed = _decreasing_changes(runner, kept)
    for m in series:
        assert before[f"decreasing_{m}"] + changed.get(m, 0) == \
            con.execute(full.format(m=m, t="star.fact_covid")).fetchone()[0], m
    # the tails alone, or the rows near the new days (which leave their bounds)
    near = con.execute("SELECT count(*) FROM duckdb_tables() "
                       "WHERE table_name = 'decreasing_bounds'").fetchone()[0]
    assert near == (case not in _FROM_TAILS)
    # the tails the next run starts from: as if counted from every fact row now
    tails = "SELECT * FROM ({}) ORDER BY ALL"
    assert con.execute(tails.format("SELECT * FROM stage.tails")).fetchall() == \
        con.execute(tails.format(tails_sql("star.fact_covid"))).fetchall()


@pytest.mark.parametrize(("case", "days", "new"), _DECREASING_CASES,
                         ids=[c[0] for c in _DECREASING_CASES])
def test_row_checks_on_new_days_count_as_a_full_count(case: str, days: list[int],
                                                      new: list[tuple]) -> None:
    """quality._fact_counts near the new days (the old count, less the new days' failing
    rows before, plus theirs now) against a full count, on the series above: `deaths` is
    negative where confirmed is positive, a row of None has no measure at all."""
    import duckdb

    from covidlake.transform.quality import FACT_ROW_CHECKS, Kept, _fact_counts
    from covidlake.transform.runner import DuckDBRunner

    old, now = _old_and_now(days, new)
    runner = DuckDBRunner(duckdb.connect())
    counts = {}
    for name, rows in (("old", old), ("now", now)):
        _fact_table(runner, "star.fact_covid", rows)
        counts[name] = _fact_counts(runner, FACT_ROW_CHECKS, None)
    _fact_table(runner, "prev.old", old)
    kept = _fact_counts(runner, FACT_ROW_CHECKS, Kept(days, "prev.old", counts["old"]))
    assert kept == counts["now"]
