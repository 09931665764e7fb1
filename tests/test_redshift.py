"""Redshift: the SQL it is sent, exactly (expected-SQL tables), and its load logic run against
PostgreSQL through an adapter that plays Redshift's COPY FROM S3 (tests/redshift_on_postgres.py),
with the star files in a real S3 lake (SeaweedFS)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from conftest import cli, same_rows
from covidlake.errors import ConfigError, LoadError
from covidlake.export import ColumnSchema, StarManifest, TableExport
from covidlake.load import load, plan
from covidlake.report import QUERIES
from covidlake.store import open_store
from covidlake.transform.model import BY_NAME
from covidlake.views import VIEWS
from covidlake.warehouses.ddl import create_table
from covidlake.warehouses.duckdb import DuckDBWarehouse
from covidlake.warehouses.redshift import CAPABILITIES, RedshiftWarehouse, copy_sql
from redshift_on_postgres import RedshiftOnPostgres

ROLE = "arn:aws:iam::123456789012:role/covidlake-redshift-copy"
FACT = TableExport("fact_covid", 10, [ColumnSchema("date_key", "INTEGER"),
                                      ColumnSchema("region_key", "INTEGER"),
                                      ColumnSchema("confirmed", "BIGINT")])
REGION = TableExport("dim_region", 3, [ColumnSchema("region_key", "INTEGER"),
                                       ColumnSchema("country_region", "VARCHAR", 32),
                                       ColumnSchema("latitude", "DOUBLE"),
                                       ColumnSchema("is_x", "BOOLEAN")])
DATES = TableExport("dim_date", 2, [ColumnSchema("date_key", "INTEGER"),
                                    ColumnSchema("date", "DATE")])


@pytest.mark.parametrize(
    ("table", "suffix", "expected"),
    [
        (FACT, "", "CREATE TABLE covid.fact_covid (date_key INTEGER NOT NULL, region_key INTEGER "
         "NOT NULL, confirmed BIGINT, PRIMARY KEY (date_key, region_key), FOREIGN KEY (date_key) "
         "REFERENCES covid.dim_date (date_key), FOREIGN KEY (region_key) REFERENCES "
         "covid.dim_region (region_key)) DISTSTYLE KEY DISTKEY (region_key) SORTKEY (date_key, "
         "region_key) ENCODE AUTO"),
        (REGION, "__new", "CREATE TABLE covid.dim_region__new (region_key INTEGER NOT NULL, "
         "country_region VARCHAR(32), latitude DOUBLE PRECISION, is_x BOOLEAN, PRIMARY KEY "
         "(region_key)) DISTSTYLE KEY DISTKEY (region_key) SORTKEY (region_key) ENCODE AUTO"),
        (DATES, "", "CREATE TABLE covid.dim_date (date_key INTEGER NOT NULL, date DATE, PRIMARY "
         "KEY (date_key)) DISTSTYLE ALL SORTKEY (date_key) ENCODE AUTO"),
    ],
)
def test_create_table_sql(table: TableExport, suffix: str, expected: str) -> None:
    assert create_table(table, BY_NAME[table.name], CAPABILITIES, suffix=suffix) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("parquet", [f"COPY covid.fact_covid__new FROM 's3://lake/star/fact_covid/fact_covid-"
                     f"2020-{m}.parquet' IAM_ROLE '{ROLE}' FORMAT AS PARQUET"
                     for m in ("03", "04")]),
        ("csv", [f"COPY covid.fact_covid__new (date_key, region_key, confirmed) FROM 's3://lake/"
                 f"star/fact_covid/fact_covid-2020-{m}.csv' IAM_ROLE '{ROLE}' FORMAT AS CSV "
                 "IGNOREHEADER 1 DATEFORMAT 'YYYY-MM-DD' EMPTYASNULL" for m in ("03", "04")]),
    ],
)
def test_copy_sql(fmt: str, expected: list[str]) -> None:
    from covidlake.warehouses import LoadTable

    t = LoadTable("fact_covid", FACT, BY_NAME["fact_covid"], [], {
        ext: [f"s3://lake/star/fact_covid/fact_covid-2020-{m}.{ext}" for m in ("03", "04")]
        for ext in ("parquet", "csv")})
    assert copy_sql(t, "covid.fact_covid__new", ROLE, fmt) == expected


def test_varchar_sizes_are_measured_not_256(sample_run) -> None:  # noqa: ANN001
    manifest = StarManifest.read(open_store(str(sample_run.lake)))
    for t in manifest.tables:
        sql = create_table(t, BY_NAME[t.name], CAPABILITIES)
        for c in t.columns:
            if c.type == "VARCHAR":
                assert f"{c.name} VARCHAR({max(1, c.max_length)})" in sql, (t.name, c.name)


def test_copy_from_a_local_lake_is_refused(sample_run) -> None:  # noqa: ANN001
    lake = open_store(str(sample_run.lake))
    with plan(StarManifest.read(lake), lake, CAPABILITIES) as tables, \
            pytest.raises(LoadError, match="--lake s3://"):
        copy_sql(tables[0], "covid.x", ROLE, "parquet")


def test_an_iam_role_is_required() -> None:
    with pytest.raises(ConfigError, match="IAM role"):
        RedshiftWarehouse("redshift://etl@example:5439/dev", connect=lambda: None)


@pytest.fixture
def s3_lake(s3, tmp_path: Path) -> str:  # noqa: ANN001
    """The sample pipeline run with its lake in S3 (the star files Redshift copies from)."""
    _, bucket = s3
    lake = f"s3://{bucket}/lake"
    cli("run", "--lake", lake, "--warehouse", str(tmp_path / "wh.duckdb"), "-q", cwd=tmp_path)
    return lake


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_load_logic_on_postgres(s3_lake: str, pg_url: str, tmp_path: Path, fmt: str) -> None:
    adapter: list[RedshiftOnPostgres] = []

    def connect() -> RedshiftOnPostgres:
        adapter.append(RedshiftOnPostgres(pg_url))
        return adapter[-1]

    wh = RedshiftWarehouse(f"redshift://etl@cluster:5439/dev?iam_role={ROLE}&format={fmt}",
                           connect=connect)
    lake = open_store(s3_lake)
    assert load(lake, wh, "r1").loaded
    assert all(f"IAM_ROLE '{ROLE}'" in c for c in adapter[0].copies)
    files = sum(len([k for k in t.files if k.endswith(f".{fmt}")])
                for t in StarManifest.read(lake).tables)
    assert len(adapter[0].copies) == files > 5  # one COPY per file: the facts have one per month
    duck = DuckDBWarehouse(str(tmp_path / "wh.duckdb"))
    for q in QUERIES:
        assert wh.query(q.sql).to_pylist() == duck.query(q.sql).to_pylist(), q.name
    for v in VIEWS:  # rendered for Redshift, same rows (ordered by their keys)
        sql = f"SELECT * FROM covid.{v.name} ORDER BY 1, 2, 3, 4"
        assert same_rows(wh.query(sql).to_pylist(), duck.query(sql).to_pylist()), v.name
    assert load(lake, wh, "r2").loaded is False
    duck.close()
    wh.close()


def test_a_failed_copy_reports_file_line_column_and_reason(s3_lake: str, pg_url: str) -> None:
    lake = open_store(s3_lake)
    wh = RedshiftWarehouse(f"redshift://etl@cluster:5439/dev?iam_role={ROLE}&format=csv",
                           connect=lambda: RedshiftOnPostgres(pg_url))
    load(lake, wh, "good")
    with psycopg.connect(pg_url) as con:
        before = con.execute("SELECT count(*), sum(population) FROM covid.dim_region").fetchone()
    key = "star/dim_region/dim_region.csv"
    lines = lake.get(key).decode().splitlines()
    header = lines[0].split(",")
    bad = lines[3].split(",")
    bad[header.index("population")] = "lots"
    lake.put(key, "\n".join([*lines[:3], ",".join(bad), *lines[4:]]).encode() + b"\n")
    with pytest.raises(LoadError) as err:
        load(lake, wh, "bad", force=True)
    text = str(err.value)
    assert f"file {lake.uri(key)}, line 4, column population" in text
    assert "previous tables kept" in text
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*), sum(population) FROM covid.dim_region"
                           ).fetchone() == before
    wh.close()


def test_a_new_day_is_copied_by_month_and_replaced_in_place(s3, pg_url: str,  # noqa: ANN001
                                                            tmp_path: Path) -> None:
    """The sample without a mid-March day, loaded; then the day: the load copies only March's
    fact files into a staging table and replaces that day's rows, in one transaction."""
    import shutil

    from covidlake.settings import bundled_sample

    _, bucket = s3
    lake_url, src, day = f"s3://{bucket}/lake", tmp_path / "src", "03-13-2020.csv"
    shutil.copytree(bundled_sample(), src)
    shutil.move(src / "enigma-jhu/csv" / day, tmp_path / day)
    run = ("run", "--source", str(src), "--lake", lake_url, "--warehouse",
           str(tmp_path / "wh.duckdb"), "-q")
    cli(*run, cwd=tmp_path)
    adapter: list[RedshiftOnPostgres] = []

    def connect() -> RedshiftOnPostgres:
        adapter.append(RedshiftOnPostgres(pg_url))
        return adapter[-1]

    wh = RedshiftWarehouse(f"redshift://etl@cluster:5439/dev?iam_role={ROLE}", connect=connect)
    lake = open_store(lake_url)
    assert load(lake, wh, "r1").by_day is False
    shutil.move(tmp_path / day, src / "enigma-jhu/csv" / day)
    cli(*run, cwd=tmp_path)  # the DuckDB warehouse beside it replaces the day too
    copies = len(adapter[0].copies)
    assert load(lake, wh, "r2").by_day is True
    fact_copies = [c for c in adapter[0].copies[copies:] if "fact_covid" in c]
    assert len(fact_copies) == 1 and "fact_covid-2020-03.parquet" in fact_copies[0]
    duck = DuckDBWarehouse(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        for name, t in BY_NAME.items():
            sql = f"SELECT * FROM covid.{name} ORDER BY {', '.join(t.primary_key)}"
            assert same_rows(wh.query(sql).to_pylist(), duck.query(sql).to_pylist()), name
    finally:
        duck.close()
        wh.close()
