"""`covidlake report --html`: self-contained, and every number equals the warehouse's.

The report reads the analyst views; these tests recompute its numbers from the star tables
(fact_covid, dim_region, dim_hospital) with their own SQL, and from the lake's manifest.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from conftest import Done, cli
from covidlake.load import load
from covidlake.report.html import MIN_COUNTY_POPULATION, TOP_COUNTIES
from covidlake.store import open_store
from covidlake.warehouses import open_warehouse


class ReportPage(HTMLParser):
    """The report's numbers: tables by `data-table` (rows of column -> data-value), tiles by
    `data-tile`, and every chart's SVG markup."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.tiles: dict[str, str] = {}
        self.svgs: list[str] = []
        self._table: str | None = None
        self.tags: set[str] = set()
        self.feed(text)
        self.svgs = re.findall(r'<svg class="chart".*?</svg>', text, re.S)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append({})
        elif tag == "td" and self._table and "data-col" in a:
            self.tables[self._table][-1][a["data-col"]] = a.get("data-value") or ""
        elif "data-tile" in a:
            self.tiles[a["data-tile"]] = a.get("data-value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None

    def rows(self, table: str) -> list[dict[str, str]]:
        return [r for r in self.tables[table] if r]  # the header row has no data cells


def _report(run: Done, tmp_path: Path, *extra: str) -> ReportPage:
    proc = cli("report", "--lake", str(run.lake), "--warehouse", str(run.warehouse),
               "--html", str(tmp_path / "report"), *extra, cwd=tmp_path)
    path = Path(proc.stdout.strip())
    assert path == tmp_path / "report" / "index.html"
    return ReportPage(path.read_text(encoding="utf-8"))


def _num(v: str) -> float | None:
    return float(v) if v else None


US_STATE = ("r.level = 'state' AND r.country_region = 'US' AND r.fips IS NOT NULL")


@pytest.fixture(scope="module")
def sample_page(sample_run: Done, tmp_path_factory: pytest.TempPathFactory) -> ReportPage:
    return _report(sample_run, tmp_path_factory.mktemp("report"))


def test_the_page_needs_nothing_from_the_network(sample_page: ReportPage,
                                                  sample_run: Done) -> None:
    assert "script" not in sample_page.tags and "link" not in sample_page.tags
    assert "img" not in sample_page.tags and "iframe" not in sample_page.tags
    text = "".join(sample_page.svgs)
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "")
    assert len(sample_page.svgs) >= 7  # US cases, deaths, 2 state grids, tests, counties, beds


def test_every_chart_has_marks(sample_page: ReportPage) -> None:
    for svg in sample_page.svgs:
        title = re.search(r"<title>(.*?)</title>", svg).group(1)
        assert "no data" not in svg, title
        assert re.search(r'<path d="M[\d.]+,[\d.]+ L|<rect x="150"', svg), title


def test_headline_numbers_equal_the_star_tables(sample_page: ReportPage,
                                                sample_run: Done) -> None:
    with sample_run.connect() as con:
        last, cases, deaths = con.execute(f"""
            SELECT f.date_key, sum(f.nyt_cases), sum(f.nyt_deaths) FROM covid.fact_covid f
            JOIN covid.dim_region r USING (region_key) WHERE {US_STATE}
            AND f.nyt_cases IS NOT NULL GROUP BY 1 ORDER BY 1 DESC LIMIT 1""").fetchone()
        hospitals = con.execute("SELECT count(*) FROM covid.dim_hospital").fetchone()[0]
        places = con.execute("SELECT count(*) FROM covid.dim_region").fetchone()[0]
    assert (int(sample_page.tiles["us_cases"]), int(sample_page.tiles["us_deaths"])) == (
        cases, deaths)
    assert int(sample_page.tiles["hospitals"]) == hospitals
    assert int(sample_page.tiles["places"]) == places
    us = {r["date"]: r for r in sample_page.rows("us_daily")}
    assert int(us[f"{str(last)[:4]}-{str(last)[4:6]}-{str(last)[6:]}"]["cases"]) == cases


def test_positivity_equals_the_ctp_figures(sample_page: ReportPage, sample_run: Done) -> None:
    rows = sample_page.rows("positivity")
    assert rows
    with sample_run.connect() as con:
        for row in rows:
            now, week = con.execute(f"""
                SELECT (SELECT f.positive || ',' || f.negative FROM covid.fact_covid f
                        JOIN covid.dim_region r USING (region_key) JOIN covid.dim_date d
                        USING (date_key) WHERE {US_STATE} AND d.date = $d
                        AND coalesce(r.province_state, r.state_abbr) = $s),
                       (SELECT f.positive || ',' || f.negative FROM covid.fact_covid f
                        JOIN covid.dim_region r USING (region_key) JOIN covid.dim_date d
                        USING (date_key) WHERE {US_STATE} AND d.date = $d::DATE - 7
                        AND coalesce(r.province_state, r.state_abbr) = $s)""",
                                    {"d": row["date"], "s": row["state"]}).fetchone()
            (p1, n1), (p0, n0) = (map(int, now.split(",")), map(int, week.split(",")))
            want = (p1 - p0) * 100 / ((p1 + n1) - (p0 + n0))
            assert _num(row["positivity_7d_pct"]) == pytest.approx(want), row["state"]
    shown = [_num(r["positivity_7d_pct"]) for r in rows]
    assert shown == sorted(shown, reverse=True)  # ranked


def test_county_ranking_equals_the_star_tables(sample_page: ReportPage,
                                               sample_run: Done) -> None:
    with sample_run.connect() as con:
        want = con.execute(f"""
            WITH last AS (SELECT f.region_key, max(f.date_key) AS k FROM covid.fact_covid f
                          WHERE f.nyt_cases IS NOT NULL GROUP BY 1)
            SELECT r.fips, f.nyt_deaths, f.nyt_deaths * 100000.0 / r.population AS per
            FROM last JOIN covid.fact_covid f ON f.region_key = last.region_key
                 AND f.date_key = last.k
            JOIN covid.dim_region r ON r.region_key = f.region_key
            WHERE r.level = 'county' AND r.country_region = 'US'
              AND r.population >= {MIN_COUNTY_POPULATION} AND f.nyt_deaths IS NOT NULL
            ORDER BY per DESC, r.region_key LIMIT {TOP_COUNTIES}""").fetchall()
    got = [(r["fips"], int(r["deaths"]), float(r["deaths_per_100k"]))
           for r in sample_page.rows("county_rank")]
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([float(w[2]) for w in want])


def test_capacity_equals_the_hospital_dimension(sample_page: ReportPage,
                                                sample_run: Done) -> None:
    with sample_run.connect() as con:
        want = dict(con.execute("SELECT hq_state, sum(num_icu_beds) FROM covid.dim_hospital "
                                "GROUP BY 1").fetchall())
        names = dict(con.execute("SELECT coalesce(province_state, state_abbr), state_abbr FROM "
                                 "covid.dim_region r WHERE " + US_STATE).fetchall())
    got = {names[r["state"]]: int(r["icu_beds"]) if r["icu_beds"] else None
           for r in sample_page.rows("capacity")}
    assert got == want


def test_quality_reconciliation_and_lineage_equal_the_lake(sample_page: ReportPage,
                                                           sample_run: Done) -> None:
    manifest = json.loads((sample_run.lake / "star/_manifest.json").read_text())
    recon = {r["source_table"]: r for r in sample_page.rows("reconciliation")}
    assert set(recon) == {r["source_table"] for r in manifest["reconciliation"]}
    for r in manifest["reconciliation"]:
        got = recon[r["source_table"]]
        assert (int(got["rows_read"]), int(got["rows_used"]), int(got["rows_rejected"])) == (
            r["rows_read"], r["rows_used"], r["rows_rejected"])
    with sample_run.connect() as con:
        dq = con.execute("SELECT count(*) FROM covid.dq_results").fetchone()[0]
        counts = {t: con.execute(f"SELECT count(*) FROM covid.{t}").fetchone()[0]
                  for t in ("fact_covid", "dim_region", "dim_date", "dim_hospital")}
        run_id = con.execute("SELECT run_id FROM covid.load_history").fetchone()[0]
    assert len(sample_page.rows("dq_results")) == dq
    lineage = {r["table"]: r for r in sample_page.rows("lineage")}
    for t, n in counts.items():
        assert int(lineage[t]["rows"]) == n
        sha = next(t2["files"] for t2 in manifest["tables"] if t2["name"] == t)
        assert all(h[:12] in lineage[t]["files"] for h in sha.values())
    assert "hospital_beds" in lineage["dim_hospital"]["sources"]
    catalog = json.loads((sample_run.lake / "_catalog/catalog.json").read_text())["tables"]
    for r in sample_page.rows("sources"):
        assert int(r["version"]) == catalog[r["source"]]["version"]
    assert run_id  # the loading run is named on the page, found in the lake's run records
    assert (sample_run.lake / "_runs" / f"{run_id}.json").exists()


def test_the_report_over_postgresql_shows_the_same_numbers(sample_run: Done,
                                                           sample_page: ReportPage,
                                                           pg_url: str, tmp_path: Path) -> None:
    wh = open_warehouse(pg_url)
    load(open_store(str(sample_run.lake)), wh, "pg-report")
    wh.close()
    proc = cli("report", "--lake", str(sample_run.lake), "--warehouse", pg_url, "--html",
               str(tmp_path / "pg"), cwd=tmp_path)
    page = ReportPage(Path(proc.stdout.strip()).read_text(encoding="utf-8"))
    assert page.tiles == sample_page.tiles
    for name, rows in sample_page.tables.items():
        if name == "lineage":
            continue
        got = page.tables[name]
        assert len(got) == len(rows), name
        for a, b in zip(got, rows, strict=True):
            for k in b:
                if re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", b[k] or ""):
                    assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-9), (name, k)
                else:
                    assert a[k] == b[k], (name, k)


def test_a_missing_warehouse_is_a_clear_error(sample_run: Done, tmp_path: Path) -> None:
    proc = cli("report", "--lake", str(sample_run.lake), "--warehouse",
               str(tmp_path / "none.duckdb"), "--html", str(tmp_path / "r"), cwd=tmp_path,
               check=False)
    assert proc.returncode == 1
    assert "no warehouse at" in proc.stderr and "covidlake run" in proc.stderr
    assert not (tmp_path / "none.duckdb").exists()  # a reader creates nothing


def test_a_warehouse_without_views_says_to_load(sample_run: Done, tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # loaded by a covidlake that made no views
        con.execute(f"ATTACH '{sample_run.warehouse}' AS src (READ_ONLY)")
        con.execute("CREATE SCHEMA covid")
        for t in ("fact_covid", "dim_region", "dim_date", "dim_hospital", "dq_results",
                  "load_history"):
            con.execute(f"CREATE TABLE covid.{t} AS SELECT * FROM src.covid.{t}")
    proc = cli("report", "--lake", str(sample_run.lake), "--warehouse", str(path), "--html",
               str(tmp_path / "r"), cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "covidlake load" in proc.stderr
    # and load, seeing the same star version but no views, loads again instead of skipping
    proc = cli("load", "--lake", str(sample_run.lake), "--warehouse", str(path), cwd=tmp_path)
    assert "already has" not in proc.stderr
    cli("report", "--lake", str(sample_run.lake), "--warehouse", str(path), "--html",
        str(tmp_path / "r"), cwd=tmp_path)
