"""Prepared analyst views over the star schema, created by every load in the same transaction.

Each view is written once, in DuckDB's dialect, and rendered by sqlglot for the warehouse's
own (PostgreSQL, Redshift). What keeps them identical everywhere:

- every division is over DOUBLE (PostgreSQL would divide integers as integers);
- day arithmetic is a join on `date - INTERVAL n DAY`, so a missing day gives NULL instead
  of silently averaging over the wrong window (a ROWS frame would);
- no RANGE frames, FILTER clauses or other constructs Redshift lacks;
- sums are cast to BIGINT (SUM of BIGINT is HUGEINT in DuckDB, NUMERIC in PostgreSQL).

Sources, chosen per question: US cases and deaths come from the New York Times series (the
only US source complete at state and county level over the whole period); testing and
hospitalisation from the COVID Tracking Project; capacity from the hospital-beds source;
population from the Census estimates in dim_region.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from covidlake.errors import QueryError
from covidlake.transform.model import SCHEMA


@dataclass(frozen=True)
class View:
    name: str
    description: str
    sql: str  # a SELECT in DuckDB's dialect over schema covid


_US_STATES = ("r.level = 'state' AND r.country_region = 'US' AND r.fips IS NOT NULL")
_PER_100K = "CAST({x} AS DOUBLE) * 100000 / NULLIF({pop}, 0)"


def _per_100k(x: str, pop: str = "s.population") -> str:
    return _PER_100K.format(x=x, pop=pop)


VIEWS: tuple[View, ...] = (
    View("v_daily_state",
         "One row per US state or territory and day: NYT cumulative cases and deaths, new "
         "ones (day over day and 7-day average), per 100k, and CTP testing (cumulative and "
         "7-day positivity: NULL when the week's negatives did not grow, i.e. were not "
         "reported, or its positives fell) and hospitalisations.", f"""
        WITH s AS (
            SELECT r.region_key, d.date, COALESCE(r.province_state, r.state_abbr) AS state,
                   r.state_abbr, r.fips, r.population, f.nyt_cases AS cases,
                   f.nyt_deaths AS deaths, f.positive, f.negative, f.hospitalized_currently
            FROM covid.fact_covid f
            JOIN covid.dim_region r ON r.region_key = f.region_key
            JOIN covid.dim_date d ON d.date_key = f.date_key
            WHERE {_US_STATES} AND (f.nyt_cases IS NOT NULL OR f.nyt_deaths IS NOT NULL
                                    OR f.positive IS NOT NULL OR f.negative IS NOT NULL
                                    OR f.hospitalized_currently IS NOT NULL))
        SELECT s.date, s.region_key, s.state, s.state_abbr, s.fips, s.population,
               s.cases, s.deaths,
               s.cases - p.cases AS new_cases,
               s.deaths - p.deaths AS new_deaths,
               CAST(s.cases - w.cases AS DOUBLE) / 7 AS new_cases_7d,
               CAST(s.deaths - w.deaths AS DOUBLE) / 7 AS new_deaths_7d,
               {_per_100k("s.cases")} AS cases_per_100k,
               {_per_100k("s.deaths")} AS deaths_per_100k,
               {_per_100k("s.cases - w.cases")} / 7 AS new_cases_7d_per_100k,
               {_per_100k("s.deaths - w.deaths")} / 7 AS new_deaths_7d_per_100k,
               s.positive, s.negative, s.positive + s.negative AS tests,
               CAST(s.positive AS DOUBLE) * 100 / NULLIF(s.positive + s.negative, 0)
                   AS positivity_pct,
               CASE WHEN s.positive >= w.positive AND s.negative > w.negative
                    THEN CAST(s.positive - w.positive AS DOUBLE) * 100
                         / ((s.positive + s.negative) - (w.positive + w.negative))
               END AS positivity_7d_pct,
               s.hospitalized_currently
        FROM s
        LEFT JOIN s p ON p.region_key = s.region_key AND p.date = s.date - INTERVAL 1 DAY
        LEFT JOIN s w ON w.region_key = s.region_key AND w.date = s.date - INTERVAL 7 DAY"""),
    View("v_daily_us",
         "One row per day for the United States: NYT cases and deaths summed over the states "
         "and territories (and how many reported), new ones and 7-day averages; CTP national "
         "testing and hospitalisations.", """
        WITH n AS (
            SELECT date, CAST(SUM(cases) AS BIGINT) AS cases,
                   CAST(SUM(deaths) AS BIGINT) AS deaths,
                   COUNT(cases) AS states_reporting
            FROM covid.v_daily_state GROUP BY date),
        c AS (
            SELECT d.date, f.positive, f.negative, f.hospitalized_currently
            FROM covid.fact_covid f
            JOIN covid.dim_region r ON r.region_key = f.region_key
            JOIN covid.dim_date d ON d.date_key = f.date_key
            WHERE r.level = 'country' AND r.country_region = 'US'
              AND (f.positive IS NOT NULL OR f.negative IS NOT NULL
                   OR f.hospitalized_currently IS NOT NULL)),
        u AS (
            SELECT COALESCE(n.date, c.date) AS date, n.states_reporting, n.cases, n.deaths,
                   c.positive, c.negative, c.hospitalized_currently
            FROM n FULL OUTER JOIN c ON c.date = n.date)
        SELECT u.date, u.states_reporting, u.cases, u.deaths,
               u.cases - p.cases AS new_cases, u.deaths - p.deaths AS new_deaths,
               CAST(u.cases - w.cases AS DOUBLE) / 7 AS new_cases_7d,
               CAST(u.deaths - w.deaths AS DOUBLE) / 7 AS new_deaths_7d,
               u.positive, u.negative, u.positive + u.negative AS tests,
               CAST(u.positive AS DOUBLE) * 100 / NULLIF(u.positive + u.negative, 0)
                   AS positivity_pct,
               u.hospitalized_currently
        FROM u
        LEFT JOIN u p ON p.date = u.date - INTERVAL 1 DAY
        LEFT JOIN u w ON w.date = u.date - INTERVAL 7 DAY"""),
    View("v_daily_county",
         "One row per US county and day with NYT figures: cumulative cases and deaths and "
         "per 100k (NULL where the county has no population, e.g. Unassigned).", f"""
        SELECT d.date, r.region_key, r.province_state AS state, r.state_abbr, r.county,
               r.fips, r.population, f.nyt_cases AS cases, f.nyt_deaths AS deaths,
               {_per_100k("f.nyt_cases", "r.population")} AS cases_per_100k,
               {_per_100k("f.nyt_deaths", "r.population")} AS deaths_per_100k
        FROM covid.fact_covid f
        JOIN covid.dim_region r ON r.region_key = f.region_key
        JOIN covid.dim_date d ON d.date_key = f.date_key
        WHERE r.level = 'county' AND r.country_region = 'US' AND f.nyt_cases IS NOT NULL"""),
    View("v_county_latest",
         "One row per US county: its last day with NYT figures, cumulative cases and deaths "
         "and per 100k.", """
        SELECT c.region_key, c.state, c.state_abbr, c.county, c.fips, c.population,
               c.date, c.cases, c.deaths, c.cases_per_100k, c.deaths_per_100k
        FROM covid.v_daily_county c
        JOIN (SELECT region_key, MAX(date) AS date FROM covid.v_daily_county
              GROUP BY region_key) l ON l.region_key = c.region_key AND l.date = c.date"""),
    View("v_state_capacity",
         "One row per US state or territory with hospitals: hospitals, licensed, staffed and "
         "ICU beds, and beds per 100k people. A hospital's state is its headquarters' state.",
         f"""
        SELECT r.region_key, COALESCE(r.province_state, r.state_abbr) AS state, r.state_abbr,
               r.fips, r.population, COUNT(*) AS hospitals,
               CAST(SUM(h.num_licensed_beds) AS BIGINT) AS licensed_beds,
               CAST(SUM(h.num_staffed_beds) AS BIGINT) AS staffed_beds,
               CAST(SUM(h.num_icu_beds) AS BIGINT) AS icu_beds,
               {_per_100k("SUM(h.num_staffed_beds)", "r.population")} AS staffed_beds_per_100k,
               {_per_100k("SUM(h.num_icu_beds)", "r.population")} AS icu_beds_per_100k
        FROM covid.dim_hospital h
        JOIN covid.dim_region r ON r.state_abbr = h.hq_state AND {_US_STATES}
        GROUP BY r.region_key, r.province_state, r.state_abbr, r.fips, r.population"""),
)
BY_NAME = {v.name: v for v in VIEWS}
# the dialect the views are written in (sqlglot's name); loading sqlglot and transpiling
# the views to it cost a DuckDB warehouse's load 0.24 s
WRITTEN_IN = "duckdb"


def render(view: View, dialect: str) -> str:
    """`CREATE VIEW` for a warehouse's sqlglot dialect; a construct sqlglot cannot carry
    over is an error, not a guess.

    >>> print(render(View("v", "", "SELECT d.date - INTERVAL 7 DAY AS w FROM covid.dim_date d"),
    ...              "postgres"))
    CREATE VIEW covid.v AS SELECT d.date - INTERVAL '7 DAY' AS w FROM covid.dim_date AS d
    """
    if dialect == WRITTEN_IN:  # as written: transpiling to itself would only cost time
        return f"CREATE VIEW {SCHEMA}.{view.name} AS {view.sql.strip()}"
    import sqlglot  # here, not at import: a run that renders no view does not pay for it

    try:
        select = sqlglot.transpile(view.sql, read=WRITTEN_IN, write=dialect,
                                   unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"view {view.name} cannot be written for {dialect}: {exc}") from exc
    return f"CREATE VIEW {SCHEMA}.{view.name} AS {select}"


def fingerprint() -> str:
    """Changes when any view's definition does."""
    text = "\n".join(f"{v.name}\n{v.sql}" for v in VIEWS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
