"""report: what an analyst asks first, answered from the warehouse; plus the last run.

Prepared queries are data (`QUERIES`): a title and one SELECT over schema covid, written in
DuckDB's dialect and rendered by each warehouse for its own. Ratios are computed in DOUBLE and
rounded as DECIMAL, so every warehouse gives the same digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from covidlake.errors import CovidlakeError
from covidlake.query import rich_table
from covidlake.runs import RunRecord
from covidlake.transform.model import SCHEMA, STAR_TABLES
from covidlake.warehouses import Warehouse


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    sql: str


QUERIES: tuple[Query, ...] = (
    Query("top_county_deaths", "Ten US counties with the most deaths (JHU) on the last date",
          """
        WITH last AS (SELECT max(f.date_key) AS d FROM covid.fact_covid f
                      JOIN covid.dim_region r USING (region_key)
                      WHERE r.level = 'county' AND f.deaths IS NOT NULL)
        SELECT d.date, r.county, r.state_abbr AS state, f.deaths, f.confirmed, r.population,
               round(CAST(CAST(f.deaths AS DOUBLE) * 100000 / nullif(r.population, 0)
                          AS DECIMAL(18, 3)), 1) AS deaths_per_100k
        FROM covid.fact_covid f JOIN last ON f.date_key = last.d
        JOIN covid.dim_region r USING (region_key) JOIN covid.dim_date d USING (date_key)
        WHERE r.level = 'county' AND f.deaths IS NOT NULL
        ORDER BY f.deaths DESC, r.region_key LIMIT 10"""),
    Query("top_state_cases", "Ten US states with the most cases (NYT) on the last date", """
        WITH last AS (SELECT max(f.date_key) AS d FROM covid.fact_covid f
                      JOIN covid.dim_region r USING (region_key)
                      WHERE r.level = 'state' AND f.nyt_cases IS NOT NULL)
        SELECT d.date, r.province_state AS state, f.nyt_cases AS cases, f.nyt_deaths AS deaths,
               round(CAST(CAST(f.nyt_cases AS DOUBLE) * 100000 / nullif(r.population, 0)
                          AS DECIMAL(18, 3)), 1) AS cases_per_100k
        FROM covid.fact_covid f JOIN last ON f.date_key = last.d
        JOIN covid.dim_region r USING (region_key) JOIN covid.dim_date d USING (date_key)
        WHERE r.level = 'state' AND f.nyt_cases IS NOT NULL
        ORDER BY f.nyt_cases DESC, r.region_key LIMIT 10"""),
    Query("test_positivity", "Test positivity by state (COVID Tracking Project), last date", """
        WITH last AS (SELECT max(date_key) AS d FROM covid.fact_covid WHERE positive IS NOT NULL)
        SELECT d.date, r.province_state AS state, f.positive, f.negative,
               round(CAST(CAST(f.positive AS DOUBLE) * 100 / nullif(f.positive + f.negative, 0)
                          AS DECIMAL(18, 3)), 1) AS positivity_pct
        FROM covid.fact_covid f JOIN last ON f.date_key = last.d
        JOIN covid.dim_region r USING (region_key) JOIN covid.dim_date d USING (date_key)
        WHERE r.level = 'state' AND f.positive IS NOT NULL AND f.negative IS NOT NULL
        ORDER BY positivity_pct DESC, r.region_key LIMIT 10"""),
    Query("icu_beds_per_100k", "ICU beds per 100,000 people, fewest first (hospital beds)", """
        SELECT s.province_state AS state, sum(h.num_icu_beds) AS icu_beds, s.population,
               round(CAST(CAST(sum(h.num_icu_beds) AS DOUBLE) * 100000 / nullif(s.population, 0)
                          AS DECIMAL(18, 3)), 1) AS icu_per_100k
        FROM covid.dim_hospital h JOIN covid.dim_region c ON c.region_key = h.region_key
        JOIN covid.dim_region s ON s.level = 'state' AND s.fips = left(c.fips, 2)
        WHERE s.population IS NOT NULL
        GROUP BY s.province_state, s.population, s.fips
        ORDER BY icu_per_100k, s.fips LIMIT 10"""),
)


def fetch(warehouse: Warehouse, sql: str) -> pa.Table:
    """A report query's rows; a failure says to load (which also creates the views)."""
    try:
        return warehouse.query(sql)
    except Exception as exc:  # the driver's own error type differs per warehouse
        raise CovidlakeError(f"report query failed on {warehouse.url}: "
                             f"{str(exc).strip().splitlines()[0]}",
                             hint="run `covidlake load` first (it also creates the covid.v_* "
                                  "views)") from exc


def _table(title: str, data: pa.Table) -> Table:
    return rich_table(data, _fmt, title)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def report(warehouse: Warehouse, last: RunRecord | None, out: Console) -> None:
    """Print the report to `out`."""
    if last is not None:
        stages = ", ".join(f"{s.name} {s.seconds:.1f}s" for s in last.stages)
        out.print(f"[bold]Last run[/bold] {last.run_id} ({last.command}): {last.status}, "
                  f"{last.started_at} → {last.ended_at}; {stages}")
        if last.error:
            out.print(f"  error: {last.error}", markup=False)
    counts = Table(title="Rows per table", title_justify="left", title_style="bold")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for t in STAR_TABLES:
        n = fetch(warehouse, f"SELECT count(*) AS n FROM {SCHEMA}.{t.name}").column(0)[0]
        counts.add_row(t.name, f"{n.as_py():,}")
    out.print(counts)
    dq = fetch(warehouse, f"SELECT status, count(*) AS checks FROM {SCHEMA}.dq_results "
                           "GROUP BY status ORDER BY status")
    out.print("[bold]Data quality[/bold]: " + ", ".join(
        f"{r['checks']} {r['status']}" for r in dq.to_pylist()))
    flagged = fetch(warehouse, f"SELECT check_name, table_name, status, failing_rows, detail "
                                f"FROM {SCHEMA}.dq_results WHERE status <> 'pass' OR "
                                "check_name = 'reconciliation' ORDER BY status DESC, "
                                "table_name, check_name")
    out.print(_table("Checks that flagged rows, and reconciliation", flagged))
    for q in QUERIES:
        out.print(_table(q.title, fetch(warehouse, q.sql)))
