"""PostgreSQL as the warehouse, on a real server started for the tests."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from conftest import Done, cli
from covidlake.errors import LoadError
from covidlake.load import load
from covidlake.report import QUERIES
from covidlake.store import open_store
from covidlake.warehouses import open_warehouse
from covidlake.warehouses.duckdb import DuckDBWarehouse

STAR = ("dim_date", "dim_region", "dim_hospital", "fact_covid", "dq_results")


def _snapshot(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as con:
        return {t: con.execute(f"SELECT count(*), sum(hashtext(x::text)) FROM covid.{t} x"
                               ).fetchone() for t in (*STAR, "load_history")}


def test_load_types_keys_indexes(sample_run: Done, pg_url: str, tmp_path: Path) -> None:
    proc = cli("load", "--lake", str(sample_run.lake), "--warehouse", pg_url, cwd=tmp_path)
    assert "5 tables into postgresql://" in proc.stderr
    with psycopg.connect(pg_url) as con:
        cols = dict(con.execute(
            "SELECT table_name || '.' || column_name, data_type || coalesce('(' || "
            "character_maximum_length || ')', '') FROM information_schema.columns "
            "WHERE table_schema = 'covid'").fetchall())
        longest = con.execute("SELECT max(length(country_region)) FROM covid.dim_region"
                              ).fetchone()[0]
        kinds = {r for r in con.execute(
            "SELECT tc.table_name, tc.constraint_type FROM information_schema.table_constraints "
            "tc WHERE tc.table_schema = 'covid'").fetchall()}
        indexes = {r[0] for r in con.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'covid'").fetchall()}
        analyzed = con.execute("SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = "
                               "'covid' AND last_analyze IS NOT NULL").fetchone()[0]
    assert cols["dim_date.date_key"] == "integer" and cols["dim_date.date"] == "date"
    assert cols["fact_covid.confirmed"] == "bigint"
    assert cols["dim_region.latitude"] == "double precision"
    assert cols["dim_date.is_weekend"] == "boolean"
    assert cols["dim_region.country_region"] == f"character varying({longest})"
    assert {("fact_covid", "PRIMARY KEY"), ("fact_covid", "FOREIGN KEY"),
            ("dim_hospital", "FOREIGN KEY"), ("dim_region", "PRIMARY KEY")} <= kinds
    assert any("fact_covid USING btree (region_key)" in i for i in indexes)
    assert analyzed >= len(STAR)


def test_answers_are_identical_to_duckdb(sample_run: Done, pg_url: str) -> None:
    lake = open_store(str(sample_run.lake))
    pg = open_warehouse(pg_url)
    load(lake, pg, "test")
    duck = DuckDBWarehouse(str(sample_run.warehouse))
    try:
        for q in QUERIES:
            got, want = pg.query(q.sql).to_pylist(), duck.query(q.sql).to_pylist()
            assert want and got == want, q.name
    finally:
        pg.close()
        duck.close()


def test_reload_swaps_atomically_and_never_duplicates(sample_run: Done, pg_url: str,
                                                      tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_run.lake, lake)
    wh = open_warehouse(pg_url)
    load(open_store(str(lake)), wh, "first")
    before = _snapshot(pg_url)
    assert load(open_store(str(lake)), wh, "again").loaded is False  # same version: no-op
    load(open_store(str(lake)), wh, "forced", force=True)
    after = _snapshot(pg_url)
    assert {t: after[t] for t in STAR} == {t: before[t] for t in STAR}
    assert after["load_history"][0] == before["load_history"][0] + 1
    # a broken file for the last table: everything before it was loaded, then rolled back
    fact = lake / "star/dq_results/dq_results.parquet"
    fact.write_bytes(fact.read_bytes()[:100])
    with pytest.raises(LoadError, match="previous tables kept") as err:
        load(open_store(str(lake)), wh, "broken", force=True)
    assert "while loading dq_results" in str(err.value)
    assert _snapshot(pg_url) == after
    wh.close()


def test_server_dying_mid_load_leaves_the_warehouse(sample_run: Done, pg_url: str) -> None:
    lake = open_store(str(sample_run.lake))
    wh = open_warehouse(pg_url)
    load(lake, wh, "first")
    before = _snapshot(pg_url)
    killer = psycopg.connect(pg_url, autocommit=True)
    stop = threading.Event()

    def kill_when_copying() -> None:  # terminate the loading backend once it is in a COPY
        while not stop.is_set():
            n = killer.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE query LIKE 'COPY covid.%' AND pid <> pg_backend_pid()"
                               ).fetchone()[0]
            if n:
                return

    thread = threading.Thread(target=kill_when_copying)
    thread.start()
    try:
        with pytest.raises(LoadError, match="previous tables kept") as err:
            load(lake, wh, "killed", force=True)
    finally:
        stop.set()
        thread.join()
    assert "postgresql://postgres@127.0.0.1" in str(err.value)
    assert _snapshot(pg_url) == before
    killer.close()


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("postgresql://postgres@127.0.0.1:9/covid", {}, "cannot connect to postgresql://"),
        ("postgresql://nobody:hunter2@{host}:{port}/nosuchdb", {}, "nosuchdb"),
    ],
)
def test_connection_errors_are_clear_and_hide_the_password(pg_server, tmp_path: Path,  # noqa: ANN001
                                                           url: str, env: dict, message: str,
                                                           sample_run: Done) -> None:
    url = url.format(host=pg_server.host, port=pg_server.port)
    proc = cli("load", "--lake", str(sample_run.lake), "--warehouse", url, cwd=tmp_path,
               check=False, env=env)
    assert proc.returncode == 1
    assert message in proc.stderr and "hunter2" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_whole_pipeline_into_postgres_via_the_cli(pg_url: str, tmp_path: Path) -> None:
    proc = cli("run", "--lake", str(tmp_path / "lake"), "--warehouse", pg_url, cwd=tmp_path)
    assert "succeeded" in proc.stdout and "loaded into postgresql://" in proc.stdout
    report = cli("report", "--lake", str(tmp_path / "lake"), "--warehouse", pg_url,
                 cwd=tmp_path)
    assert "Ten US counties with the most deaths" in report.stdout


@pytest.mark.parametrize(("day", "by_day"), [
    ("03-13-2020.csv", True),   # every place known: the day's fact rows are replaced in place
    ("08-26-2020.csv", False),  # new places shift the region keys: every table is reloaded
])
def test_a_new_day_in_postgres_equals_a_full_load(sample_run: Done, pg_url: str,
                                                  tmp_path: Path, day: str,
                                                  by_day: bool) -> None:
    import json

    from covidlake.settings import bundled_sample
    from covidlake.transform.model import STAR_TABLES

    src, lake = tmp_path / "src", tmp_path / "lake"
    shutil.copytree(bundled_sample(), src)
    held = tmp_path / day
    shutil.move(src / "enigma-jhu/csv" / day, held)
    run = ("run", "--source", str(src), "--lake", str(lake), "--warehouse", pg_url, "-q")
    cli(*run, cwd=tmp_path)
    shutil.move(held, src / "enigma-jhu/csv" / day)
    cli(*run, cwd=tmp_path)
    record = json.loads(sorted((lake / "_runs").glob("*.json"))[-1].read_text())
    load_stage = next(s for s in record["stages"] if s["name"] == "load")
    assert load_stage["detail"]["by_day"] is by_day
    pg = open_warehouse(pg_url)
    duck = DuckDBWarehouse(str(sample_run.warehouse), read_only=True)
    try:
        for t in STAR_TABLES:  # every row as the sample's full run loaded it
            sql = f"SELECT * FROM covid.{t.name} ORDER BY {', '.join(t.primary_key)}"
            assert pg.query(sql).to_pylist() == duck.query(sql).to_pylist(), t.name
    finally:
        pg.close()
        duck.close()


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_relations_name_the_loaded_tables_and_views(sample_run: Done, pg_url: str,
                                                    kind: str) -> None:
    """What load asks before a no-op or a by-day load (are the analyst views there?)."""
    from covidlake.transform.model import SCHEMA
    from covidlake.views import VIEWS

    url = str(sample_run.warehouse) if kind == "duckdb" else pg_url
    if kind == "postgresql":
        target = open_warehouse(pg_url)
        try:
            load(open_store(str(sample_run.lake)), target, "relations-test")
        finally:
            target.close()
    warehouse = open_warehouse(url, read_only=kind == "duckdb")
    try:
        names = warehouse.relations(SCHEMA)
        assert {*STAR, "load_history", *(v.name for v in VIEWS)} <= names
        assert warehouse.relations("no_such_schema") == set()
    finally:
        warehouse.close()
