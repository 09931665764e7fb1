"""The analyst views: written once, rendered per warehouse, and right.

"Right" is checked against the raw source files read with csv/json here, not against the
star schema the views read, so a join or a window that is off shows up.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import MIRROR, ROOT, Done, same_rows
from covidlake.load import load
from covidlake.store import open_store
from covidlake.views import VIEWS, render
from covidlake.warehouses import open_warehouse
from covidlake.warehouses.duckdb import DuckDBWarehouse

SAMPLE = ROOT / "src/covidlake/sample/covid19-lake"
NYT_STATES = "enigma-nytimes-data-in-usa/csv/us_states/us_states.csv"
NYT_COUNTIES = "enigma-nytimes-data-in-usa/csv/us_county/us_county.csv"
HOSPITALS = "rearc-usa-hospital-beds/json/usa-hospital-beds.geojson"
RUNS = [pytest.param("sample_run", SAMPLE, id="sample"),
        pytest.param("full_run", MIRROR, id="full", marks=pytest.mark.integration)]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "redshift"])
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_every_view_renders_for_every_warehouse(view, dialect: str) -> None:  # noqa: ANN001
    sql = render(view, dialect)
    assert sql.startswith(f"CREATE VIEW covid.{view.name} AS ")
    if dialect != "duckdb":
        assert "DOUBLE PRECISION" in sql or "/" not in sql  # no integer division there


def _rows(raw: Path) -> list[dict[str, str]]:
    with raw.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _view(run: Done, sql: str) -> list[dict]:
    with run.connect() as con:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.mark.parametrize(("run_fixture", "mirror"), RUNS)
def test_daily_state_matches_the_raw_nyt_series(run_fixture: str, mirror: Path,
                                                request: pytest.FixtureRequest) -> None:
    run: Done = request.getfixturevalue(run_fixture)
    raw: dict[tuple[str, date], tuple[int, int]] = {}
    for r in _rows(mirror / NYT_STATES):
        raw[(r["fips"].zfill(2), date.fromisoformat(r["date"]))] = (int(r["cases"]),
                                                                    int(r["deaths"]))
    got = {(r["fips"], r["date"]): r for r in _view(
        run, "SELECT * FROM covid.v_daily_state WHERE cases IS NOT NULL")}
    assert set(got) == set(raw)
    for (fips, day), row in got.items():
        cases, deaths = raw[(fips, day)]
        assert (row["cases"], row["deaths"]) == (cases, deaths)
        before, week = raw.get((fips, day - timedelta(1))), raw.get((fips, day - timedelta(7)))
        assert row["new_cases"] == (cases - before[0] if before else None)
        assert row["new_deaths_7d"] == (pytest.approx((deaths - week[1]) / 7) if week else None)
        if row["population"]:
            assert row["cases_per_100k"] == pytest.approx(cases * 1e5 / row["population"])
    # the nation is the sum of its states, day by day
    us = {r["date"]: r for r in _view(run, "SELECT * FROM covid.v_daily_us")}
    by_day: dict[date, int] = defaultdict(int)
    for (_, day), (cases, _) in raw.items():
        by_day[day] += cases
    assert {d: r["cases"] for d, r in us.items() if r["cases"] is not None} == by_day


@pytest.mark.parametrize(("run_fixture", "mirror"), RUNS)
def test_county_latest_is_each_countys_last_nyt_day(run_fixture: str, mirror: Path,
                                                    request: pytest.FixtureRequest) -> None:
    run: Done = request.getfixturevalue(run_fixture)
    last: dict[str, dict[str, str]] = {}
    for r in _rows(mirror / NYT_COUNTIES):
        if r["fips"] and (r["fips"] not in last or r["date"] > last[r["fips"]]["date"]):
            last[r["fips"].zfill(5)] = r
    got = {r["fips"]: r for r in _view(
        run, "SELECT * FROM covid.v_county_latest WHERE fips IS NOT NULL")}
    assert set(got) == set(last)
    for fips, row in got.items():
        want = last[fips]
        assert (row["date"].isoformat(), row["cases"], row["deaths"]) == (
            want["date"], int(want["cases"]), int(want["deaths"])), fips


@pytest.mark.parametrize(("run_fixture", "mirror"), RUNS)
def test_state_capacity_sums_the_raw_hospitals(run_fixture: str, mirror: Path,
                                               request: pytest.FixtureRequest) -> None:
    run: Done = request.getfixturevalue(run_fixture)
    staffed: dict[str, int | None] = {}
    icu: dict[str, int | None] = {}
    with (mirror / HOSPITALS).open(encoding="utf-8") as fh:
        for line in filter(str.strip, fh):
            h = json.loads(line)
            for total, field in ((staffed, "NUM_STAFFED_BEDS"), (icu, "NUM_ICU_BEDS")):
                n, st = h[field], h["HQ_STATE"]  # SQL's SUM: NULL only when all are NULL
                total[st] = total.get(st) if n is None else (total.get(st) or 0) + n
    got = {r["state_abbr"]: r for r in _view(run, "SELECT * FROM covid.v_state_capacity")}
    assert set(got) == set(staffed)
    assert {s: r["staffed_beds"] for s, r in got.items()} == staffed
    assert {s: r["icu_beds"] for s, r in got.items()} == icu
    for row in got.values():
        if row["population"]:
            assert row["icu_beds_per_100k"] == pytest.approx(
                icu[row["state_abbr"]] * 1e5 / row["population"])


def test_views_give_the_same_rows_on_duckdb_and_postgresql(sample_run: Done,
                                                           pg_url: str) -> None:
    pg = open_warehouse(pg_url)
    load(open_store(str(sample_run.lake)), pg, "views")
    duck = DuckDBWarehouse(str(sample_run.warehouse))
    try:
        for v in VIEWS:
            order = ", ".join(f"{i}" for i in range(1, 5))
            sql = f"SELECT * FROM covid.{v.name} ORDER BY {order}"
            want = duck.query(sql).to_pylist()
            assert want, f"{v.name} is empty on the sample"
            assert same_rows(pg.query(sql).to_pylist(), want), v.name
    finally:
        pg.close()
        duck.close()
