"""`covidlake query` output formats and `covidlake shell` on the lake and the warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, Done, cli
from covidlake.load import load
from covidlake.shell import statements
from covidlake.store import open_store
from covidlake.warehouses import open_warehouse

LAKE_SQL = "SELECT state, count(*) AS days, max(date) AS last FROM us_states GROUP BY state"
WH_SQL = ("SELECT state_abbr, count(*) AS days, max(date) AS last FROM covid.v_daily_state "
          "WHERE cases IS NOT NULL GROUP BY state_abbr")


def _where(run: Done, on: str) -> list[str]:
    return ["--on", on, "--lake", str(run.lake), "--warehouse", str(run.warehouse)]


@pytest.mark.parametrize(("on", "sql"), [("lake", LAKE_SQL), ("warehouse", WH_SQL)])
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "table"])
def test_every_format_carries_the_same_rows(sample_run: Done, tmp_path: Path, on: str,
                                            sql: str, fmt: str) -> None:
    with sample_run.connect() as con:
        want_rows = con.execute(
            "SELECT count(DISTINCT state) FROM covid.v_daily_state WHERE cases IS NOT NULL"
        ).fetchone()[0]
    out = tmp_path / f"result.{fmt}"
    args = ["query", sql + " ORDER BY 1", *_where(sample_run, on), "--format", fmt]
    if fmt == "parquet":
        proc = cli(*args, "--output", str(out), cwd=tmp_path)
        assert proc.stdout == ""
        table = pq.read_table(out)
        assert table.num_rows == want_rows
        assert table.schema.field("days").type == pa.int64()
        assert table.schema.field("last").type == pa.date32()  # typed, not text
        return
    text = cli(*args, cwd=tmp_path).stdout
    if fmt == "csv":
        lines = text.strip().splitlines()
        assert len(lines) == want_rows + 1 and lines[0].split(",")[1] == '"days"'
    elif fmt == "json":
        rows = json.loads(text)
        assert len(rows) == want_rows and rows[0]["last"] == "2020-04-05"
    else:
        assert f"({want_rows} rows)" in text
    # the same result to a file, with nothing on stdout
    assert cli(*args, "--output", str(out), cwd=tmp_path).stdout == ""
    assert out.read_text() == text or fmt == "table"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--format", "parquet"], 2, "parquet needs --output"),
    (["--on", "nowhere"], 2, "Invalid value for '--on'"),
    (["--output", "/proc/no/such/dir/x.csv", "--format", "csv"], 1, "cannot write"),
])
def test_query_usage_and_output_errors(sample_run: Done, tmp_path: Path, args: list[str],
                                       code: int, message: str) -> None:
    proc = cli("query", "SELECT 1", "--lake", str(sample_run.lake), *args, cwd=tmp_path,
               check=False)
    assert proc.returncode == code and message in proc.stderr + proc.stdout


@pytest.mark.parametrize(("lines", "expected"), [
    (["SELECT 1;"], ["SELECT 1"]),
    (["SELECT 1; SELECT 2;"], ["SELECT 1", "SELECT 2"]),
    (["SELECT", "  1", ";"], ["SELECT\n  1"]),
    (["SELECT 'a;b';"], ["SELECT 'a;b'"]),
    (["SELECT 1; -- a comment; not a statement"], ["SELECT 1"]),
    ([".tables", "SELECT 1"], [".tables", "SELECT 1"]),  # the last may lack its ;
    (["-- only a comment", ""], []),
])
def test_statements_are_split_on_semicolons(lines: list[str], expected: list[str]) -> None:
    assert list(statements(lines)) == expected


def _shell(run: Done, on: str, script: str, tmp_path: Path, warehouse: str | None = None
           ) -> tuple[int, str, str]:
    proc = cli("shell", on, "--lake", str(run.lake), "--warehouse",
               warehouse or str(run.warehouse), cwd=tmp_path, check=False, input=script)
    return proc.returncode, proc.stdout, proc.stderr


def test_shell_on_the_lake_runs_a_script(sample_run: Done, tmp_path: Path) -> None:
    code, out, err = _shell(sample_run, "lake", ".tables\n.format csv\nSELECT count(*) AS n\n"
                            "  FROM us_county;\n.schema us_county\n", tmp_path)
    raw = ROOT / "src/covidlake/sample/covid19-lake/enigma-nytimes-data-in-usa/csv/us_county"
    lines = (raw / "us_county.csv").read_text().splitlines()
    assert code == 0, err
    assert "enigma_jhu" in out and "us_county" in out
    assert f'"n"\n{len(lines) - 1}\n' in out  # the raw file's rows, header not counted
    assert "fips" in out and "VARCHAR" in out


def test_shell_keeps_going_after_an_error_and_says_so(sample_run: Done, tmp_path: Path) -> None:
    code, out, err = _shell(sample_run, "warehouse", "SELECT * FROM nowhere;\n.bogus\n"
                            "SELECT 41 + 1 AS answer;\n.quit\nSELECT 'not run';\n", tmp_path)
    assert code == 1
    assert "nowhere" in err and "unknown command '.bogus'" in err
    assert "42" in out and "not run" not in out


def test_shell_on_the_warehouse_is_read_only(sample_run: Done, tmp_path: Path) -> None:
    code, _, err = _shell(sample_run, "warehouse",
                          "CREATE TABLE covid.scratch AS SELECT 1 AS x;\n", tmp_path)
    assert code == 1 and "read-only" in err.lower()
    with sample_run.connect() as con:
        assert not con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'scratch'").fetchone()[0]


def test_shell_on_postgresql_speaks_its_dialect_and_changes_nothing(
        sample_run: Done, pg_url: str, tmp_path: Path) -> None:
    wh = open_warehouse(pg_url)
    load(open_store(str(sample_run.lake)), wh, "shell")
    wh.close()
    script = ("SELECT state_abbr, round(icu_beds_per_100k::numeric, 1) AS icu FROM "
              "covid.v_state_capacity WHERE state_abbr = 'NY';\n"
              "CREATE TABLE covid.scratch (x int);\n.tables\n")
    code, out, err = _shell(sample_run, "warehouse", script, tmp_path, warehouse=pg_url)
    assert code == 0, err  # PostgreSQL's ::numeric cast went through as written
    assert "NY" in out and "covid.v_daily_state" in out and "covid.scratch" not in out
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT to_regclass('covid.scratch')").fetchone()[0] is None


@pytest.mark.parametrize("on", ["lake", "warehouse"])
def test_no_progress_bar_can_reach_stdout(sample_run: Done, tmp_path: Path, on: str) -> None:
    """DuckDB draws a progress bar on stdout for queries over 2 s, into CSV and JSON output;
    every connection covidlake opens turns it off."""
    proc = cli("query", "SELECT current_setting('enable_progress_bar') AS bar",
               *_where(sample_run, on), "--format", "csv", cwd=tmp_path)
    assert proc.stdout.splitlines() == ['"bar"', "false"]
