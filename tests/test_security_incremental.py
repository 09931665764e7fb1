"""Security (a planted secret appears nowhere; safe file modes; dependency audit) and
incremental runs (a new day re-processes only itself, in the transform and the load too, and
equals a full rebuild)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from conftest import MIRROR, ROOT, cli
from covidlake.settings import bundled_sample
from servers import SECRET_KEY

PG_SECRET = "planted-pg-password-5f1c"


def test_a_planted_secret_appears_nowhere(s3, pg_server, tmp_path: Path) -> None:  # noqa: ANN001
    """S3 credentials from the environment and a PostgreSQL password in the URL: after a whole
    run and a report, neither is in any output, lake object, run record or warehouse row."""
    server, bucket = s3
    url = pg_server.create_database("secrets").replace(
        "postgres@", f"postgres:{PG_SECRET}@")
    lake = f"s3://{bucket}/lake"
    outputs = []
    for args in (("run", "--lake", lake, "--warehouse", url),
                 ("report", "--lake", lake, "--warehouse", url),
                 ("load", "--lake", lake, "--warehouse", url.replace(str(pg_server.port), "9")),
                 ("query", "SELECT * FROM no_such_table", "--lake", lake)):
        proc = cli(*args, cwd=tmp_path, check=False)
        outputs += [proc.stdout, proc.stderr]
    assert "succeeded" in outputs[0]
    client = server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            outputs.append(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                           .decode("utf-8", "replace"))
    with psycopg.connect(url) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'covid'").fetchall():
            outputs.append(str(con.execute(f"SELECT * FROM covid.{table}").fetchall()))
    outputs += [p.read_text("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    text = "\n".join(outputs)
    assert SECRET_KEY not in text and PG_SECRET not in text
    assert "postgres:***@" in text  # the URL is shown, redacted


def test_files_are_written_with_safe_modes(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    cli("run", "--lake", str(lake), "--warehouse", str(tmp_path / "wh.duckdb"), "-q",
        cwd=tmp_path)
    files = [p for p in lake.rglob("*") if p.is_file()]
    assert files
    for path in files:
        mode = path.stat().st_mode
        assert not mode & (stat.S_IWGRP | stat.S_IWOTH), f"{path} is writable by others"
        assert not mode & stat.S_IXUSR, f"{path} is executable"


def test_dependencies_have_no_known_vulnerabilities() -> None:
    """pip-audit over the locked dependencies (requirements.lock)."""
    audit = shutil.which("pip-audit") or str(Path(sys.executable).parent / "pip-audit")
    proc = subprocess.run([audit, "-r", str(ROOT / "requirements.lock"), "--no-deps",
                           "--disable-pip", "--progress-spinner", "off"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No known vulnerabilities found" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_day_by_day_equals_a_full_rebuild(tmp_path: Path) -> None:
    """A month of JHU days (April 2020, from the mirror) added one day at a time: each run
    ingests and crawls only the new file, and the final star equals a build from scratch."""
    src = tmp_path / "src"
    shutil.copytree(bundled_sample(), src)
    jhu = src / "enigma-jhu/csv"
    for old in jhu.iterdir():
        old.unlink()
    days = sorted((MIRROR / "enigma-jhu/csv").glob("04-*-2020.csv"))
    assert len(days) == 30
    lake, wh = tmp_path / "lake", tmp_path / "wh.duckdb"
    by_day = 0  # loads that replaced just the new day (no new place shifted the keys)
    for i, day in enumerate(days):
        shutil.copy(day, jhu / day.name)
        proc = cli("run", "--source", str(src), "--lake", str(lake), "--warehouse", str(wh),
                   "-q", cwd=tmp_path)
        record = json.loads(sorted((lake / "_runs").glob("*.json"))[-1].read_text())
        stages = {s["name"]: s for s in record["stages"]}
        expected_copies = len(list((src).rglob("*.*"))) if i == 0 else 1
        assert stages["ingest"]["detail"]["copied"] == expected_copies, day.name
        if i:
            assert stages["crawl"]["detail"]["files_read"] == 1, day.name
            assert stages["transform"]["detail"]["mode"] == "incremental", (
                day.name, stages["transform"]["detail"]["full_because"])
            by_day += stages["load"]["detail"]["by_day"]
        assert "succeeded" in proc.stdout
    full = tmp_path / "full"
    cli("run", "--source", str(src), "--lake", str(full), "--warehouse",
        str(tmp_path / "full.duckdb"), "-q", cwd=tmp_path)
    incremental = json.loads((lake / "star/_manifest.json").read_text())
    rebuilt = json.loads((full / "star/_manifest.json").read_text())
    assert incremental["version"] == rebuilt["version"]
    assert incremental["tables"] == rebuilt["tables"]
    assert incremental["reconciliation"] == rebuilt["reconciliation"]
    assert by_day > 0
    tables = [t["name"] for t in rebuilt["tables"]]
    with duckdb.connect(str(wh), read_only=True) as a, \
            duckdb.connect(str(tmp_path / "full.duckdb"), read_only=True) as b:
        for t in tables:
            sql = f"SELECT * FROM covid.{t} ORDER BY ALL"
            assert a.execute(sql).fetchall() == b.execute(sql).fetchall(), t
