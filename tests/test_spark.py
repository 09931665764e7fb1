"""The transform on Spark (local[*], Java 17) gives the same star schema as on DuckDB: same
rows, keys and values, table by table, and so byte-identical exported files."""

from __future__ import annotations

import json
import math
import shutil
import sys
import types
from pathlib import Path

import duckdb
import pytest
import sqlglot

from conftest import Done, cli
from covidlake.engines.spark import java_pattern, to_spark
from covidlake.export import StarManifest
from covidlake.store import open_store
from covidlake.transform.model import STAR_TABLES


@pytest.mark.parametrize(
    ("duckdb_sql", "spark_sql"),
    [
        ("SELECT * FROM stage.obs o", "SELECT * FROM stage__obs AS o"),
        ("SELECT regexp_full_match(f, '[0-9]{4,5}')", "SELECT f RLIKE '^(?:[0-9]{4,5})$'"),
        ("SELECT TRY_STRPTIME(v, ['%m/%d/%y %H:%M', '%m/%d/%Y %H:%M'])",
         "SELECT COALESCE(TRY_TO_TIMESTAMP(v, 'M/d/yy H:mm'), "
         "TRY_TO_TIMESTAMP(v, 'M/d/yyyy H:mm'))"),
        ("SELECT TRY_STRPTIME(v, '%Y%m%d')", "SELECT TRY_TO_TIMESTAMP(v, 'yyyyMMdd')"),
        ("SELECT arg_min(a, b) FROM t GROUP BY ALL", "SELECT MIN_BY(a, b) FROM t GROUP BY ALL"),
    ],
)
def test_model_sql_is_rendered_for_spark(duckdb_sql: str, spark_sql: str) -> None:
    assert to_spark(sqlglot.parse_one(duckdb_sql, read="duckdb")) == spark_sql


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [("%Y-%m-%d", "yyyy-M-d"), ("%Y%m%d", "yyyyMMdd"), ("%m/%d/%y", "M/d/yy"),
     ("%Y-%m-%dT%H:%M:%SZ", "yyyy-M-d'T'H:mm:ss'Z'")],
)
def test_java_patterns(fmt: str, pattern: str) -> None:
    assert java_pattern(fmt) == pattern


def _same(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9) or (math.isnan(x) and math.isnan(y))
    return x == y


def _compare(spark_lake: Path, duckdb_lake: Path) -> None:
    """Table by table, ordered by key: the same rows and values (floats to 1e-9)."""
    got = StarManifest.read(open_store(str(spark_lake)))
    want = StarManifest.read(open_store(str(duckdb_lake)))
    con = duckdb.connect()
    for t in STAR_TABLES:
        key = ", ".join(t.primary_key)
        a = con.execute(f"SELECT * FROM read_parquet('{spark_lake}/star/{t.name}/*.parquet')"
                        f" ORDER BY {key}").fetchall()
        b = con.execute(f"SELECT * FROM read_parquet('{duckdb_lake}/star/{t.name}/*.parquet')"
                        f" ORDER BY {key}").fetchall()
        assert len(a) == len(b), t.name
        for ra, rb in zip(a, b, strict=True):
            assert all(_same(x, y) for x, y in zip(ra, rb, strict=True)), (t.name, ra, rb)
    assert got.version == want.version  # and so the exported files are byte-identical


@pytest.mark.slow
def test_sample_on_spark_equals_duckdb(sample_run: Done, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_run.lake, lake)
    shutil.rmtree(lake / "star")
    proc = cli("transform", "--engine", "spark", "--lake", str(lake), cwd=tmp_path)
    assert "star version" in proc.stderr
    _compare(lake, sample_run.lake)
    record = json.loads(sorted((lake / "_runs").glob("*.json"))[-1].read_text())
    assert record["stages"][0]["detail"]["engine"] == "spark"


@pytest.mark.slow
def test_the_glue_job_script_runs_the_same_transform(sample_run: Done, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated Glue script, run with stand-ins for Glue's own modules on local Spark."""
    out = tmp_path / "job"
    proc = cli("glue-job", "--bucket", "covid-lake", "--role-arn",
               "arn:aws:iam::123456789012:role/covidlake-job", "--output", str(out),
               cwd=tmp_path)
    script, job = (Path(p) for p in proc.stdout.split())
    definition = json.loads(job.read_text())
    assert definition["Command"]["ScriptLocation"] == \
        "s3://covid-lake/jobs/covidlake_transform.py"
    assert definition["DefaultArguments"]["--lake"] == "s3://covid-lake/"
    lake = tmp_path / "lake"
    shutil.copytree(sample_run.lake, lake)
    shutil.rmtree(lake / "star")
    from pyspark.context import SparkContext

    awsglue = types.ModuleType("awsglue")
    utils = types.ModuleType("awsglue.utils")
    context = types.ModuleType("awsglue.context")
    utils.getResolvedOptions = lambda argv, names: {"lake": str(lake)}  # type: ignore[attr-defined]
    context.GlueContext = lambda sc: sc  # type: ignore[attr-defined]
    for name, module in (("awsglue", awsglue), ("awsglue.utils", utils),
                         ("awsglue.context", context)):
        monkeypatch.setitem(sys.modules, name, module)
    from covidlake.engines.spark import session

    session()  # the session GlueContext would have made
    exec(compile(script.read_text(), str(script), "exec"), {"__name__": "__main__"})  # noqa: S102
    SparkContext.getOrCreate().stop()
    _compare(lake, sample_run.lake)


@pytest.mark.slow
@pytest.mark.integration
def test_full_mirror_on_spark_equals_duckdb(full_run: Done, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(full_run.lake, lake)
    shutil.rmtree(lake / "star")
    cli("transform", "--engine", "spark", "--lake", str(lake), cwd=tmp_path)
    _compare(lake, full_run.lake)
