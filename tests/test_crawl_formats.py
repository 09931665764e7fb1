"""The crawler on every format and layout it claims: JSON arrays, Parquet, gzip, Hive
partitions, other quotes and escapes, Latin-1, no header; files that do not fit; schema
change policies; the optional overrides file."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from covidlake.catalog import open_catalog
from covidlake.crawl import crawl
from covidlake.engines.duckdb import DuckDBEngine
from covidlake.errors import SchemaError
from covidlake.sources import SourceTable
from covidlake.store import ObjectStore, open_store

T = (SourceTable("t", "t/", "test table"),)


def _crawl(lake: ObjectStore, **kwargs: object):  # noqa: ANN202
    catalog = open_catalog("embedded", lake)
    result = crawl(lake, catalog, T, **kwargs)  # type: ignore[arg-type]
    return catalog.get("t"), result


def _rows(lake: ObjectStore, sql: str = "SELECT * FROM t ORDER BY ALL") -> list[dict]:
    engine = DuckDBEngine(lake, open_catalog("embedded", lake))
    try:
        return engine.query(sql).to_pylist()
    finally:
        engine.close()


@pytest.fixture
def lake(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "lake"))


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_json_array_with_keys_beyond_the_first_records(lake: ObjectStore) -> None:
    records = [{"id": i, "name": f"n{i}", "fips": f"{i:05d}"} for i in range(300)]
    records[250]["late_key"] = 1.5
    lake.put("raw/t/a.json", json.dumps(records).encode())
    t, _ = _crawl(lake)
    assert t.format == "json"
    assert [(c.name, c.type) for c in t.columns] == [
        ("id", "BIGINT"), ("name", "VARCHAR"), ("fips", "VARCHAR"), ("late_key", "DOUBLE")]
    assert _rows(lake, "SELECT count(*) AS n, max(late_key) AS m FROM t") == [{"n": 300, "m": 1.5}]


def test_parquet_declared_types_win(lake: ObjectStore) -> None:
    table = pa.table({"code": ["01", "02"], "n": [1, 2], "day": [dt.date(2020, 1, 1), None],
                      "at": pa.array([dt.datetime(2020, 1, 1, 12), None], pa.timestamp("us")),
                      "x": [0.5, 1.0]})
    lake.put("raw/t/part-0.parquet", _parquet(table))
    t, _ = _crawl(lake)
    assert t.format == "parquet"
    assert [(c.name, c.type) for c in t.columns] == [
        ("code", "VARCHAR"), ("n", "BIGINT"), ("day", "DATE"), ("at", "TIMESTAMP"),
        ("x", "DOUBLE")]
    got = _rows(lake, "SELECT code, n, day FROM t ORDER BY n")
    assert got == [{"code": "01", "n": 1, "day": dt.date(2020, 1, 1)},
                   {"code": "02", "n": 2, "day": None}]


@pytest.mark.parametrize(
    ("name", "body", "fmt"),
    [("a.csv.gz", b"date,cases\n2020-01-01,1\n2020-01-02,3\n", "csv"),
     ("a.geojson.gz", b'{"date": "2020-01-01", "cases": 1}\n{"date": "2020-01-02", "cases": 3}\n',
      "jsonl"),
     ("a.gz", b"date,cases\n2020-01-01,1\n2020-01-02,3\n", "csv")],  # by content, not name
)
def test_gzip_of_any_format(lake: ObjectStore, name: str, body: bytes, fmt: str) -> None:
    lake.put(f"raw/t/{name}", gzip.compress(body))
    t, _ = _crawl(lake)
    assert (t.format, t.groups[0].dialect.compression) == (fmt, "gzip")
    assert [(c.name, c.type) for c in t.columns] == [("date", "DATE"), ("cases", "BIGINT")]
    assert _rows(lake, "SELECT sum(cases) AS s FROM t") == [{"s": 4}]


def test_hive_partitions_become_columns(lake: ObjectStore) -> None:
    for year, month, n in ((2020, "03", 1), (2020, "04", 2), (2021, "01", 4)):
        lake.put(f"raw/t/year={year}/month={month}/part.csv", f"state,cases\nWA,{n}\n".encode())
    t, _ = _crawl(lake)
    assert t.partition_keys == ["year", "month"]
    assert [(c.name, c.type, c.partition) for c in t.columns] == [
        ("state", "VARCHAR", False), ("cases", "BIGINT", False), ("year", "BIGINT", True),
        ("month", "VARCHAR", True)]  # '03': leading zeros keep the text
    assert _rows(lake, "SELECT year, month, cases FROM t ORDER BY cases") == [
        {"year": 2020, "month": "03", "cases": 1}, {"year": 2020, "month": "04", "cases": 2},
        {"year": 2021, "month": "01", "cases": 4}]


def test_files_that_do_not_fit_are_reported_not_merged(lake: ObjectStore) -> None:
    lake.put("raw/t/2020-01.csv", b"date,state,cases\n2020-01-01,WA,1\n2020-01-02,WA,2\n")
    lake.put("raw/t/2020-02.csv", b"date,state,cases,deaths\n2020-02-01,WA,3,0\n")  # fits
    lake.put("raw/t/README.csv", b"author,licence,url\nnyt,cc-by,https://x\n")  # does not
    lake.put("raw/t/x=1/odd.csv", b"date,state,cases\n2020-03-01,WA,9\n")  # partition layout
    t, result = _crawl(lake)
    assert sorted(t.files) == ["raw/t/2020-01.csv", "raw/t/2020-02.csv"]
    assert set(t.excluded) == {"raw/t/README.csv", "raw/t/x=1/odd.csv"}
    assert "share too little" in t.excluded["raw/t/README.csv"]
    assert result.excluded["t"] == t.excluded
    assert [c.name for c in t.columns] == ["date", "state", "cases", "deaths"]


@pytest.mark.parametrize(
    ("body", "quote", "escape", "expected"),
    [
        (b'id,text\n1,"say \\"hi\\", then go"\n2,plain\n', '"', "\\", 'say "hi", then go'),
        (b"id,text\n1,'it''s, here'\n2,'plain'\n", "'", "'", "it's, here"),
        (b'id,text\n1,"a ""quoted"", word"\n2,plain\n', '"', '"', 'a "quoted", word'),
    ],
)
def test_quote_and_escape(lake: ObjectStore, body: bytes, quote: str, escape: str,
                          expected: str) -> None:
    lake.put("raw/t/a.csv", body)
    t, _ = _crawl(lake)
    d = t.groups[0].dialect
    assert (d.quote, d.escape) == (quote, escape)
    assert _rows(lake, "SELECT text FROM t WHERE id = 1") == [{"text": expected}]


def test_latin1_and_no_header(lake: ObjectStore) -> None:
    lake.put("raw/t/a.csv", "1,Côte d'Ivoire,2.5\n2,España,3.5\n".encode("latin-1"))
    t, _ = _crawl(lake)
    d = t.groups[0].dialect
    assert (d.encoding, d.header_lines) == ("latin-1", 0)
    assert [(c.name, c.type) for c in t.columns] == [
        ("col_1", "BIGINT"), ("col_2", "VARCHAR"), ("col_3", "DOUBLE")]
    assert _rows(lake, "SELECT col_2 FROM t ORDER BY col_1") == [
        {"col_2": "Côte d'Ivoire"}, {"col_2": "España"}]


V1 = b"date,cases,deaths\n2020-01-01,1,0\n"


@pytest.mark.parametrize(
    ("policy", "v2", "accepted", "changes"),
    [
        ("warn", b"date,cases\n2020-01-01,1\n", True, ["-deaths"]),
        ("fail", b"date,cases,deaths,recovered\n2020-01-01,1,0,0\n", False,
         ["+recovered BIGINT"]),
        ("evolve", b"date,cases,deaths,recovered\n2020-01-01,1,0,0\n", True,
         ["+recovered BIGINT"]),
        ("evolve", b"date,cases,deaths\n2020-01-01,1.5,0\n", True, ["~cases BIGINT->DOUBLE"]),
        ("evolve", b"date,cases\n2020-01-01,1\n", False, ["-deaths"]),
        ("evolve", b"date,cases,deaths\n2020-01-01,one,0\n", False,
         ["~cases BIGINT->VARCHAR"]),
    ],
)
def test_schema_change_policy(lake: ObjectStore, policy: str, v2: bytes, accepted: bool,
                              changes: list[str]) -> None:
    lake.put("raw/t/a.csv", V1)
    first, _ = _crawl(lake)
    lake.put("raw/t/a.csv", v2)
    if not accepted:
        with pytest.raises(SchemaError) as err:
            _crawl(lake, on_schema_change=policy)
        assert changes[0] in str(err.value)
        assert open_catalog("embedded", lake).get("t").to_dict() == first.to_dict()
        return
    t, result = _crawl(lake, on_schema_change=policy)
    assert result.changes == {"t": changes}
    assert t.version == 2 and t.history[-1]["changes"] == changes


def test_overrides_file_forces_a_type_and_counts_misfits(lake: ObjectStore, tmp_path: Path
                                                         ) -> None:
    from covidlake.crawl import read_overrides

    lake.put("raw/t/a.csv", b"id,day\n1,20200101\n2,20200102\n3,n/a\n")
    t, _ = _crawl(lake)
    assert t.column("id").type == "BIGINT" and t.column("day").type == "VARCHAR"
    hints = tmp_path / "hints.toml"
    hints.write_text('[t.columns.id]\ntype = "VARCHAR"\n'
                     '[t.columns.day]\ntype = "DATE"\nformats = ["%Y%m%d"]\n')
    t, _ = _crawl(lake, overrides=read_overrides(str(hints)))
    assert (t.column("id").type, t.column("day").type) == ("VARCHAR", "DATE")
    assert t.column("day").bad_count == 1
    assert _rows(lake, "SELECT day FROM t ORDER BY id") == [
        {"day": dt.date(2020, 1, 1)}, {"day": dt.date(2020, 1, 2)}, {"day": None}]


@pytest.mark.parametrize(("body", "code", "count"), [
    # R's write.csv: text quoted, missing values a bare NA (the JHU full-period files)
    (b'"code","count"\n"AF",3\n"NA",NA\n"NA",4\n"BR",5\n', ["AF", "BR", "NA", "NA"],
     [3, 5, None, 4]),
    # nothing quoted: NA is a value (Namibia's code), so count's NA is a bad value
    (b"code,count\nAF,3\nNA,1\nBR,5\n", ["AF", "BR", "NA"], [3, 5, 1]),
])
def test_a_bare_na_is_null_only_where_text_is_quoted(lake: ObjectStore, body: bytes,
                                                    code: list[str], count: list) -> None:
    lake.put("raw/t/a.csv", body)
    table, _ = _crawl(lake)
    assert table.column("count").type == "BIGINT" and table.column("count").bad_count == 0
    assert table.column("code").type == "VARCHAR"
    rows = _rows(lake, "SELECT code, count FROM t ORDER BY code, count NULLS FIRST")
    assert [r["code"] for r in rows] == code
    assert [r["count"] for r in rows] == count
