"""Bad input, table-driven: each case copies the bundled sample, damages it in one way, runs
`covidlake run` and asserts the precise outcome. Either a clear error (exit 1, the file named,
a `  hint:` line, no traceback) or a counted one (exit 0, every source table balanced as
`read = used + rejected`, the damaged rows in the rejects area with their reason)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import Done, cli
from covidlake.errors import StoreError
from covidlake.settings import bundled_sample
from covidlake.store import open_store

JHU = "enigma-jhu/csv/"
JHU_LAST = JHU + "08-26-2020.csv"  # the newest header version (14 columns)
JHU_NEW = JHU + "08-27-2020.csv"  # a day the sample does not have
NYT = "enigma-nytimes-data-in-usa/csv/us_county/us_county.csv"
STATE_ABV = "static-datasets/csv/state-abv/"
HOSPITALS = "rearc-usa-hospital-beds/json/usa-hospital-beds.geojson"
KING_NYT = "2020-04-01,King,Washington,53033,2498,166"  # us_county.csv, a real line
PIERCE_NYT = "2020-04-01,Pierce,Washington,53053,423,7"
SNOHOMISH_NYT = "2020-04-01,Snohomish,Washington,53061,1304,39"
SPOKANE_NYT = "2020-04-01,Spokane,Washington,53063,145,4"
KING_JHU = ("53033,King,Washington,US,2020-08-27 04:28:15,47.49137892,-121.8346131,18976,719,0,"
            '18257,"King, Washington, US",842.3362757692488,3.7889966273187183')
KING_JHU_0401 = 2330  # King County's confirmed in JHU's 04-01-2020.csv: that day's fact stays
MISSING, EXTRA = "malformed line (missing columns)", "malformed line (too many columns)"
HOSTILE = 'x"; DROP TABLE covid.fact_covid; --'
ODD_PROVINCE = 'Nouveau "Québec", Nord\nÎle-ß'
ODD_COUNTY = "Saint-Jérôme, \"l'Ancien\"\nPort — 東京"


@dataclass
class Outcome:
    """A finished run on a damaged copy of the sample (or the undamaged baseline)."""

    code: int
    stdout: str
    stderr: str
    source: Path
    lake: Path
    warehouse: Path

    def record(self) -> dict[str, Any]:
        return json.loads(sorted((self.lake / "_runs").glob("*.json"))[-1].read_text())

    def recon(self, table: str) -> dict[str, Any]:
        return next(r for r in self.record()["reconciliation"] if r["source_table"] == table)

    def table(self, name: str) -> dict[str, Any]:
        return json.loads((self.lake / "_catalog/catalog.json").read_text())["tables"][name]

    def rejects(self, table: str) -> list[dict[str, Any]]:
        con = duckdb.connect()
        rel = con.execute("SELECT * FROM read_parquet(?) WHERE source_table = ?",
                          [str(self.lake / "rejects/rejected_rows.parquet"), table])
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(query, params or []).fetchall()

    def dq(self, check: str, table: str) -> int:
        return self.sql("SELECT failing_rows FROM covid.dq_results WHERE check_name = ? AND "
                        "table_name = ?", [check, table])[0][0]

    def fact(self, date_key: int, fips: str, measures: str) -> list[tuple[Any, ...]]:
        return self.sql(f"SELECT {measures} FROM covid.fact_covid f JOIN covid.dim_region r "
                        "USING (region_key) WHERE f.date_key = ? AND r.level = 'county' "
                        "AND r.fips = ?", [date_key, fips])


# -- damage: small edits on the copied source folder ----------------------------------------

def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # bytes, so CRLF and BOMs stay as they are


def _edit(path: Path, old: str, new: str) -> None:
    text = _text(path)
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_bytes(text.replace(old, new).encode("utf-8"))


def _append(path: Path, line: str) -> None:
    text = _text(path)
    assert text.endswith("\n")
    path.write_bytes((text + line + "\n").encode("utf-8"))


def _line_no(path: Path, line: str) -> int:
    """1-based line number of `line` in the file, the header being line 1."""
    return _text(path).split("\n").index(line) + 1


def empty_file(src: Path) -> None:
    (src / JHU_NEW).write_bytes(b"")


def header_only(src: Path) -> None:
    header = _text(src / JHU_LAST).split("\n", 1)[0] + "\n"
    (src / JHU_NEW).write_bytes(header.encode("utf-8"))


def ragged_rows(src: Path) -> None:
    _edit(src / NYT, KING_NYT, KING_NYT.rsplit(",", 1)[0])  # 5 fields
    _edit(src / NYT, PIERCE_NYT, PIERCE_NYT + ",extra")  # 7 fields


def semicolons(src: Path) -> None:
    rows = list(csv.reader(io.StringIO(_text(src / JHU_LAST))))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
    assert "," in out.getvalue().split("\n")[866 - 1]  # "King, Washington, US" kept whole
    (src / JHU_LAST).write_bytes(out.getvalue().encode("utf-8"))


def utf16(src: Path) -> None:
    (src / JHU_NEW).write_bytes(_text(src / JHU_LAST).encode("utf-16"))  # with its BOM


def utf16_without_bom(src: Path) -> None:
    (src / JHU_NEW).write_bytes(_text(src / JHU_LAST).encode("utf-16-le"))


def truncated_gzip(src: Path) -> None:
    data = gzip.compress((src / STATE_ABV / "states_abv.csv").read_bytes())
    (src / STATE_ABV / "states_abv2.csv.gz").write_bytes(data[: len(data) // 2])


def binary_file(src: Path) -> None:
    (src / JHU_NEW).write_bytes(b"\x00\x01PK\x03\x04" * 100)


def confirmed_renamed(src: Path) -> None:
    _edit(src / (JHU + "04-01-2020.csv"), ",Confirmed,", ",Confirmed_Total,")


def count_value(value: str) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        _edit(src / NYT, KING_NYT, f"2020-04-01,King,Washington,53033,{value},166")
    return damage


def us_date(src: Path) -> None:
    _edit(src / NYT, KING_NYT, KING_NYT.replace("2020-04-01", "04/01/2020"))


def duplicate_file(src: Path) -> None:
    shutil.copyfile(src / JHU_LAST, src / JHU_NEW)


def same_day_twice(src: Path) -> None:
    later = KING_JHU.replace("2020-08-27 04:28:15", "2020-08-27 09:00:00").replace(
        ",18976,719,0,18257,", ",19500,730,0,18770,")
    _append(src / JHU_LAST, later)


def hospital_without_location(src: Path) -> None:
    record = {"OBJECTID": 999999, "HOSPITAL_NAME": "Covidlake Test Hospital Nowhere",
              "HOSPITAL_TYPE": "Short Term Acute Care Hospital", "HQ_ADDRESS": "1 Nowhere St",
              "HQ_ADDRESS1": None, "HQ_CITY": "Nowhere", "HQ_STATE": None,
              "HQ_ZIP_CODE": None, "NUM_LICENSED_BEDS": 10, "NUM_STAFFED_BEDS": 10,
              "NUM_ICU_BEDS": 1, "ADULT_ICU_BEDS": 1, "PEDI_ICU_BEDS": None,
              "BED_UTILIZATION": None, "AVG_VENTILATOR_USAGE": None,
              "Potential_Increase_In_Bed_Capac": 0, "latitude": None, "longtitude": None}
    _append(src / HOSPITALS, json.dumps(record))


def odd_region_name(src: Path) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        ["", ODD_COUNTY, ODD_PROVINCE, "Canada", "2020-08-27 04:28:15", "", "", "77", "3", "70",
         "4", "odd, Canada", "", ""])
    _append(src / JHU_LAST, out.getvalue())


def hostile_column(src: Path) -> None:
    path = src / STATE_ABV / "states_abv.csv"
    lines = _text(path).rstrip("\n").split("\n")
    quoted = '"' + HOSTILE.replace('"', '""') + '"'
    path.write_bytes(("\n".join([lines[0] + "," + quoted]
                                + [line + f',"{i}"' for i, line in enumerate(lines[1:], 1)])
                      + "\n").encode("utf-8"))


# -- checks: what each case must produce -------------------------------------------------

def _hint(err: str) -> None:
    assert any(line.startswith("  hint:") for line in err.splitlines()), err


def _left_out(o: Outcome, table: str, key: str) -> str:
    excluded = o.table(table)["excluded"]
    assert "raw/" + key in excluded, excluded
    assert "raw/" + key not in o.table(table)["files"]
    return excluded["raw/" + key]


def check_empty_file(o: Outcome, base: Outcome) -> None:
    assert "empty" in _left_out(o, "enigma_jhu", JHU_NEW)
    assert any("08-27-2020.csv" in line and "empty" in line and line.startswith("warning")
               for line in o.stderr.splitlines()), o.stderr
    assert o.recon("enigma_jhu")["rows_read"] == base.recon("enigma_jhu")["rows_read"]


def check_header_only(o: Outcome, base: Outcome) -> None:
    jhu = o.table("enigma_jhu")
    assert jhu["files"]["raw/" + JHU_NEW]["rows"] == 0
    assert "raw/" + JHU_NEW not in jhu["excluded"]
    assert o.recon("enigma_jhu") == base.recon("enigma_jhu")
    assert o.sql("SELECT count(*) FROM covid.fact_covid WHERE date_key = 20200827") == [(0,)]


def check_ragged_rows(o: Outcome, base: Outcome) -> None:
    nyt = o.recon("us_county")
    assert (nyt["rows_read"], nyt["rows_used"], nyt["rows_rejected"]) == (
        base.recon("us_county")["rows_read"], base.recon("us_county")["rows_used"] - 2, 2)
    assert nyt["reasons"] == {MISSING: 1, EXTRA: 1}
    short, long = KING_NYT.rsplit(",", 1)[0], PIERCE_NYT + ",extra"
    expected = {(_line_no(o.source / NYT, short), short), (_line_no(o.source / NYT, long), long)}
    got = o.rejects("us_county")
    assert {(r["src_row"], r["raw_line"]) for r in got} == expected, got
    assert all(r["file"] == "raw/" + NYT for r in got)
    assert all(r["reason"].startswith("malformed line") for r in got), got
    entry = o.table("us_county")["files"]["raw/" + NYT]
    assert entry["malformed"] == 2
    assert {(line, text) for line, _, text in entry["malformed_lines"]} == expected
    # King's NYT line was dropped, not padded: the day's fact holds only JHU's figures
    assert o.fact(20200401, "53033", "nyt_cases, confirmed") == [(None, KING_JHU_0401)]


def check_ragged_reject_reason(o: Outcome, base: Outcome) -> None:
    """The rejects area gives the same reason the run record counts."""
    assert len(o.rejects("us_county")) == 2
    reasons = {r["reason"] for r in o.rejects("us_county")}
    assert reasons == set(o.recon("us_county")["reasons"]), reasons


def check_semicolons(o: Outcome, base: Outcome) -> None:
    assert o.recon("enigma_jhu") == base.recon("enigma_jhu")
    jhu = o.table("enigma_jhu")
    entry = jhu["files"]["raw/" + JHU_LAST]
    assert entry["rows"] == base.table("enigma_jhu")["files"]["raw/" + JHU_LAST]["rows"]
    assert jhu["groups"][entry["group"]]["dialect"]["delimiter"] == ";"
    assert o.fact(20200826, "53033", "confirmed, deaths, active") == [(18976, 719, 18257)]
    afghanistan = o.sql("SELECT f.confirmed FROM covid.fact_covid f JOIN covid.dim_region r "
                        "USING (region_key) WHERE f.date_key = 20200826 AND r.level = "
                        "'country' AND r.country_region = 'Afghanistan'")
    assert afghanistan == [(38113,)]


def check_utf16(o: Outcome, base: Outcome) -> None:
    assert "08-27-2020.csv" in o.stderr and "UTF-16" in o.stderr, o.stderr
    _hint(o.stderr)


def check_truncated_gzip(o: Outcome, base: Outcome) -> None:
    assert "states_abv2.csv.gz" in o.stderr, o.stderr
    assert re.search(r"cannot read|does not decompress|truncat|gzip", o.stderr), o.stderr
    _hint(o.stderr)


def check_binary(o: Outcome, base: Outcome) -> None:
    assert "08-27-2020.csv" in o.stderr and "binary" in o.stderr, o.stderr
    _hint(o.stderr)


def check_confirmed_renamed(o: Outcome, base: Outcome) -> None:
    assert "04-01-2020.csv" in o.stderr and "'confirmed'" in o.stderr, o.stderr
    _hint(o.stderr)


def check_cases_rejected(o: Outcome, base: Outcome) -> None:
    nyt, before = o.recon("us_county"), base.recon("us_county")
    assert (nyt["rows_read"], nyt["rows_used"]) == (before["rows_read"], before["rows_used"] - 1)
    assert nyt["reasons"] == {"unparseable value in cases": 1}
    got = [(r["reason"], r["county"], r["fips"], str(r["obs_date"]))
           for r in o.rejects("us_county")]
    assert got == [("unparseable value in cases", "King", "53033", "2020-04-01")]
    assert o.fact(20200401, "53033", "nyt_cases, confirmed") == [(None, KING_JHU_0401)]


def check_negative_cases(o: Outcome, base: Outcome) -> None:
    assert o.recon("us_county") == base.recon("us_county")  # kept as reported
    assert o.rejects("us_county") == []
    assert o.fact(20200401, "53033", "nyt_cases, nyt_deaths") == [(-5, 166)]
    assert base.dq("negative_nyt_cases", "fact_covid") == 0
    assert o.dq("negative_nyt_cases", "fact_covid") >= 1


def check_us_date(o: Outcome, base: Outcome) -> None:
    nyt = o.recon("us_county")
    assert nyt["reasons"] == {"unparseable value in date": 1}
    assert nyt["rows_used"] == base.recon("us_county")["rows_used"] - 1
    got = [(r["reason"], r["county"], r["fips"]) for r in o.rejects("us_county")]
    assert got == [("unparseable value in date", "King", "53033")]


def check_duplicate_file(o: Outcome, base: Outcome) -> None:
    why = _left_out(o, "enigma_jhu", JHU_NEW)
    assert why == f"the same bytes as raw/{JHU_LAST}", why
    assert "08-27-2020.csv" in o.stderr
    assert o.recon("enigma_jhu") == base.recon("enigma_jhu")  # no double counting
    assert o.sql("SELECT count(*) FROM covid.fact_covid WHERE date_key = 20200827") == [(0,)]


def check_same_day_twice(o: Outcome, base: Outcome) -> None:
    dup = "duplicate for place and day (superseded)"
    jhu, before = o.recon("enigma_jhu"), base.recon("enigma_jhu")
    assert jhu["rows_read"] == before["rows_read"] + 1
    assert jhu["rows_used"] == before["rows_used"]
    assert jhu["reasons"][dup] == before["reasons"].get(dup, 0) + 1
    assert o.dq("duplicates_resolved", "enigma_jhu") == (
        base.dq("duplicates_resolved", "enigma_jhu") + 1)
    assert o.fact(20200826, "53033", "confirmed, deaths, active") == [(19500, 730, 18770)]
    superseded = [r for r in o.rejects("enigma_jhu") if r["fips"] == "53033"]
    assert [(r["reason"], r["file"], str(r["obs_date"])) for r in superseded] == [
        (dup, "raw/" + JHU_LAST, "2020-08-26")]


def check_hospital_without_location(o: Outcome, base: Outcome) -> None:
    beds, before = o.recon("hospital_beds"), base.recon("hospital_beds")
    assert (beds["rows_read"], beds["rows_used"], beds["rows_rejected"]) == (
        before["rows_read"] + 1, before["rows_used"] + 1, before["rows_rejected"])
    assert o.sql("SELECT region_key, fips FROM covid.dim_hospital WHERE objectid = 999999 AND "
                 "hospital_name = 'Covidlake Test Hospital Nowhere'") == [(None, None)]
    assert o.dq("hospital_without_region", "dim_hospital") == (
        base.dq("hospital_without_region", "dim_hospital") + 1)


def check_odd_region_name(o: Outcome, base: Outcome) -> None:
    jhu = o.recon("enigma_jhu")
    assert jhu["rows_read"] == base.recon("enigma_jhu")["rows_read"] + 1
    assert jhu["rows_used"] == base.recon("enigma_jhu")["rows_used"] + 1
    with open(o.lake / "star/dim_region/dim_region.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["county"] == ODD_COUNTY]
    assert [(r["level"], r["country_region"], r["province_state"]) for r in rows] == [
        ("county", "Canada", ODD_PROVINCE)]
    stored = o.sql("SELECT r.province_state, f.confirmed FROM covid.dim_region r JOIN "
                   "covid.fact_covid f USING (region_key) WHERE r.county = ? AND "
                   "f.date_key = 20200826", [ODD_COUNTY])
    assert stored == [(ODD_PROVINCE, 77)]
    assert o.sql("SELECT region_key FROM covid.dim_region WHERE county = ?", [ODD_COUNTY]) == [
        (int(rows[0]["region_key"]),)]


def check_hostile_column(o: Outcome, base: Outcome) -> None:
    columns = o.table("state_abv")["columns"]
    hostile = [c for c in columns if HOSTILE in c["original_names"]]
    assert len(hostile) == 1, columns
    assert re.fullmatch(r"[a-z][a-z0-9_]*", hostile[0]["name"]), hostile[0]["name"]
    assert hostile[0]["original_names"] == [HOSTILE]
    assert o.recon("state_abv") == base.recon("state_abv")
    assert o.sql("SELECT count(*) FROM covid.fact_covid") == base.sql(
        "SELECT count(*) FROM covid.fact_covid")


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # (damage, exit code, check)
    pytest.param(empty_file, 0, check_empty_file, id="01-empty-file"),
    pytest.param(header_only, 0, check_header_only, id="02-header-only"),
    pytest.param(ragged_rows, 0, check_ragged_rows, id="03-ragged-rows"),
    pytest.param(ragged_rows, 0, check_ragged_reject_reason, id="03b-ragged-reject-reason"),
    pytest.param(semicolons, 0, check_semicolons, id="04-semicolon-delimiter"),
    pytest.param(utf16, 1, check_utf16, id="05-utf16-with-bom"),
    pytest.param(utf16_without_bom, 1, check_utf16, id="05b-utf16-without-bom"),
    pytest.param(truncated_gzip, 1, check_truncated_gzip, id="06-truncated-gzip"),
    pytest.param(binary_file, 1, check_binary, id="07-binary-file"),
    pytest.param(confirmed_renamed, 1, check_confirmed_renamed, id="08-confirmed-renamed"),
    pytest.param(count_value("N/A"), 0, check_cases_rejected, id="09a-cases-n-a"),
    pytest.param(count_value('"1,234"'), 0, check_cases_rejected, id="09b-cases-thousands"),
    pytest.param(count_value("-5"), 0, check_negative_cases, id="09c-cases-negative"),
    pytest.param(count_value("1e3"), 0, check_cases_rejected, id="09d-cases-exponent"),
    pytest.param(us_date, 0, check_us_date, id="10-us-date-format"),
    pytest.param(duplicate_file, 0, check_duplicate_file, id="11-duplicate-file"),
    pytest.param(same_day_twice, 0, check_same_day_twice, id="12-same-day-twice"),
    pytest.param(hospital_without_location, 0, check_hospital_without_location,
                 id="13-hospital-without-location"),
    pytest.param(odd_region_name, 0, check_odd_region_name, id="14-odd-region-name"),
    pytest.param(hostile_column, 0, check_hostile_column, id="15-sql-hostile-column"),
]


@pytest.fixture(scope="module")
def baseline(sample_run: Done) -> Outcome:
    """The undamaged sample's run, to compare counts with."""
    return Outcome(0, sample_run.stdout, sample_run.stderr, bundled_sample(), sample_run.lake,
                   sample_run.warehouse)


@pytest.fixture(scope="module")
def run_damaged(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Outcome]:
    """`covidlake run` on a copy of the sample damaged by `damage`; one run per damage (two
    cases may check the same run)."""
    done: dict[Callable[[Path], None], Outcome] = {}

    def run(damage: Callable[[Path], None]) -> Outcome:
        if damage not in done:
            work = tmp_path_factory.mktemp("bad")
            src, lake, wh = work / "source", work / "lake", work / "wh.duckdb"
            shutil.copytree(bundled_sample(), src)
            damage(src)
            proc = cli("run", "--source", str(src), "--lake", str(lake), "--warehouse",
                       str(wh), cwd=work, check=False)
            done[damage] = Outcome(proc.returncode, proc.stdout, proc.stderr, src, lake, wh)
        return done[damage]
    return run


@pytest.mark.parametrize(("damage", "code", "check"), CASES)
def test_bad_input(run_damaged: Callable[..., Outcome], baseline: Outcome,
                   damage: Callable[[Path], None], code: int,
                   check: Callable[[Outcome, Outcome], None]) -> None:
    o = run_damaged(damage)
    assert "Traceback" not in o.stderr
    assert o.code == code, f"exit {o.code}\nstdout:\n{o.stdout}\nstderr:\n{o.stderr}"
    if code == 1:
        _hint(o.stderr)
        assert o.record()["status"] == "failed"
    if code == 0:
        record = o.record()
        assert record["status"] == "succeeded"
        tables = {r["source_table"] for r in record["reconciliation"]}
        assert tables == {r["source_table"] for r in baseline.record()["reconciliation"]}
        for rec in record["reconciliation"]:
            assert rec["rows_read"] == rec["rows_used"] + rec["rows_rejected"], rec
            assert rec["rows_rejected"] == sum(rec["reasons"].values()), rec
    check(o, baseline)


@pytest.mark.parametrize("key", ["../escape.csv", "a/../../escape.csv", "ABSOLUTE"])
def test_store_refuses_keys_outside_its_root(tmp_path: Path, key: str) -> None:
    """16: `..` or an absolute path in a key. The absolute case points into tmp_path (like
    "/etc/x", but a regression would not write outside the test's folder)."""
    root = tmp_path / "store"
    root.mkdir()
    victim = tmp_path / "escape.csv"
    victim.write_bytes(b"keep me")
    if key == "ABSOLUTE":
        key = str(victim)
    store = open_store(str(root))
    for attempt in (lambda: store.put(key, b"x"), lambda: store.get(key),
                    lambda: store.delete(key)):
        with pytest.raises(StoreError, match="outside the store"):
            attempt()
    assert victim.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["escape.csv", "store"]
    assert list(root.iterdir()) == []
