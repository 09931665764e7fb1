from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from conftest import Done, cli


def _query(done: Done, sql: str, fmt: str) -> str:
    return cli("query", sql, "--lake", str(done.lake), "--format", fmt, cwd=done.workdir).stdout


def test_query_csv_has_a_header_row(sample_run: Done) -> None:
    out = _query(sample_run, "SELECT fips, cases FROM us_county WHERE date = DATE '2020-04-01' "
                 "AND county = 'King' AND state = 'Washington'", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [["fips", "cases"], ["53033", "2498"]]


def test_query_json_and_table(sample_run: Done) -> None:
    sql = "SELECT state, abbreviation FROM state_abv WHERE state LIKE 'New %' ORDER BY state"
    got = json.loads(_query(sample_run, sql, "json"))
    assert got[0] == {"state": "New Hampshire", "abbreviation": "NH"} and len(got) == 4
    table = _query(sample_run, sql, "table")
    assert "New Mexico" in table and "(4 rows)" in table


def test_query_jhu_across_header_versions(sample_run: Done) -> None:
    got = json.loads(_query(sample_run, "SELECT count(DISTINCT _file) AS n FROM src.enigma_jhu "
                            "WHERE latitude IS NOT NULL", "json"))
    assert got == [{"n": 9}]  # the 9 of 12 sample days from header version 2 on


def test_tables_and_describe(sample_run: Done) -> None:
    tables = cli("tables", "--lake", str(sample_run.lake), cwd=sample_run.workdir).stdout
    for name in ("enigma_jhu", "us_county", "hospital_beds", "state_abv"):
        assert name in tables
    desc = cli("describe", "enigma_jhu", "--lake", str(sample_run.lake),
               cwd=sample_run.workdir).stdout
    for text in ("province_state", "Province/State", "Province_State", "TIMESTAMP",
                 "file group 4", "schema history"):
        assert text in desc, text


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["query", "SELEC nonsense"], 1, "query failed"),
        (["query", "SELECT * FROM no_such_table"], 1, "no_such_table"),
        (["describe", "no_such_table"], 1, "not in the catalog"),
        (["no-such-command"], 2, "No such command"),
        (["query", "SELECT 1", "--format", "xml"], 2, "xml"),
        (["run", "--source", "/nonexistent/covid19-lake"], 1, "/nonexistent/covid19-lake"),
    ],
)
def test_errors_are_clear_with_the_right_exit_code(sample_run: Done, tmp_path: Path,
                                                   args: list[str], code: int,
                                                   message: str) -> None:
    lake = ["--lake", str(sample_run.lake)] if args[0] in ("query", "describe") else [
        "--lake", str(tmp_path / "lake")] if args[0] == "run" else []
    proc = cli(*args, *lake, cwd=tmp_path, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_quiet_prints_no_progress(sample_run: Done, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(sample_run.lake, tmp_path / "lake")  # crawl records a run in the lake
    proc = cli("crawl", "--lake", str(tmp_path / "lake"), "--quiet", cwd=tmp_path)
    assert proc.stderr == ""


def test_a_password_never_reaches_output_or_run_records(sample_run: Done, tmp_path: Path
                                                        ) -> None:
    import shutil

    shutil.copytree(sample_run.lake, tmp_path / "lake")
    proc = cli("load", "--lake", str(tmp_path / "lake"), cwd=tmp_path, check=False,
               env={"COVIDLAKE_WAREHOUSE": "postgresql://etl:hunter2@127.0.0.1:1/covid"})
    assert proc.returncode == 1
    assert "hunter2" not in proc.stdout + proc.stderr
    for path in (tmp_path / "lake").rglob("*.json"):
        assert "hunter2" not in path.read_text(), path


def test_schema_change_can_fail_the_crawl(sample_run: Done, tmp_path: Path) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(sample_run.lake, lake)
    f = lake / "raw/static-datasets/csv/state-abv/states_abv.csv"
    f.write_text(f.read_text().replace('"State","Abbreviation"', '"State","Abbreviation","Fips"'))
    proc = cli("crawl", "--lake", str(lake), "--on-schema-change", "fail", cwd=tmp_path,
               check=False)
    assert proc.returncode == 1
    assert "schema of state_abv changed: +fips" in proc.stderr
    ok = cli("crawl", "--lake", str(lake), "--on-schema-change", "evolve", cwd=tmp_path)
    assert "schema of state_abv changed (v2): +fips" in ok.stderr
    desc = cli("describe", "state_abv", "--lake", str(lake), cwd=tmp_path).stdout
    assert "v2" in desc and "+fips" in desc


def test_output_is_whole_through_a_pipe(tmp_path: Path) -> None:
    # the program leaves without the interpreter's teardown: what it wrote (here with a plain
    # sys.stdout.write, buffered as a pipe is by default) must all arrive
    import json

    proc = cli("aws", "template", cwd=tmp_path, env={"PYTHONUNBUFFERED": ""})
    assert "TransformJob" in json.loads(proc.stdout)["Resources"]
