from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import Done, cli
from covidlake.export import StarManifest
from covidlake.store import open_store
from covidlake.transform.model import BY_NAME
from covidlake.warehouses import Capabilities
from covidlake.warehouses.ddl import create_table as ddl


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (Capabilities("duckdb"), [
            "date_key INTEGER NOT NULL", "confirmed BIGINT", "PRIMARY KEY (date_key, region_key)",
            "FOREIGN KEY (region_key) REFERENCES covid.dim_region (region_key)"]),
        (Capabilities("postgres", "postgres"), ["date_key INT NOT NULL", "confirmed BIGINT",
                                                "PRIMARY KEY (date_key, region_key)"]),
        (Capabilities("redshift", "redshift"), [
            "date_key INTEGER NOT NULL", "FOREIGN KEY (date_key) REFERENCES covid.dim_date"]),
    ],
)
def test_fact_ddl_per_dialect(sample_run: Done, caps: Capabilities, expected: list[str]) -> None:
    manifest = StarManifest.read(open_store(str(sample_run.lake)))
    sql = ddl(manifest.table("fact_covid"), BY_NAME["fact_covid"], caps)
    for part in expected:
        assert part in sql, sql


@pytest.mark.parametrize("dialect", [None, "postgres", "redshift"])
def test_varchar_lengths_are_measured(sample_run: Done, dialect: str | None) -> None:
    manifest = StarManifest.read(open_store(str(sample_run.lake)))
    region = manifest.table("dim_region")
    longest = sample_run.connect().execute(
        "SELECT max(length(country_region)) FROM covid.dim_region").fetchone()[0]
    assert next(c for c in region.columns if c.name == "country_region").max_length == longest
    sql = ddl(region, BY_NAME["dim_region"], Capabilities(dialect or "duckdb", dialect))
    assert f"country_region VARCHAR({longest})" in sql
    assert ("DOUBLE PRECISION" if dialect else "latitude DOUBLE") in sql


# A table split in Parquet files (rows of each file: a value or None per column): the schema
# from the files' footers must be the one a scan of the rows gives, or None where it cannot be.
_PARTS = {
    "a column NULL in one file only": ([[(1, 10)], [(2, None), (3, 30)]], True),
    "no NULL anywhere": ([[(1, 10), (2, 20)], [(3, 30)]], True),
    "all NULL in one column": ([[(1, None)], [(2, None)]], True),
    "text: lengths need the rows": ([[(1, "a")], [(2, "bcd")]], False),
}


@pytest.mark.parametrize(("parts", "from_files"), _PARTS.values(), ids=list(_PARTS))
def test_schema_from_parquet_footers_is_the_scanned_one(tmp_path: Path, parts: list,
                                                        from_files: bool) -> None:
    from covidlake.export import _schema, _schema_of_files

    con = duckdb.connect()
    kind = "VARCHAR" if isinstance(parts[0][0][1], str) else "BIGINT"
    con.execute(f"CREATE TABLE t (k INTEGER NOT NULL, v {kind})")
    uris = []
    for i, rows in enumerate(parts):
        con.executemany("INSERT INTO t VALUES (?, ?)", rows)
        uris.append(str(tmp_path / f"part-{i}.parquet"))
        keys = ", ".join(str(k) for k, _ in rows)
        con.execute(f"COPY (SELECT * FROM t WHERE k IN ({keys})) TO '{uris[-1]}' "
                    "(FORMAT parquet)")
    from_footers = _schema_of_files(con, "t", uris)
    assert (from_footers is not None) is from_files
    if from_files:
        assert from_footers == _schema(con, "t")


def _copy(done: Done, dst: Path) -> tuple[Path, Path]:
    shutil.copytree(done.workdir, dst)
    return dst / "lake", dst / "wh.duckdb"


def _snapshot(wh: Path) -> dict[str, object]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*), sum(hash(t::VARCHAR)) FROM covid.{t} t"
                               ).fetchone() for t in ("dim_date", "dim_region", "dim_hospital",
                                                      "fact_covid", "dq_results",
                                                      "load_history")}
    finally:
        con.close()


def _truncate(fact: Path) -> None:
    fact.write_bytes(fact.read_bytes()[: fact.stat().st_size // 2])


def _dangle(fact: Path) -> None:
    """Same rows, but one references a region the dimension lacks."""
    con = duckdb.connect()
    tmp = fact.with_suffix(".tmp")
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 1 THEN -7 ELSE "
                f"region_key END AS region_key) FROM read_parquet('{fact}')) TO '{tmp}' "
                "(FORMAT parquet)")
    con.close()
    tmp.replace(fact)


def _duplicate(fact: Path) -> None:
    """Same number of rows, but the second repeats the first one's key."""
    con = duckdb.connect()
    tmp = fact.with_suffix(".tmp")
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN n = 2 THEN first_value(date_key) OVER w "
                f"ELSE date_key END AS date_key, CASE WHEN n = 2 THEN first_value(region_key) "
                f"OVER w ELSE region_key END AS region_key) FROM (SELECT *, row_number() OVER () "
                f"AS n FROM read_parquet('{fact}')) WINDOW w AS (ORDER BY n)) TO '{tmp}' "
                "(FORMAT parquet)")
    key = con.execute(f"SELECT date_key, region_key FROM read_parquet('{tmp}') LIMIT 1"
                      ).fetchone()
    con.execute(f"COPY (SELECT * EXCLUDE (n) FROM read_parquet('{tmp}')) TO '{fact}' "
                "(FORMAT parquet)")
    con.close()
    tmp.unlink()
    fact.with_suffix(".key").write_text(f"{key[0]}, {key[1]}")


@pytest.mark.parametrize(("damage", "message"), [
    (_truncate, "previous tables kept"),
    (_dangle, "reference no covid.dim_region row (first region_key = -7)"),
    (_duplicate, "covid.fact_covid: 1 row(s) repeat a primary key (date_key, region_key) "
                 "(first {key})"),
])
def test_failed_load_leaves_previous_tables(sample_run: Done, tmp_path: Path, damage: Any,
                                            message: str) -> None:
    lake, wh = _copy(sample_run, tmp_path / "w")
    before = _snapshot(wh)
    # a new star version whose fact file is broken: dimensions load first, then it fails
    manifest = json.loads((lake / "star/_manifest.json").read_text())
    manifest["version"] = "0000000000000000"
    (lake / "star/_manifest.json").write_text(json.dumps(manifest))
    files = next(t["files"] for t in manifest["tables"] if t["name"] == "fact_covid")
    fact = next(k for k in files if k.endswith(".parquet"))
    damage(lake / fact)
    key = lake / Path(fact).with_suffix(".key")
    if key.exists():
        message = message.format(key=key.read_text())
    proc = cli("load", "--lake", str(lake), "--warehouse", str(wh), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert _snapshot(wh) == before


def test_reload_of_same_version_is_a_noop_and_never_duplicates(sample_run: Done,
                                                               tmp_path: Path) -> None:
    lake, wh = _copy(sample_run, tmp_path / "w")
    before = _snapshot(wh)
    proc = cli("load", "--lake", str(lake), "--warehouse", str(wh), cwd=tmp_path)
    assert "already has star version" in proc.stderr
    assert _snapshot(wh) == before
    # a forced reload (new version id, same data) replaces, never appends
    manifest = json.loads((lake / "star/_manifest.json").read_text())
    manifest["version"] = "1111111111111111"
    (lake / "star/_manifest.json").write_text(json.dumps(manifest))
    cli("load", "--lake", str(lake), "--warehouse", str(wh), cwd=tmp_path)
    after = _snapshot(wh)
    for t in ("dim_date", "dim_region", "dim_hospital", "fact_covid", "dq_results"):
        assert after[t] == before[t], t
    assert after["load_history"][0] == before["load_history"][0] + 1


def test_load_without_transform_says_what_to_do(tmp_path: Path) -> None:
    proc = cli("load", "--lake", str(tmp_path / "empty"), "--warehouse",
               str(tmp_path / "w.duckdb"), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "covidlake transform" in proc.stderr
