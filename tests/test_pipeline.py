"""The whole pipeline on the bundled sample, through the real command line."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from conftest import Done, cli

STAR = ("dim_date", "dim_region", "dim_hospital", "fact_covid", "dq_results")


def _lake_state(lake: Path) -> dict[str, str]:
    return {p.relative_to(lake).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*"))
            if p.is_file() and "_runs" not in p.parts and not p.name.startswith(".")}  # lock


def test_run_ends_with_a_summary(sample_run: Done) -> None:
    out = sample_run.stdout
    assert "succeeded" in out
    for word in ("stages:", "star:", "data quality:", "reconciliation"):
        assert word in out
    assert "0 fail" in out


def test_star_tables_are_exported_as_parquet_and_csv(sample_run: Done) -> None:
    for table in STAR:
        if table == "fact_covid":
            continue
        assert (sample_run.lake / "star" / table / f"{table}.parquet").stat().st_size > 0
        header = (sample_run.lake / "star" / table / f"{table}.csv").read_text().splitlines()[0]
        assert header.startswith(("region_key", "hospital_key", "check_name", "date_key"))


def test_facts_are_exported_one_file_per_month(sample_run: Done) -> None:
    folder = sample_run.lake / "star" / "fact_covid"
    con = duckdb.connect()
    months = con.execute(
        "SELECT DISTINCT strftime(strptime(CAST(date_key AS VARCHAR), '%Y%m%d'), '%Y-%m') "
        f"FROM read_parquet('{folder}/*.parquet') ORDER BY 1").fetchall()
    assert len(months) > 1
    for (month,) in months:
        for ext in ("parquet", "csv"):
            part = folder / f"fact_covid-{month}.{ext}"
            # each file holds its month only, in key order, CSV and Parquet alike
            got = con.execute(
                f"SELECT count(*), min(date_key) // 100, max(date_key) // 100 FROM '{part}'"
            ).fetchone()
            assert got[0] > 0 and got[1] == got[2] == int(month.replace("-", "")), part
    assert len(list(folder.iterdir())) == 2 * len(months)
    total = con.execute(f"SELECT count(*) FROM read_csv('{folder}/*.csv')").fetchone()[0]
    assert total == sample_run.connect().execute(
        "SELECT count(*) FROM covid.fact_covid").fetchone()[0]


def test_warehouse_has_the_contract(sample_run: Done) -> None:
    con = sample_run.connect()
    cols = dict(con.execute(
        "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'covid'").fetchall())
    expected = {
        "dim_date.date_key": "INTEGER", "dim_date.date": "DATE", "dim_date.is_weekend": "BOOLEAN",
        "dim_region.region_key": "INTEGER", "dim_region.fips": "VARCHAR",
        "dim_region.population": "BIGINT", "dim_region.latitude": "DOUBLE",
        "dim_hospital.hospital_key": "INTEGER", "dim_hospital.longitude": "DOUBLE",
        "dim_hospital.region_key": "INTEGER", "fact_covid.date_key": "INTEGER",
        "fact_covid.region_key": "INTEGER", "fact_covid.confirmed": "BIGINT",
        "fact_covid.hospitalized_discharged": "BIGINT",
    }
    for name, type_ in expected.items():
        assert cols.get(name) == type_, name
    constraints = {(t, c) for t, c in con.execute(
        "SELECT table_name, constraint_type FROM duckdb_constraints() "
        "WHERE schema_name = 'covid'").fetchall()}
    # keys are checked by the load, not declared (DuckDB would index them), and named in the
    # tables' and columns' comments; the key columns are NOT NULL
    assert not {c for c in constraints if c[1] in ("PRIMARY KEY", "FOREIGN KEY")}
    assert {("fact_covid", "NOT NULL"), ("dim_region", "NOT NULL")} <= constraints
    tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() "
                              "WHERE schema_name = 'covid'").fetchall())
    assert tables["fact_covid"] == ("one row per (date_key, region_key); primary key "
                                    "(date_key, region_key), unique: checked by each load")
    comments = dict(con.execute(
        "SELECT table_name || '.' || column_name, comment FROM duckdb_columns() "
        "WHERE schema_name = 'covid' AND comment IS NOT NULL").fetchall())
    assert comments["fact_covid.region_key"] == "references covid.dim_region (region_key)"
    assert comments["dim_hospital.region_key"] == "references covid.dim_region (region_key)"
    assert con.execute("SELECT count(*) FROM covid.dq_results WHERE status = 'fail'"
                       ).fetchone() == (0,)


def test_run_record_in_the_lake(sample_run: Done) -> None:
    run_id = sample_run.stdout.split("covidlake run ", 1)[1].split(":", 1)[0]
    record = json.loads((sample_run.lake / "_runs" / f"{run_id}.json").read_text())
    assert record["status"] == "succeeded" and record["command"] == "run"
    assert [s["name"] for s in record["stages"]] == [
        "ingest", "crawl", "transform", "export", "load"]
    assert all(s["seconds"] >= 0 for s in record["stages"])
    # the peak memory so far at each stage's end: a DuckDB process holds tens of MB at least,
    # and the peak never falls
    peaks = [s["peak_rss_mb"] for s in record["stages"]]
    assert peaks[0] > 20 and peaks == sorted(peaks), peaks
    # CPU seconds of all threads: the transform's DuckDB work shows, and no stage can keep
    # more than the machine's cores busy (a small slack for the clocks' granularity)
    cores = os.cpu_count() or 1
    assert next(s["cpu_seconds"] for s in record["stages"] if s["name"] == "transform") > 0
    assert all(s["cpu_seconds"] <= s["seconds"] * cores + 0.05 for s in record["stages"])
    assert len(record["sources"]) == 21 and all(len(s["sha256"]) == 64 for s in record["sources"])
    assert record["catalog_version"] >= 1 and record["star_version"]
    transform = next(s for s in record["stages"] if s["name"] == "transform")
    assert transform["rows_in"]["us_county"] == 2734  # the sample's NYT county rows
    assert transform["rows_out"]["fact_covid"] > 0
    for r in record["reconciliation"]:
        assert r["rows_read"] == r["rows_used"] + r["rows_rejected"], r


def test_rerun_changes_nothing_and_ingests_nothing(sample_run: Done, tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "again"
    shutil.copytree(sample_run.workdir, work)
    lake, wh = work / "lake", work / "wh.duckdb"
    before = _lake_state(lake)
    runs = len(list((lake / "_runs").glob("*.json")))
    proc = cli("run", "--lake", str(lake), "--warehouse", str(wh), cwd=work)
    assert "0 copied" in proc.stderr and "0 files read" in proc.stderr
    assert "already has star version" in proc.stderr
    assert _lake_state(lake) == before
    assert len(list((lake / "_runs").glob("*.json"))) == runs + 1  # only the new record


def test_report_shows_counts_quality_and_answers(sample_run: Done) -> None:
    out = cli("report", "--lake", str(sample_run.lake), "--warehouse",
              str(sample_run.warehouse), cwd=sample_run.workdir).stdout
    for text in ("Last run", "Rows per table", "fact_covid", "Data quality",
                 "Ten US counties with the most deaths", "Test positivity", "ICU beds"):
        assert text in out, text
    con = sample_run.connect()
    top = con.execute("""
        SELECT r.county FROM covid.fact_covid f JOIN covid.dim_region r USING (region_key)
        WHERE r.level = 'county' AND f.deaths IS NOT NULL
          AND f.date_key = (SELECT max(date_key) FROM covid.fact_covid f2
                            JOIN covid.dim_region r2 USING (region_key)
                            WHERE r2.level = 'county' AND f2.deaths IS NOT NULL)
        ORDER BY f.deaths DESC, r.region_key LIMIT 1""").fetchone()[0]
    assert top in out


def test_a_run_imports_neither_pyarrow_nor_sqlglot(sample_run: Done, tmp_path: Path) -> None:
    """A run on DuckDB needs neither (0.08 s and 0.1 s to import, a tenth of a new day's run):
    the warehouse's lookups return Python values, the views are written in DuckDB's dialect,
    Parquet is read and written by DuckDB. Python reports each import when
    PYTHONPROFILEIMPORTTIME is set."""
    import shutil

    first = cli("run", "--lake", str(tmp_path / "lake"), "--warehouse", str(tmp_path / "wh"),
                cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    work = tmp_path / "again"
    shutil.copytree(sample_run.workdir, work)
    again = cli("run", "--lake", str(work / "lake"), "--warehouse", str(work / "wh.duckdb"),
                cwd=work, env={"PYTHONPROFILEIMPORTTIME": "1"})
    for proc in (first, again):
        imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "duckdb" in imported  # the report is there
        assert not imported & {"pyarrow", "sqlglot"}, sorted(imported & {"pyarrow", "sqlglot"})


@pytest.mark.parametrize("clock_ns", [
    [1_795_000_000_000_000_000] * 4,  # runs begun within one microsecond (a frozen clock)
    [1_795_000_000_000_000_000 + i * 300_000_000 for i in range(4)],  # within one second
    [1_795_000_000_000_000_000 - i * 1_000 for i in range(4)],  # the clock stepped back
])
def test_run_ids_sort_in_the_order_runs_began(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              clock_ns: list[int]) -> None:
    from covidlake import runs
    from covidlake.store import open_store

    lake = open_store(str(tmp_path / "lake"))
    ticks = iter(clock_ns)
    monkeypatch.setattr(runs.time, "time_ns", lambda: next(ticks))
    made = []
    for command in ("run", "crawl", "run", "query"):
        run = runs.Run(lake, command, {})
        run.finish()
        made.append(run.id)
    assert sorted(made) == made
    assert runs.last_run(lake).run_id == made[-1]
    assert runs.last_run(lake, "run").run_id == made[2]


def test_an_engine_that_cannot_start_fails_the_transform_stage(
        sample_run: Done, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the engine is the transform's work (Spark starts a JVM and stages every
    source), so its time and its failure are the transform stage's in the run record."""
    import shutil

    from covidlake import pipeline, runs
    from covidlake.errors import CovidlakeError
    from covidlake.settings import Settings
    from covidlake.store import open_store

    work = tmp_path / "w"
    shutil.copytree(sample_run.workdir, work)

    def cannot_start(*args: object, **kwargs: object) -> None:
        raise CovidlakeError("the engine did not start")

    monkeypatch.setattr(pipeline, "_engine", cannot_start)
    settings = Settings(lake=str(work / "lake"), warehouse=str(work / "wh.duckdb"), force=True)
    with pytest.raises(CovidlakeError, match="did not start"):
        pipeline.execute("transform", settings, ["transform"])
    record = runs.last_run(open_store(settings.lake))
    assert record is not None and record.status == "failed"
    assert [s.name for s in record.stages] == ["transform"]
