"""`report --html DIR`: one self-contained HTML file (inline CSS and SVG; no script, no font,
no request) an analyst can open from disk, mail or print.

Every number comes from the warehouse's analyst views (views.py) and star tables, queried in
DuckDB's dialect and rendered for the warehouse, so the report over PostgreSQL or Redshift shows
what it shows over DuckDB. Lineage and reconciliation come from the lake (catalog, star
manifest, run records). Each table of numbers carries its raw values in `data-value`
attributes: the tests compare them with the warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from covidlake import __version__
from covidlake.catalog import Catalog, TableDef
from covidlake.errors import CovidlakeError
from covidlake.export import StarManifest
from covidlake.report import fetch
from covidlake.report.charts import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    RED,
    Panel,
    Series,
    bar_chart,
    line_chart,
    small_multiples,
)
from covidlake.runs import RunRecord, read_run
from covidlake.store import ObjectStore
from covidlake.store.local import write_atomically
from covidlake.transform.lineage import sources
from covidlake.transform.model import SCHEMA, STAR_TABLES
from covidlake.views import VIEWS
from covidlake.warehouses import Warehouse

MIN_COUNTY_POPULATION = 10_000  # smaller counties swing wildly per 100k; ranked apart
TOP_COUNTIES = 24

SQL = {
    "us": "SELECT * FROM covid.v_daily_us ORDER BY date",
    "states": "SELECT date, state, state_abbr, fips, population, cases, deaths, "
              "new_cases_7d_per_100k, new_deaths_7d_per_100k, positive, negative, tests, "
              "positivity_7d_pct FROM covid.v_daily_state ORDER BY fips, date",
    "county_rank": "SELECT region_key, state_abbr, county, fips, population, date, cases, "
                   "deaths, deaths_per_100k FROM covid.v_county_latest WHERE population >= "
                   f"{MIN_COUNTY_POPULATION} AND deaths_per_100k IS NOT NULL "
                   f"ORDER BY deaths_per_100k DESC, region_key LIMIT {TOP_COUNTIES}",
    "capacity": "SELECT state, state_abbr, fips, population, hospitals, staffed_beds, icu_beds, "
                "staffed_beds_per_100k, icu_beds_per_100k FROM covid.v_state_capacity "
                "ORDER BY fips",
    "dq": "SELECT check_name, table_name, status, severity, failing_rows, detail "
          "FROM covid.dq_results ORDER BY CASE status WHEN 'fail' THEN 0 WHEN 'warn' THEN 1 "
          "ELSE 2 END, table_name, check_name",
    "loads": "SELECT run_id, star_version, loaded_at FROM covid.load_history "
             "ORDER BY loaded_at DESC LIMIT 1",
    "regions": "SELECT level, count(*) AS n FROM covid.dim_region GROUP BY level",
}


@dataclass
class ReportData:
    generated_at: str
    warehouse: str
    rows: dict[str, list[dict[str, Any]]]
    counts: dict[str, int]
    county_series: list[dict[str, Any]]
    manifest: StarManifest | None
    catalog: dict[str, TableDef]
    run: RunRecord | None  # the run that loaded what the warehouse holds
    notes: list[str] = field(default_factory=list)


def _query(warehouse: Warehouse, sql: str) -> list[dict[str, Any]]:
    return fetch(warehouse, sql).to_pylist()


def gather(warehouse: Warehouse, lake: ObjectStore, catalog: Catalog) -> ReportData:
    rows = {name: _query(warehouse, sql) for name, sql in SQL.items()}
    counts = {t.name: _query(warehouse, f"SELECT count(*) AS n FROM {SCHEMA}.{t.name}")[0]["n"]
              for t in STAR_TABLES}
    keys = ", ".join(str(r["region_key"]) for r in rows["county_rank"]) or "NULL"
    series = _query(warehouse, "SELECT region_key, date, deaths_per_100k FROM "
                               f"covid.v_daily_county WHERE region_key IN ({keys}) "
                               "ORDER BY region_key, date")
    manifest = StarManifest.read(lake)
    load = rows["loads"][0] if rows["loads"] else None
    notes = []
    if load and manifest and manifest.version != load["star_version"]:
        notes.append(f"The lake's star schema is version {manifest.version}, the warehouse "
                     f"holds {load['star_version']}: run `covidlake load` to bring it up to "
                     "date. Lineage below describes the lake.")
    return ReportData(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        warehouse=warehouse.url, rows=rows, counts=counts, county_series=series,
        manifest=manifest, catalog={t.name: t for t in catalog.tables()},
        run=read_run(lake, load["run_id"]) if load else None, notes=notes)


# -- formatting --------------------------------------------------------------------------------

def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _raw(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return str(v)


Column = tuple[str, str, int]  # key, header, decimals


def _table(name: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column],
           caption: str = "", cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in columns)
    body = []
    for r in rows:
        cells = []
        for key, _, digits in columns:
            v = r.get(key)
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(f'<td data-col="{escape(key)}" data-value="{escape(_raw(v))}"'
                         f'{" class=num" if num else ""}>{escape(_fmt(v, digits))}</td>')
        status = r.get("status")
        body.append(f'<tr{f" class=s-{escape(status)}" if status else ""}>{"".join(cells)}</tr>')
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f'<table data-table="{escape(name)}" class="{cls}">{cap}<thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table>')


def _figure(svg: str, caption: str, data: str = "") -> str:
    more = (f"<details><summary>The numbers behind this chart</summary>{data}</details>"
            if data else "")
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption>{more}</figure>"


def _by(rows: Sequence[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _latest(rows: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((r for r in reversed(rows) if r.get(key) is not None), None)


# -- sections ----------------------------------------------------------------------------------

def _headline(d: ReportData) -> str:
    us = d.rows["us"]
    last = _latest(us, "cases")
    tiles = []
    if last:
        tiles += [("US cases (NYT)", last["cases"], f"as of {last['date']}", "us_cases"),
                  ("US deaths (NYT)", last["deaths"], f"as of {last['date']}", "us_deaths"),
                  ("New cases, 7-day average", last["new_cases_7d"],
                   f"week to {last['date']}", "us_new_cases_7d")]
    ctp = _latest(us, "positive")
    if ctp:
        tiles.append(("US tests (CTP)", ctp["tests"], f"as of {ctp['date']}", "us_tests"))
    levels = {r["level"]: r["n"] for r in d.rows["regions"]}
    plural = {"country": "countries", "state": "states or provinces", "county": "counties"}
    tiles += [("Places", sum(levels.values()), ", ".join(
                  f"{levels[k]:,} {plural[k]}" for k in plural if k in levels), "places"),
              ("Hospitals", d.counts["dim_hospital"], "hospital-beds source", "hospitals")]
    out = []
    for label, value, note, key in tiles:
        out.append(f'<div class="tile"><div class="label">{escape(label)}</div>'
                   f'<div class="value" data-tile="{key}" data-value="{escape(_raw(value))}">'
                   f'{escape(_fmt(value, 0))}</div><div class="note">{escape(note)}</div></div>')
    return f'<div class="tiles">{"".join(out)}</div>'


def _national(d: ReportData) -> str:
    us = [r for r in d.rows["us"] if r["cases"] is not None]
    cases = line_chart([
        Series("new cases per day", [(r["date"], r["new_cases"]) for r in us], GREY, 1.2),
        Series("7-day average", [(r["date"], r["new_cases_7d"]) for r in us], BLUE, 2.4)],
        title="United States: new cases per day (NYT)", y_label="cases per day",
        desc="Daily new cases and their 7-day average, summed over states and territories.")
    deaths = line_chart([
        Series("new deaths per day", [(r["date"], r["new_deaths"]) for r in us], GREY, 1.2),
        Series("7-day average", [(r["date"], r["new_deaths_7d"]) for r in us], RED, 2.4)],
        title="United States: new deaths per day (NYT)", y_label="deaths per day")
    cols: list[Column] = [("date", "date", 0), ("states_reporting", "states", 0),
                          ("cases", "cases", 0), ("deaths", "deaths", 0),
                          ("new_cases_7d", "new cases (7-day avg)", 1),
                          ("new_deaths_7d", "new deaths (7-day avg)", 1)]
    data = _table("us_daily", us[::-1], cols)
    return (_figure(cases, "Grey: new cases reported each day (corrections upstream can make a "
                    "day negative). Blue: the 7-day average, (cumulative today − cumulative a "
                    "week ago) / 7; missing where a week earlier has no report.", data)
            + _figure(deaths, "Grey: new deaths each day. Red: the 7-day average."))


def _states(d: ReportData) -> str:
    by_state = _by(d.rows["states"], "fips")
    panels_c, panels_d = [], []
    for rows in by_state.values():
        name = rows[0]["state_abbr"] or rows[0]["state"]
        lc, ld = _latest(rows, "new_cases_7d_per_100k"), _latest(rows, "new_deaths_7d_per_100k")
        if lc:
            panels_c.append((lc["new_cases_7d_per_100k"], Panel(
                name, [Series(name, [(r["date"], r["new_cases_7d_per_100k"]) for r in rows],
                              BLUE, 1.5)], f"{lc['new_cases_7d_per_100k']:.1f}")))
        if ld:
            panels_d.append((ld["new_deaths_7d_per_100k"], Panel(
                name, [Series(name, [(r["date"], r["new_deaths_7d_per_100k"]) for r in rows],
                              RED, 1.5)], f"{ld['new_deaths_7d_per_100k']:.2f}")))
    out = []
    for panels, what in ((panels_c, "cases"), (panels_d, "deaths")):
        ranked = [p for _, p in sorted(panels, key=lambda x: (-x[0], x[1].label))]
        out.append(_figure(small_multiples(
            ranked, title=f"New {what} per 100,000 people, 7-day average, by state (NYT)"),
            "One panel per state or territory with a population, ranked by the latest "
            "value (printed top right); all panels share one scale."))
    if not panels_c:
        out.append("<p class=empty>No state has a population and a week of NYT figures.</p>")
    return "".join(out)


def _testing(d: ReportData) -> str:
    latest = []
    for rows in _by(d.rows["states"], "fips").values():
        last = _latest(rows, "positivity_7d_pct")
        if last:
            latest.append(last)
    latest.sort(key=lambda r: (-r["positivity_7d_pct"], r["fips"]))
    chart = bar_chart([(r["state"], r["positivity_7d_pct"]) for r in latest],
                      title="Test positivity by state, last 7 days reported (CTP)", unit="%",
                      color=PURPLE)
    cols: list[Column] = [("state", "state", 0), ("date", "week to", 0),
                          ("positivity_7d_pct", "positivity, 7 days (%)", 1),
                          ("positive", "positive (cumulative)", 0),
                          ("tests", "tests (cumulative)", 0)]
    return _figure(chart, "New positive results as a share of new test results over the 7 days "
                   "to each state's last usable report: a week in which the state reported no "
                   "new negative results, or revised its positives down, is skipped.",
                   _table("positivity", latest, cols))


def _counties(d: ReportData) -> str:
    rank = d.rows["county_rank"]
    series = _by(d.county_series, "region_key")
    panels = [Panel(f"{r['county']}, {r['state_abbr']}", [Series(
        r["county"], [(s["date"], s["deaths_per_100k"]) for s in series.get(r["region_key"], [])],
        RED, 1.5)], f"{r['deaths_per_100k']:.0f}") for r in rank]
    chart = small_multiples(panels, title="Cumulative deaths per 100,000 people: the "
                            f"{len(rank)} hardest-hit counties (NYT)", columns=6)
    cols: list[Column] = [("county", "county", 0), ("state_abbr", "state", 0),
                          ("fips", "FIPS", 0), ("population", "population", 0),
                          ("date", "as of", 0),
                          ("deaths", "deaths", 0), ("deaths_per_100k", "per 100k", 1)]
    return _figure(chart, f"Counties with at least {MIN_COUNTY_POPULATION:,} people (Census "
                   "2018 estimate), ranked by cumulative deaths per 100,000 on their last "
                   "reported day; one shared scale.", _table("county_rank", rank, cols))


def _capacity(d: ReportData) -> str:
    rows = d.rows["capacity"]
    out = []
    for key, title, color in (("staffed_beds_per_100k", "Staffed hospital beds", GREEN),
                              ("icu_beds_per_100k", "ICU beds", ORANGE)):
        ranked = sorted((r for r in rows if r[key] is not None),
                        key=lambda r: (-r[key], r["fips"]))
        out.append(_figure(bar_chart([(r["state"], r[key]) for r in ranked],
                                     title=f"{title} per 100,000 people, by state",
                                     color=color), "Beds of the hospitals headquartered in the "
                           "state (hospital-beds source) over its Census 2018 population."))
    cols: list[Column] = [("state", "state", 0), ("hospitals", "hospitals", 0),
                          ("staffed_beds", "staffed beds", 0), ("icu_beds", "ICU beds", 0),
                          ("population", "population", 0),
                          ("staffed_beds_per_100k", "staffed / 100k", 1),
                          ("icu_beds_per_100k", "ICU / 100k", 1)]
    return "".join(out) + _table("capacity", rows, cols, "Hospital capacity by state")


def _quality(d: ReportData) -> str:
    dq = d.rows["dq"]
    tally: dict[str, int] = defaultdict(int)
    for r in dq:
        tally[r["status"]] += 1
    summary = " ".join(f'<span class="badge s-{s}">{n} {s}</span>' for s, n in sorted(
        tally.items()))
    recon = d.manifest.reconciliation if d.manifest else []
    rec_rows = [{**r, "reasons": "; ".join(f"{k}: {v:,}" for k, v in r["reasons"].items())}
                for r in recon]
    cols: list[Column] = [("source_table", "source", 0), ("rows_read", "rows read", 0),
                          ("rows_used", "used", 0), ("rows_rejected", "rejected", 0),
                          ("reasons", "why rejected", 0)]
    return (f"<p>{summary}</p>"
            + _table("reconciliation", rec_rows, cols,
                     "Every source row is used or rejected with a reason: read = used + "
                     "rejected. Rejected rows are in the lake under rejects/.")
            + _table("dq_results", dq, [("check_name", "check", 0), ("table_name", "table", 0),
                                        ("status", "status", 0), ("severity", "severity", 0),
                                        ("failing_rows", "rows flagged", 0),
                                        ("detail", "detail", 0)],
                     "Data-quality checks of this star version", cls="dq"))


def _lineage(d: ReportData) -> str:
    load = d.rows["loads"][0] if d.rows["loads"] else {}
    run = d.run
    parts = [f"<p>The warehouse holds star version <code>{escape(str(load.get('star_version')))}"
             f"</code>, loaded by run <code>{escape(str(load.get('run_id')))}</code> at "
             f"{escape(_fmt(load.get('loaded_at')))}.</p>"]
    if run:
        stages = ", ".join(f"{s.name} {s.seconds:.1f} s" for s in run.stages)
        parts.append(f"<p>That run (<code>covidlake {escape(run.command)}</code>) "
                     f"{escape(run.status)}: {escape(run.started_at)} to "
                     f"{escape(run.ended_at)}; {escape(stages)}; catalog version "
                     f"{escape(str(run.catalog_version))}.</p>")
    files = {t.name: t.files for t in d.manifest.tables} if d.manifest else {}
    rows = [{"table": t.name, "grain": t.grain, "rows": d.counts[t.name],
             "files": " ".join(k.rsplit("/", 1)[1] + " " + files[t.name][k][:12]
                               for k in sorted(files.get(t.name, {}))),
             "sources": ", ".join(sources(t.name))} for t in STAR_TABLES]
    parts.append(_table("lineage", rows, [("table", "star table", 0), ("grain", "grain", 0),
                                          ("rows", "rows", 0),
                                          ("files", "files in the lake (sha256)", 0),
                                          ("sources", "built from", 0)],
                        "Each star table, its files in the lake and the source tables it is "
                        "built from (read off the transform's SQL)"))
    src_rows = []
    used = sorted({s for t in STAR_TABLES for s in sources(t.name)})
    for name in used:
        t = d.catalog.get(name)
        if t is None:
            continue
        src_rows.append({"source": name, "location": t.location, "version": t.version,
                         "crawled_at": t.crawled_at, "files": len(t.files), "bytes": t.bytes,
                         "rows": t.rows})
    parts.append(_table("sources", src_rows, [
        ("source", "source table", 0), ("location", "lake prefix", 0),
        ("version", "schema version", 0), ("crawled_at", "crawled", 0), ("files", "files", 0),
        ("bytes", "bytes", 0), ("rows", "rows", 0)], "The source tables, as last crawled"))
    listing = []
    for name in used:
        t = d.catalog.get(name)
        if t is None:
            continue
        items = "".join(f"<li><code>{escape(k)}</code> {f.bytes:,} bytes, {f.rows:,} rows, "
                        f"sha256 <code>{f.sha256[:16]}</code></li>"
                        for k, f in sorted(t.files.items()))
        listing.append(f"<details><summary>{escape(name)}: {len(t.files):,} files</summary>"
                       f"<ul class=files>{items}</ul></details>")
    return "".join(parts) + "".join(listing)


def _views_help() -> str:
    items = "".join(f"<li><code>covid.{v.name}</code>: {escape(v.description)}</li>"
                    for v in VIEWS)
    return (f"<ul>{items}</ul><p>Query them with <code>covidlake shell warehouse</code> or "
            "<code>covidlake query --on warehouse \"SELECT ...\"</code>.</p>")


CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
color:#222;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px}.note-box{background:#fff7e6;border:1px solid #f0c36d;
padding:8px 12px;border-radius:4px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.tile{border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px;min-width:150px}
.tile .label{font-size:12px;color:#555}.tile .value{font-size:24px;font-weight:600}
.tile .note{font-size:11px;color:#777}
figure{margin:16px 0}figcaption{font-size:12px;color:#555;max-width:900px}
table{border-collapse:collapse;font-size:12.5px;margin:10px 0}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.s-fail td{background:#fde8e8}tr.s-warn td{background:#fff8e1}
.badge{padding:1px 7px;border-radius:9px;font-size:12px;margin-right:4px}
.badge.s-pass{background:#e6f4ea}.badge.s-warn{background:#fff4cc}
.badge.s-fail{background:#fde0e0}
details{margin:6px 0}summary{cursor:pointer;color:#2b6cb0;font-size:13px}
ul.files{font-size:12px;max-height:320px;overflow:auto}
code{font-size:12px;background:#f4f4f4;padding:0 3px;border-radius:3px}
@media print{details{display:none}h2{break-before:auto}figure{break-inside:avoid}}
"""


def render(d: ReportData) -> str:
    load = d.rows["loads"][0] if d.rows["loads"] else {}
    days = [r["date"] for r in d.rows["us"]]
    period = f"{min(days)} to {max(days)}" if days else "no US data"
    notes = "".join(f'<p class="note-box">{escape(n)}</p>' for n in d.notes)
    sections: list[tuple[str, str, Callable[[ReportData], str]]] = [
        ("national", "The United States", _national),
        ("states", "States", _states),
        ("testing", "Testing", _testing),
        ("counties", "Counties", _counties),
        ("capacity", "Hospital capacity", _capacity),
        ("quality", "Data quality and reconciliation", _quality),
        ("lineage", "Lineage", _lineage),
    ]
    toc = " · ".join(f'<a href="#{k}">{escape(t)}</a>' for k, t, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{escape(t)}</h2>{fn(d)}</section>'
                   for k, t, fn in sections)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>COVID-19 Data Lake report</title><style>{CSS}</style></head><body><main>"
        "<h1>COVID-19 Data Lake report</h1>"
        f'<p class="meta">Star version <code>{escape(str(load.get("star_version")))}</code> in '
        f"{escape(d.warehouse)}; US data {escape(period)}; generated {escape(d.generated_at)} "
        f"by covidlake {escape(__version__)}.</p>{notes}<nav>{toc}</nav>{_headline(d)}"
        f'{body}<section id="views"><h2>Query it yourself</h2>{_views_help()}</section>'
        "</main></body></html>\n")


def write_report(warehouse: Warehouse, lake: ObjectStore, catalog: Catalog, out: Path) -> Path:
    """Write `out/index.html` (atomically: a reader never sees half a report)."""
    text = render(gather(warehouse, lake, catalog))
    target = out / "index.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise CovidlakeError(f"cannot write the report to {out}: {exc.strerror}",
                             hint="choose a writable folder with --html") from exc
    return target
