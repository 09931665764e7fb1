from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from covidlake.catalog import open_catalog
from covidlake.crawl import crawl
from covidlake.ingest import ingest
from covidlake.settings import bundled_sample
from covidlake.sources import SOURCES
from covidlake.store import open_store


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    lake = open_store(str(tmp_path_factory.mktemp("crawl") / "lake"))
    ingest(bundled_sample(), lake)
    catalog = open_catalog("embedded", lake)
    crawl(lake, catalog)
    return lake, catalog


def test_registers_every_table_by_name(crawled) -> None:  # noqa: ANN001
    _, catalog = crawled
    assert [t.name for t in catalog.tables()] == sorted(s.name for s in SOURCES)


@pytest.mark.parametrize(
    ("table", "column", "type_", "original"),
    [
        ("us_county", "fips", "VARCHAR", "fips"),
        ("us_county", "date", "DATE", "date"),
        ("us_county", "cases", "BIGINT", "cases"),
        ("us_states", "fips", "VARCHAR", "fips"),
        ("states_daily", "date", "DATE", "date"),  # YYYYMMDD integers
        ("states_daily", "hospitalized_currently", "BIGINT", "hospitalizedCurrently"),
        ("states_daily", "date_checked", "TIMESTAMP", "dateChecked"),
        ("enigma_jhu", "last_update", "TIMESTAMP", "Last Update"),
        ("enigma_jhu", "province_state", "VARCHAR", "Province/State"),
        ("enigma_jhu", "longitude", "DOUBLE", "Long_"),
        ("enigma_jhu", "case_fatality_ratio", "DOUBLE", "Case-Fatality_Ratio"),
        ("enigma_jhu", "fips", "VARCHAR", "FIPS"),
        ("hospital_beds", "fips", "VARCHAR", "FIPS"),
        ("hospital_beds", "hq_zip_code", "VARCHAR", "HQ_ZIP_CODE"),
        ("hospital_beds", "num_licensed_beds", "BIGINT", "NUM_LICENSED_BEDS"),
        ("hospital_beds", "longtitude", "DOUBLE", "longtitude"),
        ("county_population", "geo_id2", "VARCHAR", "GEO.id2"),
        ("county_population", "respop72018", "BIGINT", "respop72018"),
        ("state_abv", "abbreviation", "VARCHAR", "Abbreviation"),
        ("countrycode", "alpha_3_code", "VARCHAR", "Alpha-3 code"),
        ("countrycode", "latitude_average", "DOUBLE", "Latitude (average)"),
    ],
)
def test_column_types_and_original_names(crawled, table: str, column: str, type_: str,  # noqa: ANN001
                                         original: str) -> None:
    _, catalog = crawled
    col = catalog.get(table).column(column)
    assert col is not None, f"{table}.{column} missing"
    assert col.type == type_
    assert original in col.original_names


def test_jhu_header_versions_union_into_one_table(crawled) -> None:  # noqa: ANN001
    _, catalog = crawled
    jhu = catalog.get("enigma_jhu")
    assert len(jhu.groups) == 4  # four header versions; BOM and CRLF do not split groups
    assert [c.name for c in jhu.columns][:12] == [
        "fips", "admin2", "province_state", "country_region", "last_update", "latitude",
        "longitude", "confirmed", "deaths", "recovered", "active", "combined_key"]
    assert {f.bom for f in jhu.files.values()} == {True, False}
    assert {f.newline for f in jhu.files.values()} == {"\n", "\r\n"}


def test_all_text_csv_and_two_header_census_file(crawled) -> None:  # noqa: ANN001
    _, catalog = crawled
    states = catalog.get("state_abv")
    assert states.rows == 51 and states.groups[0].dialect.header_lines == 1
    census = catalog.get("county_population")
    assert census.groups[0].dialect.header_lines == 2
    assert census.rows == 3142  # the second header line is not a row
    assert census.column("geo_id2").description == "Id2"


def test_values_keep_leading_zeros_through_the_engine(crawled) -> None:  # noqa: ANN001
    from covidlake.engines.duckdb import DuckDBEngine

    lake, catalog = crawled
    engine = DuckDBEngine(lake, catalog)
    got = engine.query("SELECT geo_id2, respop72018 FROM county_population "
                       "WHERE geo_display_label = 'Autauga County, Alabama'").to_pylist()
    assert got == [{"geo_id2": "01001", "respop72018": 55601}]
    quoted = engine.query("SELECT alpha_2_code FROM countrycode "
                          "WHERE country = 'Korea, Republic of'").to_pylist()
    assert quoted == [{"alpha_2_code": "KR"}]


def test_recrawl_reads_only_new_or_changed_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(bundled_sample(), src)
    lake = open_store(str(tmp_path / "lake"))
    ingest(str(src), lake)
    first = crawl(lake, open_catalog("embedded", lake))
    assert first.files_read == 21
    again = crawl(lake, open_catalog("embedded", lake))
    assert (again.files_read, again.catalog_version) == (0, first.catalog_version)
    # upstream adds a column (states_daily grew from 53 to 56 columns): a schema diff
    f = src / "rearc-covid-19-testing-data/csv/us_daily/us_daily.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([lines[0] + ",hospitalizedDischarged"]
                           + [ln + ",7" for ln in lines[1:]]) + "\n")
    ingest(str(src), lake)
    catalog = open_catalog("embedded", lake)
    changed = crawl(lake, catalog)
    assert changed.files_read == 1
    assert changed.changes == {"us_daily": ["+hospitalized_discharged BIGINT"]}
    table = catalog.get("us_daily")
    assert table.version == 2 and [h["version"] for h in table.history] == [1, 2]
    assert changed.catalog_version == first.catalog_version + 1


def test_quoted_fields_stay_whole(crawled) -> None:  # noqa: ANN001
    """The AWS tutorial's crawler split `"Anhui, Mainland China"`-style fields."""
    from covidlake.engines.duckdb import DuckDBEngine

    lake, catalog = crawled
    engine = DuckDBEngine(lake, catalog)
    got = engine.query("""SELECT count(*) FILTER (WHERE combined_key LIKE '"%') AS broken,
        count(*) FILTER (WHERE combined_key = 'King, Washington, US') AS whole
        FROM enigma_jhu""").to_pylist()
    assert got == [{"broken": 0, "whole": 6}]  # 6 sample days from header version 3 on


@pytest.mark.parametrize(("checked", "expected"), [
    (None, [("a,b",)]),  # every typed column that did not parse
    ({"t": ["a", "c"]}, [("a",)]),  # only those the reader asked about (the transform's)
    ({"t": ["c"]}, []),
])
def test_bad_columns_name_the_checked_columns(tmp_path: Path, checked: object,
                                              expected: list[tuple[str]]) -> None:
    from covidlake.engines.duckdb import DuckDBEngine
    from covidlake.sources import SourceTable

    lake = open_store(str(tmp_path / "lake"))
    # 300 good rows: one bad value each in a and b stays under the crawler's 1%, so both are
    # typed BIGINT and the bad values become NULL
    lake.put("raw/t/part-0.csv", b"a,b,c\n" + b"4,5,6\n" * 300 + b"x,y,7\n")
    catalog = open_catalog("embedded", lake)
    crawl(lake, catalog, (SourceTable("t", "t/", "generated"),))
    assert [c.type for c in catalog.get("t").columns] == ["BIGINT"] * 3
    engine = DuckDBEngine(lake, catalog, named=False, checked=checked)  # type: ignore[arg-type]
    try:
        assert engine.con.execute("SELECT _bad_columns FROM src.t WHERE _bad_columns <> ''"
                                  ).fetchall() == expected
        assert engine.con.execute("SELECT count(*), count(a), count(b) FROM src.t"
                                  ).fetchone() == (301, 300, 300)
    finally:
        engine.close()


def test_deferred_views_are_created_when_first_read(tmp_path: Path) -> None:
    """The transform's engine binds no view until a statement reads it (each view's binding
    cost a new day milliseconds, and it reads one), and reads the same rows then."""
    from covidlake.engines.duckdb import DuckDBEngine
    from covidlake.sources import SourceTable
    from covidlake.transform.runner import DuckDBRunner

    lake = open_store(str(tmp_path / "lake"))
    lake.put("raw/t/part-0.csv", b"a,b\n1,x\n2,y\n")
    lake.put("raw/u/part-0.csv", b"c\n3\n")
    catalog = open_catalog("embedded", lake)
    crawl(lake, catalog, (SourceTable("t", "t/", "generated"), SourceTable("u", "u/", "g")))
    engine = DuckDBEngine(lake, catalog, named=False, deferred=True)
    try:
        views = "SELECT view_name FROM duckdb_views() WHERE schema_name = 'src' ORDER BY 1"
        assert engine.con.execute(views).fetchall() == []
        runner = DuckDBRunner(engine.con, engine.src_views)
        assert runner.rows('SELECT sum(a), string_agg(b, \'\' ORDER BY b) FROM src."t"') \
            == [(3, "xy")]
        assert engine.con.execute(views).fetchall() == [("t",)]
        runner.stage('CREATE TABLE stage.u AS SELECT c FROM src."u"')
        assert engine.con.execute(views).fetchall() == [("t",), ("u",)]
    finally:
        engine.close()
