"""The whole pipeline on the full mirror with lake = S3 (SeaweedFS) and warehouse =
PostgreSQL, giving the same star and the same analyst answers as the embedded run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import MIRROR, Done, cli
from covidlake.export import StarManifest
from covidlake.report import QUERIES
from covidlake.store import open_store
from covidlake.warehouses import open_warehouse
from covidlake.warehouses.duckdb import DuckDBWarehouse


@pytest.mark.integration
def test_full_mirror_on_s3_and_postgres(full_run: Done, s3, pg_url: str,  # noqa: ANN001
                                        tmp_path: Path) -> None:
    _, bucket = s3
    lake = f"s3://{bucket}/covid"
    proc = cli("run", "--source", str(MIRROR), "--lake", lake, "--warehouse", pg_url,
               cwd=tmp_path)
    assert "succeeded" in proc.stdout and "0 fail" in proc.stdout
    assert "227 copied" in proc.stderr

    s3_star = StarManifest.read(open_store(lake))
    local_star = StarManifest.read(open_store(str(full_run.lake)))
    assert s3_star.version == local_star.version  # byte-identical star files
    assert {t.name: t.rows for t in s3_star.tables} == {t.name: t.rows
                                                        for t in local_star.tables}

    pg = open_warehouse(pg_url)
    duck = DuckDBWarehouse(str(full_run.warehouse))
    try:
        for q in QUERIES:
            want = duck.query(q.sql).to_pylist()
            assert want and pg.query(q.sql).to_pylist() == want, q.name
        for t in s3_star.tables:
            n = pg.query(f"SELECT count(*) AS n FROM covid.{t.name}").column("n")[0].as_py()
            assert n == t.rows, t.name
    finally:
        pg.close()
        duck.close()
    assert os.environ["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
