"""Integration tests on the full mirror: the warehouse agrees with the raw files.

Every expected value here is computed independently from the raw files in the mirror with
Python's `csv` and `json` modules (see ../shared/data/SOURCES.md); nothing is copied from the
pipeline's SQL. The pipeline itself runs once per session (the `full_run` fixture in
tests/conftest.py).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import duckdb
import pytest

MIRROR = Path(
    os.environ.get(
        "COVIDLAKE_MIRROR",
        Path(__file__).resolve().parents[2].parent / "shared" / "data" / "covid19-lake",
    )
)

NYT_COUNTY = "enigma-nytimes-data-in-usa/csv/us_county/us_county.csv"
NYT_STATES = "enigma-nytimes-data-in-usa/csv/us_states/us_states.csv"
JHU_DIR = "enigma-jhu/csv"
CTP_STATES = "rearc-covid-19-testing-data/csv/states_daily/states_daily.csv"
CTP_US = "rearc-covid-19-testing-data/csv/us_daily/us_daily.csv"
HOSPITALS = "rearc-usa-hospital-beds/json/usa-hospital-beds.geojson"
POPULATION = "static-datasets/csv/CountyPopulation/County_Population.csv"

# JHU header versions 1-2 use other spellings for the same columns as versions 3-4.
JHU_HEADER_ALIASES = {
    "Province/State": "Province_State",
    "Country/Region": "Country_Region",
    "Last Update": "Last_Update",
}


# --------------------------------------------------------------------------- raw files


def _read_csv(rel: str) -> tuple[dict[str, str], ...]:
    """All data rows of a raw CSV as dicts of trimmed text (BOM-safe)."""
    with (MIRROR / rel).open(encoding="utf-8-sig", newline="") as fh:
        return tuple(
            {k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            for row in csv.DictReader(fh)
        )


def _num(text: str | None) -> int | None:
    """A raw count as an int; blank is None (unknown), '12.0' is 12."""
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        value = float(text)
        assert value.is_integer(), f"not a whole number: {text!r}"
        return int(value)


@cache
def nyt_county() -> tuple[dict[str, str], ...]:
    return _read_csv(NYT_COUNTY)


@cache
def nyt_county_by_date_fips() -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in nyt_county():
        if row["fips"]:
            key = (row["date"], row["fips"])
            assert key not in out, f"raw us_county.csv repeats {key}"
            out[key] = row
    return out


@cache
def nyt_states() -> tuple[dict[str, str], ...]:
    return _read_csv(NYT_STATES)


@cache
def jhu_paths() -> tuple[Path, ...]:
    return tuple(sorted((MIRROR / JHU_DIR).glob("??-??-????.csv")))


@cache
def jhu_file(mm_dd_yyyy: str) -> tuple[dict[str, str], ...]:
    """One JHU daily report, with header versions 1-2 renamed to the version 3-4 names."""
    rows = _read_csv(f"{JHU_DIR}/{mm_dd_yyyy}.csv")
    return tuple({JHU_HEADER_ALIASES.get(k, k): v for k, v in row.items()} for row in rows)


@cache
def jhu_row_count() -> int:
    return sum(len(jhu_file(p.stem)) for p in jhu_paths())


@cache
def ctp_states() -> tuple[dict[str, str], ...]:
    return _read_csv(CTP_STATES)


@cache
def ctp_us() -> tuple[dict[str, str], ...]:
    return _read_csv(CTP_US)


@cache
def hospitals() -> dict[int, dict[str, object]]:
    """The hospital file is JSON lines despite its .geojson name: OBJECTID -> record."""
    out: dict[int, dict[str, object]] = {}
    with (MIRROR / HOSPITALS).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                assert rec["OBJECTID"] not in out, f"raw OBJECTID {rec['OBJECTID']} repeats"
                out[rec["OBJECTID"]] = rec
    return out


@cache
def hospital_line_count() -> int:
    with (MIRROR / HOSPITALS).open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


@cache
def county_population() -> dict[str, int]:
    """Census PEP 2018: county FIPS (GEO.id2) -> respop72018. The file has two header lines."""
    with (MIRROR / POPULATION).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        labels = next(reader)  # second header line: 'Id,Id2,Geography,...'
        assert labels[:2] == ["Id", "Id2"], f"unexpected second header line {labels[:3]}"
        fips_at, pop_at = header.index("GEO.id2"), header.index("respop72018")
        out: dict[str, int] = {}
        for row in reader:
            fips = row[fips_at].strip()
            assert fips not in out, f"raw Census file repeats county {fips}"
            out[fips] = int(row[pop_at])
    return out


@cache
def raw_source_dates() -> tuple[date, date]:
    """The first and last date any fact source reports."""
    days: set[date] = {date.fromisoformat(r["date"]) for r in nyt_county()}
    days |= {date.fromisoformat(r["date"]) for r in nyt_states()}
    for rows in (ctp_states(), ctp_us()):
        days |= {_yyyymmdd(r["date"]) for r in rows}
    for path in jhu_paths():
        month, day, year = (int(x) for x in path.stem.split("-"))
        days.add(date(year, month, day))
    return min(days), max(days)


def _yyyymmdd(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _date_key(iso_or_mdy: str) -> int:
    """'2020-04-15' or '04-15-2020' -> 20200415."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso_or_mdy):
        return int(iso_or_mdy.replace("-", ""))
    month, day, year = iso_or_mdy.split("-")
    return int(year + month + day)


# --------------------------------------------------------------------------- warehouse

MEASURES_JHU = ("confirmed", "deaths", "recovered", "active")
MEASURES_CTP = ("positive", "negative", "hospitalized_currently", "hospitalized")


@pytest.fixture(scope="module")
def con(full_run) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = full_run.connect()
    yield connection
    connection.close()


def _one_region(con: duckdb.DuckDBPyConnection, what: str, where: str, params: list) -> int:
    keys = con.execute(
        f"SELECT region_key FROM covid.dim_region WHERE {where} ORDER BY region_key", params
    ).fetchall()
    assert len(keys) == 1, f"{what}: expected exactly one dim_region row, found {keys}"
    return keys[0][0]


def _county(con: duckdb.DuckDBPyConnection, fips: str, what: str) -> int:
    return _one_region(con, what, "level = 'county' AND fips = ?", [fips])


def _state(con: duckdb.DuckDBPyConnection, fips: str, what: str) -> int:
    return _one_region(con, what, "level = 'state' AND fips = ?", [fips])


def _fact(
    con: duckdb.DuckDBPyConnection,
    date_key: int,
    region_key: int,
    columns: tuple[str, ...],
    what: str,
) -> dict[str, int | None]:
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM covid.fact_covid WHERE date_key = ? AND region_key = ?",
        [date_key, region_key],
    ).fetchall()
    assert len(rows) == 1, (
        f"{what}: expected one fact row at date_key {date_key}, region_key {region_key}, "
        f"found {len(rows)}"
    )
    return dict(zip(columns, rows[0], strict=True))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    return con.execute(sql, params or []).fetchone()[0]


# --------------------------------------------------------------------------- 1. NYT counties

NYT_COUNTY_EXAMPLES = [
    ("2020-01-21", "53061"),  # Snohomish, WA: the first row of the file
    ("2020-03-23", "01117"),  # Shelby, AL: leading-zero FIPS
    ("2020-03-27", "46085"),  # Lyman, SD
    ("2020-03-28", "51179"),  # Stafford, VA
    ("2020-04-05", "06069"),  # San Benito, CA: leading-zero FIPS
    ("2020-04-17", "08037"),  # Eagle, CO: leading-zero FIPS
    ("2020-04-20", "36013"),  # Chautauqua, NY
    ("2020-05-01", "26079"),  # Kalkaska, MI: the last date of the file
]


@pytest.mark.integration
@pytest.mark.parametrize(("day", "fips"), NYT_COUNTY_EXAMPLES)
def test_nyt_county_measures_match_raw_row(con, day: str, fips: str) -> None:
    what = f"NYT county {fips} on {day}"
    raw = nyt_county_by_date_fips().get((day, fips))
    assert raw is not None, f"{what}: example not in raw {NYT_COUNTY}"
    region_key = _county(con, fips, what)
    got = _fact(con, _date_key(day), region_key, ("nyt_cases", "nyt_deaths"), what)
    want = {"nyt_cases": _num(raw["cases"]), "nyt_deaths": _num(raw["deaths"])}
    assert got == want, f"{what} ({raw['county']}, {raw['state']}): warehouse {got} != raw {want}"


@pytest.mark.integration
@pytest.mark.parametrize("day", ["2020-03-01", "2020-04-15", "2020-05-01"])
def test_nyt_county_row_count_for_one_date(con, day: str) -> None:
    raw_rows = [r for r in nyt_county() if r["date"] == day]
    blank_fips = sum(1 for r in raw_rows if not r["fips"])
    got = _scalar(
        con,
        "SELECT count(*) FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
        "WHERE r.level = 'county' AND f.date_key = ? AND f.nyt_cases IS NOT NULL",
        [_date_key(day)],
    )
    assert got == len(raw_rows), (
        f"NYT counties on {day}: {got} county fact rows with nyt_cases, but the raw file has "
        f"{len(raw_rows)} rows that day ({blank_fips} of them with blank fips)"
    )


# --------------------------------------------------------------------------- 2. NYT states

NYT_STATE_EXAMPLES = [
    ("2020-01-21", "53"),  # Washington: the first row
    ("2020-04-15", "36"),  # New York
    ("2020-07-04", "72"),  # Puerto Rico (territory)
    ("2020-12-31", "06"),  # California: leading zero
    ("2021-06-18", "66"),  # Guam (territory): the last date of the file
]


@pytest.mark.integration
@pytest.mark.parametrize(("day", "fips"), NYT_STATE_EXAMPLES)
def test_nyt_state_measures_match_raw_row(con, day: str, fips: str) -> None:
    what = f"NYT state {fips} on {day}"
    matches = [r for r in nyt_states() if r["date"] == day and r["fips"] == fips]
    assert len(matches) == 1, f"{what}: expected one raw row in {NYT_STATES}, found {matches}"
    raw = matches[0]
    region_key = _state(con, fips, what)
    got = _fact(con, _date_key(day), region_key, ("nyt_cases", "nyt_deaths"), what)
    want = {"nyt_cases": _num(raw["cases"]), "nyt_deaths": _num(raw["deaths"])}
    assert got == want, f"{what} ({raw['state']}): warehouse {got} != raw {want}"


# --------------------------------------------------------------------------- 3. JHU

# (file date, FIPS exactly as spelled in that file): the files alternate between 4-digit FIPS
# without the leading zero (03-22, 04-02, 05-15, 08-26, ...) and zero-padded ones (03-25,
# 04-10, 06-24, ...). None of these FIPS occurs twice in its file.
JHU_COUNTY_EXAMPLES = [
    ("03-22-2020", "1073"),  # Jefferson, AL: 4-digit era, the first county-level file
    ("03-22-2020", "36061"),  # New York City
    ("03-25-2020", "06037"),  # Los Angeles: zero-padded era
    ("04-02-2020", "9001"),  # Fairfield, CT: 4-digit era
    ("04-10-2020", "53033"),  # King, WA
    ("05-15-2020", "4013"),  # Maricopa, AZ: 4-digit era, Active filled
    ("06-24-2020", "01073"),  # Jefferson, AL: zero-padded era
    ("08-26-2020", "17031"),  # Cook, IL: the last file
]


@pytest.mark.integration
@pytest.mark.parametrize(("file_day", "raw_fips"), JHU_COUNTY_EXAMPLES)
def test_jhu_county_measures_match_raw_row(con, file_day: str, raw_fips: str) -> None:
    fips = raw_fips.zfill(5)
    what = f"JHU {file_day}.csv county FIPS {raw_fips!r} (-> {fips})"
    matches = [r for r in jhu_file(file_day) if r.get("FIPS") == raw_fips]
    assert len(matches) == 1, f"{what}: expected one raw row, found {len(matches)}"
    raw = matches[0]
    assert all(r.get("FIPS", "").zfill(5) != fips for r in jhu_file(file_day) if r is not raw), (
        f"{what}: the file lists this FIPS twice in different spellings; pick another example"
    )
    region_key = _county(con, fips, what)
    got = _fact(con, _date_key(file_day), region_key, MEASURES_JHU, what)
    want = {m: _num(raw[m.capitalize()]) for m in MEASURES_JHU}
    assert got == want, (
        f"{what} ({raw['Admin2']}, {raw['Province_State']}): warehouse {got} != raw {want}"
    )


# (file date, Country_Region as spelled in the file, expected country_region): each country
# has exactly one row in that file, with an empty province.
JHU_COUNTRY_EXAMPLES = [
    ("01-22-2020", "Japan", "Japan"),  # header v1; blank Deaths/Recovered stay NULL
    ("02-15-2020", "Italy", "Italy"),  # header v1
    ("03-10-2020", "Germany", "Germany"),  # header v2
    ("04-15-2020", "Italy", "Italy"),  # header v3
    ("08-26-2020", "Korea, South", "South Korea"),  # header v4, normalised name
]


@pytest.mark.integration
@pytest.mark.parametrize(("file_day", "raw_country", "country"), JHU_COUNTRY_EXAMPLES)
def test_jhu_country_measures_match_raw_row(
    con, file_day: str, raw_country: str, country: str
) -> None:
    what = f"JHU {file_day}.csv country {raw_country!r}"
    matches = [r for r in jhu_file(file_day) if r["Country_Region"] == raw_country]
    assert len(matches) == 1 and matches[0]["Province_State"] == "", (
        f"{what}: expected exactly one raw row with an empty province, found {matches}"
    )
    raw = matches[0]
    region_key = _one_region(con, what, "level = 'country' AND country_region = ?", [country])
    got = _fact(con, _date_key(file_day), region_key, MEASURES_JHU, what)
    want = {m: _num(raw.get(m.capitalize())) for m in MEASURES_JHU}
    assert got == want, f"{what} -> {country!r}: warehouse {got} != raw {want}"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("file_day", "raw_country"),
    [("01-22-2020", "Mainland China"), ("03-10-2020", "Mainland China"), ("08-26-2020", "China")],
)
def test_jhu_hubei_province_matches_raw_row(con, file_day: str, raw_country: str) -> None:
    what = f"JHU {file_day}.csv {raw_country!r}/Hubei"
    matches = [
        r
        for r in jhu_file(file_day)
        if r["Country_Region"] == raw_country and r["Province_State"] == "Hubei"
    ]
    assert len(matches) == 1, f"{what}: expected one raw row, found {matches}"
    raw = matches[0]
    region_key = _one_region(
        con,
        what,
        "level = 'state' AND country_region = 'China' AND province_state = 'Hubei'",
        [],
    )
    got = _fact(con, _date_key(file_day), region_key, MEASURES_JHU, what)
    want = {m: _num(raw.get(m.capitalize())) for m in MEASURES_JHU}
    assert got == want, f"{what} -> China/Hubei: warehouse {got} != raw {want}"


# US territories reported by JHU as one state-level row (empty Admin2). Their FIPS is spelled
# 'XX000' (03-22..04-01), then 'XX' or, in the zero-padded files, '000XX'; the warehouse must put
# all of them at the one state-level region with the 2-digit FIPS, where NYT and CTP put theirs.
JHU_TERRITORY_EXAMPLES = [
    ("03-22-2020", "Guam", "66"),  # FIPS '66000'
    ("03-25-2020", "Virgin Islands", "78"),  # FIPS '78000'
    ("04-03-2020", "Puerto Rico", "72"),  # FIPS '00072'
    ("08-26-2020", "Northern Mariana Islands", "69"),  # FIPS '69'
    ("03-22-2020", "American Samoa", "60"),  # FIPS '60000'; no source names 60 otherwise
]


@pytest.mark.integration
@pytest.mark.parametrize(("file_day", "territory", "state_fips"), JHU_TERRITORY_EXAMPLES)
def test_jhu_us_territory_lands_at_its_state_fips(
    con, file_day: str, territory: str, state_fips: str
) -> None:
    what = f"JHU {file_day}.csv US/{territory}"
    matches = [
        r
        for r in jhu_file(file_day)
        if r["Country_Region"] == "US" and r["Province_State"] == territory and not r["Admin2"]
    ]
    assert len(matches) == 1, f"{what}: expected one raw row without Admin2, found {matches}"
    raw = matches[0]
    named = con.execute(
        "SELECT region_key, fips FROM covid.dim_region "
        "WHERE level = 'state' AND country_region = 'US' AND province_state = ?",
        [territory],
    ).fetchall()
    by_fips = con.execute(
        "SELECT region_key, province_state FROM covid.dim_region "
        "WHERE level = 'state' AND fips = ?",
        [state_fips],
    ).fetchall()
    assert len(named) == 1 and named[0][1] == state_fips, (
        f"{what} (raw FIPS {raw['FIPS']!r}): US state rows named {territory!r} are {named}, "
        f"state rows with fips {state_fips} are {by_fips}: expected one row with both"
    )
    got = _fact(con, _date_key(file_day), named[0][0], MEASURES_JHU, what)
    want = {m: _num(raw[m.capitalize()]) for m in MEASURES_JHU}
    assert got == want, f"{what} -> state {state_fips}: warehouse {got} != raw {want}"


# --------------------------------------------------------------------------- 4-5. CTP

CTP_STATE_EXAMPLES = [
    ("20200320", "WA"),
    ("20200415", "NY"),  # hospitalized filled
    ("20200501", "AL"),  # leading-zero fips 01
    ("20200601", "CA"),
    ("20200710", "GU"),  # territory
    ("20200816", "PR"),  # territory, the last date of the file
]


@pytest.mark.integration
@pytest.mark.parametrize(("day", "abbr"), CTP_STATE_EXAMPLES)
def test_ctp_state_measures_match_raw_row(con, day: str, abbr: str) -> None:
    what = f"CTP states_daily {abbr} on {day}"
    matches = [r for r in ctp_states() if r["date"] == day and r["state"] == abbr]
    assert len(matches) == 1, f"{what}: expected one raw row, found {len(matches)}"
    raw = matches[0]
    region_key = _state(con, raw["fips"], f"{what} (fips {raw['fips']})")
    region_abbr = _scalar(
        con, "SELECT state_abbr FROM covid.dim_region WHERE region_key = ?", [region_key]
    )
    assert region_abbr == abbr, f"{what}: region with fips {raw['fips']} has abbr {region_abbr}"
    got = _fact(con, int(day), region_key, MEASURES_CTP, what)
    want = {
        "positive": _num(raw["positive"]),
        "negative": _num(raw["negative"]),
        "hospitalized_currently": _num(raw["hospitalizedCurrently"]),
        "hospitalized": _num(raw["hospitalized"]),
    }
    assert got == want, f"{what}: warehouse {got} != raw {want}"


@pytest.mark.integration
@pytest.mark.parametrize("day", ["20200401", "20200816"])
def test_ctp_us_daily_matches_raw_row(con, day: str) -> None:
    what = f"CTP us_daily on {day}"
    matches = [r for r in ctp_us() if r["date"] == day]
    assert len(matches) == 1, f"{what}: expected one raw row, found {len(matches)}"
    raw = matches[0]
    region_key = _one_region(con, what, "level = 'country' AND country_region = 'US'", [])
    got = _fact(con, int(day), region_key, MEASURES_CTP, what)
    want = {
        "positive": _num(raw["positive"]),
        "negative": _num(raw["negative"]),
        "hospitalized_currently": _num(raw["hospitalizedCurrently"]),
        "hospitalized": _num(raw["hospitalized"]),
    }
    assert got == want, f"{what}: warehouse {got} != raw {want}"


# --------------------------------------------------------------------------- 6. hospitals

HOSPITAL_EXAMPLES = [
    1,  # Phoenix VA, Maricopa AZ: leading-zero FIPS 04013
    1069,  # Cook, IL
    1950,  # Wayne, MI
    4254,  # Puerto Rico (72005)
    4855,  # Larimer, CO: leading-zero FIPS 08069
]


@pytest.mark.integration
@pytest.mark.parametrize("objectid", HOSPITAL_EXAMPLES)
def test_hospital_matches_raw_record(con, objectid: int) -> None:
    what = f"hospital OBJECTID {objectid}"
    raw = hospitals()[objectid]
    rows = con.execute(
        "SELECT hospital_name, num_licensed_beds, num_icu_beds, fips, longitude, region_key "
        "FROM covid.dim_hospital WHERE objectid = ?",
        [objectid],
    ).fetchall()
    assert len(rows) == 1, f"{what}: expected one dim_hospital row, found {len(rows)}"
    name, licensed, icu, fips, longitude, region_key = rows[0]
    assert name == raw["HOSPITAL_NAME"], f"{what}: name {name!r} != raw {raw['HOSPITAL_NAME']!r}"
    assert licensed == raw["NUM_LICENSED_BEDS"], (
        f"{what}: num_licensed_beds {licensed} != raw {raw['NUM_LICENSED_BEDS']}"
    )
    assert icu == raw["NUM_ICU_BEDS"], f"{what}: num_icu_beds {icu} != raw {raw['NUM_ICU_BEDS']}"
    assert fips == raw["FIPS"], f"{what}: fips {fips!r} != raw {raw['FIPS']!r}"
    assert longitude == pytest.approx(raw["longtitude"]), (
        f"{what}: longitude {longitude} != raw longtitude {raw['longtitude']}"
    )
    region = con.execute(
        "SELECT level, fips FROM covid.dim_region WHERE region_key = ?", [region_key]
    ).fetchall()
    assert region == [("county", raw["FIPS"])], (
        f"{what}: region_key {region_key} is {region}, expected a county with fips {raw['FIPS']}"
    )


@pytest.mark.integration
def test_hospital_counts_match_raw_file(con) -> None:
    total = _scalar(con, "SELECT count(*) FROM covid.dim_hospital")
    assert total == hospital_line_count(), (
        f"dim_hospital has {total} rows, the raw file has {hospital_line_count()} JSON lines"
    )
    no_fips = sorted(oid for oid, rec in hospitals().items() if not rec.get("FIPS"))
    got = [
        r[0]
        for r in con.execute(
            "SELECT objectid FROM covid.dim_hospital WHERE region_key IS NULL ORDER BY objectid"
        ).fetchall()
    ]
    assert got == no_fips, (
        f"hospitals with NULL region_key {got} != raw records without FIPS {no_fips}"
    )


# --------------------------------------------------------------------------- 7. population


@pytest.mark.integration
@pytest.mark.parametrize("fips", ["01001", "02020", "06037", "36061", "48201"])
def test_county_population_is_census_2018(con, fips: str) -> None:
    what = f"county {fips} population"
    want = county_population()[fips]
    got = _scalar(
        con, "SELECT population FROM covid.dim_region WHERE level = 'county' AND fips = ?", [fips]
    )
    assert got == want, f"{what}: warehouse {got} != Census respop72018 {want}"


@pytest.mark.integration
@pytest.mark.parametrize("state_fips", ["01", "11", "44", "56"])
def test_state_population_is_sum_of_census_counties(con, state_fips: str) -> None:
    what = f"state {state_fips} population"
    counties = {f: p for f, p in county_population().items() if f[:2] == state_fips}
    assert counties, f"{what}: no counties of that state in the raw Census file"
    want = sum(counties.values())
    got = _scalar(
        con,
        "SELECT population FROM covid.dim_region WHERE level = 'state' AND fips = ?",
        [state_fips],
    )
    assert got == want, f"{what}: warehouse {got} != sum of {len(counties)} Census counties {want}"


# --------------------------------------------------------------------------- 8. no fan-out


@pytest.mark.integration
def test_dim_region_has_no_duplicates_and_stays_small(con) -> None:
    total = _scalar(con, "SELECT count(*) FROM covid.dim_region")
    assert 0 < total < 10_000, f"dim_region has {total} rows: a join fanned out"
    dups = con.execute(
        "SELECT level, country_region, province_state, county, fips, count(*) "
        "FROM covid.dim_region GROUP BY ALL HAVING count(*) > 1 LIMIT 10"
    ).fetchall()
    assert not dups, f"dim_region repeats (level, country, province, county, fips): {dups}"


@pytest.mark.integration
def test_dim_region_naming_conventions(con) -> None:
    shapes = con.execute(
        "SELECT level, country_region = 'US' AS us, "
        "regexp_replace(coalesce(fips, '-'), '[0-9]', '9', 'g') AS shape, count(*) "
        "FROM covid.dim_region GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    allowed = {
        ("county", True, "99999"),
        ("state", True, "99"),
        ("county", True, "-"),
        ("state", True, "-"),
        ("country", True, "-"),
        ("country", False, "-"),
        ("state", False, "-"),
    }
    odd = [s for s in shapes if s[:3] not in allowed]
    assert not odd, (
        f"dim_region fips shapes (level, is US, shape, rows) break the convention: {odd}"
    )
    names = {
        r[0] for r in con.execute("SELECT DISTINCT country_region FROM covid.dim_region").fetchall()
    }
    for raw_name in ("Mainland China", "Korea, South"):
        assert raw_name not in names, f"dim_region keeps the raw country name {raw_name!r}"
    for name in ("China", "South Korea", "US", "Italy"):
        assert name in names, f"dim_region has no country {name!r}"


@pytest.mark.integration
def test_fact_grain_is_unique(con) -> None:
    dups = con.execute(
        "SELECT date_key, region_key, count(*) FROM covid.fact_covid "
        "GROUP BY ALL HAVING count(*) > 1 LIMIT 10"
    ).fetchall()
    assert not dups, f"fact_covid repeats (date_key, region_key): {dups}"


@pytest.mark.integration
def test_nyt_county_fact_rows_equal_distinct_raw_places_and_days(con) -> None:
    want = len({(r["date"], r["fips"] or (r["county"], r["state"])) for r in nyt_county()})
    got = _scalar(
        con,
        "SELECT count(*) FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
        "WHERE r.level = 'county' AND f.nyt_cases IS NOT NULL",
    )
    assert got == want, (
        f"county fact rows with nyt_cases: {got}, distinct (date, fips or county+state) in "
        f"us_county.csv: {want}"
    )


@pytest.mark.integration
def test_ctp_state_fact_rows_equal_raw_rows_with_tests(con) -> None:
    want = len({(r["date"], r["state"]) for r in ctp_states() if r["positive"] or r["negative"]})
    got = _scalar(
        con,
        "SELECT count(*) FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key) "
        "WHERE r.level = 'state' AND (f.positive IS NOT NULL OR f.negative IS NOT NULL)",
    )
    assert got == want, (
        f"state fact rows with positive or negative: {got}, distinct (date, state) rows of "
        f"states_daily.csv with either: {want}"
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("column", "dimension"), [("region_key", "dim_region"), ("date_key", "dim_date")]
)
def test_fact_keys_exist_in_dimensions(con, column: str, dimension: str) -> None:
    orphans = con.execute(
        f"SELECT DISTINCT f.{column} FROM covid.fact_covid f "
        f"ANTI JOIN covid.{dimension} d ON d.{column} = f.{column} LIMIT 10"
    ).fetchall()
    nulls = _scalar(con, f"SELECT count(*) FROM covid.fact_covid WHERE {column} IS NULL")
    assert not orphans and nulls == 0, (
        f"fact_covid.{column} not in {dimension}: {orphans} (and {nulls} NULL)"
    )


# --------------------------------------------------------------------------- 9. dim_date


@pytest.mark.integration
def test_dim_date_spans_fact_dates_without_gaps(con) -> None:
    first, last = raw_source_dates()
    fact_min, fact_max = con.execute(
        "SELECT min(date_key), max(date_key) FROM covid.fact_covid"
    ).fetchone()
    assert (fact_min, fact_max) == (_date_key(first.isoformat()), _date_key(last.isoformat())), (
        f"fact dates {fact_min}..{fact_max} != raw source dates {first}..{last}"
    )
    days = [r[0] for r in con.execute("SELECT date FROM covid.dim_date ORDER BY date").fetchall()]
    want = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert days == want, (
        f"dim_date has {len(days)} days {days[:1]}..{days[-1:]}, expected {len(want)} days "
        f"{first}..{last} without gaps"
    )
    keys = _scalar(
        con,
        "SELECT count(*) FROM covid.dim_date "
        "WHERE date_key <> CAST(strftime(date, '%Y%m%d') AS INTEGER)",
    )
    assert keys == 0, f"{keys} dim_date rows whose date_key is not the date as yyyymmdd"


@pytest.mark.integration
@pytest.mark.parametrize(
    "day",
    [
        date(2020, 1, 21),
        date(2020, 2, 29),
        date(2020, 3, 22),
        date(2020, 12, 31),
        date(2021, 1, 3),
        date(2021, 6, 18),
    ],
)
def test_dim_date_attributes_agree_with_python(con, day: date) -> None:
    rows = con.execute(
        "SELECT year, quarter, month, day_of_month, day_of_week, iso_week, is_weekend "
        "FROM covid.dim_date WHERE date_key = ?",
        [_date_key(day.isoformat())],
    ).fetchall()
    assert len(rows) == 1, f"dim_date {day}: expected one row, found {rows}"
    want = (
        day.year,
        (day.month - 1) // 3 + 1,
        day.month,
        day.day,
        day.isoweekday(),
        day.isocalendar().week,
        day.isoweekday() >= 6,
    )
    assert rows[0] == want, f"dim_date {day} ({day:%A}): warehouse {rows[0]} != Python {want}"


# --------------------------------------------------------------------------- 10. reconciliation

RECONCILIATION = re.compile(
    r"^\s*(?P<table>\w+)\s+read\s+(?P<read>[\d,]+)\s*=\s*used\s+(?P<used>[\d,]+)"
    r"\s*\+\s*rejected\s+(?P<rejected>[\d,]+)",
    re.MULTILINE,
)


def _reconciliation(stderr: str) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for m in RECONCILIATION.finditer(stderr):
        read, used, rejected = (int(m[g].replace(",", "")) for g in ("read", "used", "rejected"))
        out[m["table"]] = (read, used, rejected)
    return out


@pytest.mark.integration
def test_reconciliation_adds_up(full_run) -> None:
    lines = _reconciliation(full_run.stderr)
    assert lines, f"no 'read ... = used ... + rejected ...' lines in stderr:\n{full_run.stderr}"
    bad = {t: v for t, v in lines.items() if v[0] != v[1] + v[2]}
    assert not bad, f"read != used + rejected for {bad}"


# Raw data-row counters, one per source table the run reports on.
RAW_ROW_COUNTS = {
    "us_county": (lambda: len(nyt_county()), 106_826),
    "enigma_jhu": (jhu_row_count, 567_126),
    "us_states": (lambda: len(nyt_states()), 26_029),
    "states_daily": (lambda: len(ctp_states()), 9_201),
    "us_daily": (lambda: len(ctp_us()), 208),
    "hospital_beds": (hospital_line_count, 6_637),
    "county_population": (lambda: len(county_population()), 3_142),
}


@pytest.mark.integration
@pytest.mark.parametrize("table", list(RAW_ROW_COUNTS))
def test_reconciliation_read_equals_raw_row_count(full_run, table: str) -> None:
    counter, documented = RAW_ROW_COUNTS[table]
    raw = counter()
    assert raw == documented, (
        f"{table}: counted {raw} raw data rows, SOURCES.md documents {documented}"
    )
    lines = _reconciliation(full_run.stderr)
    assert table in lines, f"{table}: no reconciliation line in stderr (tables: {list(lines)})"
    assert lines[table][0] == raw, f"{table}: run read {lines[table][0]}, raw has {raw} rows"
