"""The AWS Glue Data Catalog backend, against moto's Glue API (no local Glue server exists)."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest

from covidlake.catalog import open_catalog
from covidlake.crawl import crawl
from covidlake.ingest import ingest
from covidlake.settings import bundled_sample
from covidlake.sources import SourceTable
from covidlake.store import ObjectStore, open_store


@pytest.fixture
def glue(moto_aws: None) -> object:
    return boto3.client("glue")


@pytest.fixture
def lake(tmp_path: Path) -> ObjectStore:
    src = tmp_path / "src"
    shutil.copytree(bundled_sample(), src)
    store = open_store(str(tmp_path / "lake"))
    ingest(str(src), store)
    return store


def _table(glue, name: str) -> dict:  # noqa: ANN001
    return glue.get_table(DatabaseName="covid", Name=name)["Table"]


def test_crawl_registers_every_table(glue, lake: ObjectStore) -> None:  # noqa: ANN001
    crawl(lake, open_catalog("glue://covid", lake))
    assert glue.get_database(Name="covid")["Database"]["Name"] == "covid"
    names = {t["Name"] for t in glue.get_tables(DatabaseName="covid")["TableList"]}
    assert names == {"enigma_jhu", "us_county", "us_states", "states_daily", "us_daily",
                     "us_total_latest", "hospital_beds", "countrycode", "county_population",
                     "state_abv"}


@pytest.mark.parametrize(
    ("table", "serde", "skip", "columns"),
    [
        ("us_county", "org.apache.hadoop.hive.serde2.OpenCSVSerde", "1",
         [("date", "date"), ("county", "string"), ("state", "string"), ("fips", "string"),
          ("cases", "bigint"), ("deaths", "bigint")]),
        ("county_population", "org.apache.hadoop.hive.serde2.OpenCSVSerde", "2", None),
        ("hospital_beds", "org.openx.data.jsonserde.JsonSerDe", None, None),
        # YYYYMMDD is a date to covidlake but a string to Hive's text readers
        ("us_daily", "org.apache.hadoop.hive.serde2.OpenCSVSerde", "1", None),
    ],
)
def test_columns_serde_and_header_lines(glue, lake: ObjectStore, table: str, serde: str,  # noqa: ANN001
                                        skip: str | None, columns: list | None) -> None:
    crawl(lake, open_catalog("glue://covid", lake))
    t = _table(glue, table)
    sd = t["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == serde
    assert t["Parameters"].get("skip.header.line.count") == skip
    assert sd["Location"] == lake.uri(f"raw/{_prefix(table)}").rstrip("/") + "/"
    if columns:
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == columns
    if table == "us_daily":
        date = next(c for c in sd["Columns"] if c["Name"] == "date")
        assert date["Type"] == "string" and "%Y%m%d" in date["Comment"]


def _prefix(table: str) -> str:
    from covidlake.sources import BY_NAME

    return BY_NAME[table].prefix


def test_jhu_is_flagged_not_athena_ready(glue, lake: ObjectStore) -> None:  # noqa: ANN001
    crawl(lake, open_catalog("glue://covid", lake))
    params = _table(glue, "enigma_jhu")["Parameters"]
    assert params["covidlake.athena_ready"] == "false"
    assert "4 header versions" in params["covidlake.athena_note"]
    assert _table(glue, "us_county")["Parameters"]["covidlake.athena_ready"] == "true"


def test_schema_change_updates_and_partitions_sync(glue, tmp_path: Path) -> None:  # noqa: ANN001
    lake = open_store(str(tmp_path / "lake"))
    for year, month in (("2020", "03"), ("2020", "04")):
        lake.put(f"raw/t/year={year}/month={month}/a.csv", b"state,cases\nWA,1\n")
    tables = (SourceTable("t", "t/", "partitioned test table"),)
    crawl(lake, open_catalog("glue://covid", lake), tables)
    t = _table(glue, "t")
    assert [(k["Name"], k["Type"]) for k in t["PartitionKeys"]] == [
        ("year", "bigint"), ("month", "string")]
    parts = glue.get_partitions(DatabaseName="covid", TableName="t")["Partitions"]
    assert sorted(tuple(p["Values"]) for p in parts) == [("2020", "03"), ("2020", "04")]
    assert {p["StorageDescriptor"]["Location"] for p in parts} == {
        lake.uri("raw/t").rstrip("/") + "/year=2020/month=03/",
        lake.uri("raw/t").rstrip("/") + "/year=2020/month=04/"}

    # upstream adds a column and a month, and drops a month
    lake.delete("raw/t/year=2020/month=03/a.csv")
    lake.put("raw/t/year=2020/month=05/a.csv", b"state,cases,deaths\nWA,2,0\n")
    lake.put("raw/t/year=2020/month=04/a.csv", b"state,cases,deaths\nWA,1,0\n")
    crawl(lake, open_catalog("glue://covid", lake), tables)
    t = _table(glue, "t")
    assert [c["Name"] for c in t["StorageDescriptor"]["Columns"]] == ["state", "cases", "deaths"]
    assert t["Parameters"]["covidlake.schema_version"] == "2"
    versions = glue.get_table_versions(DatabaseName="covid", TableName="t")["TableVersions"]
    assert len(versions) == 2
    parts = glue.get_partitions(DatabaseName="covid", TableName="t")["Partitions"]
    assert sorted(tuple(p["Values"]) for p in parts) == [("2020", "04"), ("2020", "05")]


def test_unchanged_recrawl_does_not_touch_glue(glue, lake: ObjectStore) -> None:  # noqa: ANN001
    crawl(lake, open_catalog("glue://covid", lake))
    crawl(lake, open_catalog("glue://covid", lake))
    versions = glue.get_table_versions(DatabaseName="covid", TableName="us_county")
    assert len(versions["TableVersions"]) == 1


def test_glue_errors_are_clear(lake: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from covidlake.errors import CatalogError

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    catalog = open_catalog("glue://covid", lake)
    with pytest.raises(CatalogError, match="AWS Glue database 'covid'") as err:
        crawl(lake, catalog)
    assert "hunter2" not in str(err.value)
    assert open_catalog("embedded", lake).get("us_county") is not None  # the lake's own catalog
