"""Bad input: each case is a clear error (exit 1, the file and what to do) or a counted
rejection; never a traceback, never a silent loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import cli
from covidlake.settings import bundled_sample

NYT = "enigma-nytimes-data-in-usa/csv/us_county/us_county.csv"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    dst = tmp_path / "source"
    shutil.copytree(bundled_sample(), dst)
    return dst


def _run(tmp_path: Path, source: Path) -> tuple[int, str, str]:
    proc = cli("run", "--source", str(source), "--lake", str(tmp_path / "lake"),
               "--warehouse", str(tmp_path / "wh.duckdb"), cwd=tmp_path, check=False)
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_missing_source_folder(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, tmp_path / "no-such-folder")
    assert code == 1
    assert "no-such-folder" in err and "--source" in err


def test_unreadable_file(tmp_path: Path, source: Path) -> None:
    target = source / "static-datasets/csv/state-abv/states_abv.csv"
    target.unlink()
    target.symlink_to(tmp_path / "gone.csv")  # a dangling link cannot be read, even by root
    code, _, err = _run(tmp_path, source)
    assert code == 1
    assert "states_abv.csv" in err and "cannot read" in err


def test_binary_file_in_a_table_folder(tmp_path: Path, source: Path) -> None:
    (source / "enigma-jhu/csv/08-27-2020.csv").write_bytes(b"\x00\x01PK\x03\x04" * 100)
    code, _, err = _run(tmp_path, source)
    assert code == 1
    assert "08-27-2020.csv" in err and "binary" in err


@pytest.mark.parametrize(
    ("file", "old", "new", "names"),
    [
        (NYT, "date,county,state,fips,cases,deaths", "date,county,state,fips,case_count,deaths",
         ["us_county", "'cases'", "header changed"]),
        ("enigma-jhu/csv/08-26-2020.csv", "Combined_Key,Incidence_Rate",
         "Combined_Key,Incidence_Rate", []),  # unchanged control: the run succeeds
    ],
)
def test_csv_with_a_changed_header(tmp_path: Path, source: Path, file: str, old: str,
                                   new: str, names: list[str]) -> None:
    _edit(source / file, old, new)
    code, _, err = _run(tmp_path, source)
    assert code == (1 if names else 0), err
    for text in names:
        assert text in err


def test_jhu_file_with_a_fifth_header_version_missing_a_column(tmp_path: Path, source: Path
                                                               ) -> None:
    path = source / "enigma-jhu/csv/08-26-2020.csv"
    _edit(path, ",Confirmed,", ",Confirmed_Cases,")
    code, _, err = _run(tmp_path, source)
    assert code == 1
    assert "'confirmed' is missing from 1 file(s)" in err and "08-26-2020.csv" in err


def test_non_numeric_count_is_a_counted_rejection(tmp_path: Path, source: Path) -> None:
    path = source / NYT
    _edit(path, "2020-04-01,King,Washington,53033,2498,166",
          "2020-04-01,King,Washington,53033,2.5k,166")
    code, out, err = _run(tmp_path, source)
    assert code == 0, err
    assert "unparseable value in cases: 1" in err
    record = json.loads(sorted((tmp_path / "lake/_runs").glob("*.json"))[-1].read_text())
    nyt = next(r for r in record["reconciliation"] if r["source_table"] == "us_county")
    assert (nyt["rows_read"], nyt["rows_used"], nyt["rows_rejected"]) == (2734, 2733, 1)
    quarantined = duckdb.connect().execute(
        "SELECT source_table, reason, county, fips FROM read_parquet(?)",
        [str(tmp_path / "lake/rejects/rejected_rows.parquet")]).fetchall()
    assert ("us_county", "unparseable value in cases", "King", "53033") in quarantined
    wh = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert wh.execute("SELECT count(*) FROM covid.fact_covid f JOIN covid.dim_region r "
                      "USING (region_key) WHERE r.fips = '53033' AND f.date_key = 20200401 "
                      "AND f.nyt_cases IS NOT NULL").fetchone() == (0,)
