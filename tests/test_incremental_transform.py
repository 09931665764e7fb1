"""Incremental transform and load: a new JHU day is read alone, and the lake and warehouse end
exactly as a full rebuild leaves them; anything else changed means a full rebuild, with why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import Done, cli
from covidlake.settings import bundled_sample
from covidlake.transform.incremental import STAGED
from covidlake.transform.model import NEEDS, STAR_TABLES

JHU = "enigma-jhu/csv"


def _record(lake: Path) -> dict:
    return json.loads(sorted((lake / "_runs").glob("*.json"))[-1].read_text())


def _stage(lake: Path, name: str) -> dict:
    return next(s for s in _record(lake)["stages"] if s["name"] == name)


def _run(src: Path, lake: Path, wh: Path, *extra: str) -> None:
    cli("run", "--source", str(src), "--lake", str(lake), "--warehouse", str(wh), "-q", *extra,
        cwd=lake.parent)


def _tables(wh: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return {t.name: con.execute(f"SELECT * FROM covid.{t.name} ORDER BY ALL").fetchall()
                for t in STAR_TABLES}


def _rejects(lake: Path) -> list[tuple]:
    """The rejected rows but their src_row, which numbers rows within one run's reading."""
    path = lake / "rejects/rejected_rows.parquet"
    with duckdb.connect() as con:
        return con.execute(f"SELECT * EXCLUDE (src_row) FROM read_parquet('{path}') "
                           "ORDER BY ALL").fetchall()


def _manifest(lake: Path) -> dict:
    return json.loads((lake / "star/_manifest.json").read_text())


def _held_out(tmp: Path, *days: str) -> tuple[Path, Path, Path, Path]:
    """The sample without `days`, run into a lake and warehouse: (src, lake, wh, the folder
    the days were moved to)."""
    src = tmp / "src"
    shutil.copytree(bundled_sample(), src)
    held = tmp / "held"
    held.mkdir()
    for day in days:
        shutil.move(src / JHU / day, held / day)
    lake, wh = tmp / "lake", tmp / "wh.duckdb"
    _run(src, lake, wh)
    return src, lake, wh, held


def _restore(held: Path, src: Path) -> None:
    for path in held.iterdir():
        shutil.move(path, src / JHU / path.name)


@pytest.mark.parametrize(("days", "keys_kept"), [
    (["08-26-2020.csv"], False),  # the last day names places no other day does: keys shift
    (["03-13-2020.csv"], True),   # a day in the middle, every place known: the load replaces it
    # three months at once: the export writes them from the kept rows and the new ones
    (["02-15-2020.csv", "03-28-2020.csv", "05-29-2020.csv"], True),
])
def test_a_new_day_equals_a_full_rebuild(sample_run: Done, tmp_path: Path, days: list[str],
                                         keys_kept: bool) -> None:
    src, lake, wh, held = _held_out(tmp_path, *days)
    months = {p.name: p.stat().st_mtime_ns for p in (lake / "star/fact_covid").iterdir()}
    _restore(held, src)
    _run(src, lake, wh)

    # the export rewrote the new days' months (or, keys shifted, every month it must) and left
    # the other months' files as they were
    touched = tuple(f"fact_covid-{day[6:10]}-{day[:2]}." for day in days)
    after = {p.name: p.stat().st_mtime_ns for p in (lake / "star/fact_covid").iterdir()}
    assert set(after) == set(months) | {t + ext for t in touched for ext in ("parquet", "csv")}
    kept = {n for n in months if after[n] == months[n]}
    if keys_kept:
        assert kept == {n for n in months if not n.startswith(touched)}
    transform = _stage(lake, "transform")
    assert transform["detail"]["mode"] == "incremental"
    assert transform["detail"]["new_files"] == [f"raw/{JHU}/{day}" for day in days]
    # the other sources were staged from the copies the first run saved
    assert transform["detail"]["staged_from_copies"] == [t for t in NEEDS if t != "enigma_jhu"]
    assert _stage(lake, "crawl")["detail"]["files_read"] == len(days)
    new, full = _manifest(lake), _manifest(sample_run.lake)
    assert new["version"] == full["version"]
    assert new["tables"] == full["tables"]
    assert new["reconciliation"] == full["reconciliation"]
    assert new["quality"] == full["quality"]
    assert _rejects(lake) == _rejects(sample_run.lake)
    assert (new["delta"] is not None) is keys_kept
    if keys_kept:  # the calendar and the hospitals did not change: the load left them
        assert {"dim_date", "dim_hospital"} <= set(new["delta"]["unchanged"])
        assert "fact_covid" not in new["delta"]["unchanged"]
    assert _stage(lake, "load")["detail"]["by_day"] is keys_kept
    assert _tables(wh) == _tables(sample_run.warehouse)


def _change_old_jhu(src: Path) -> None:
    path = src / JHU / "03-01-2020.csv"
    path.write_bytes(path.read_bytes() + b"\n")  # same rows, new bytes


def _change_other_table(src: Path) -> None:
    path = src / "static-datasets/csv/countrycode/CountryCodeQS.csv"
    path.write_bytes(path.read_bytes() + b"\n")


def _undated_file(src: Path) -> None:
    data = (src / JHU / "03-01-2020.csv").read_bytes() + b"\n"  # not a byte-identical copy
    (src / JHU / "latest.csv").write_bytes(data)


def _new_state_name(src: Path) -> None:
    # A constructed (not real) JHU day whose only row names Puerto Rico's FIPS another way:
    # placing the kept rows could change, so the run rebuilds everything.
    (src / JHU / "08-27-2020.csv").write_text(
        "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,"
        "Recovered,Active,Combined_Key,Incidence_Rate,Case-Fatality_Ratio\n"
        "72,,Porto Rico,US,2020-08-28 04:28:22,18.2,-66.6,1,0,0,1,\"Porto Rico, US\",,\n")


@pytest.mark.parametrize(("change", "changed", "extra", "why"), [
    (_change_old_jhu, None, (), "enigma_jhu file was changed or removed"),
    (_change_other_table, "countrycode", (), "a table other than enigma_jhu"),
    (_undated_file, None, (), "has no date in its name"),
    (_new_state_name, None, (), "change 1 entries of the US state lookups"),
    (None, None, ("--force",), "--force"),
])
def test_anything_else_rebuilds_fully(tmp_path: Path, change, changed: str | None,  # noqa: ANN001
                                      extra: tuple[str, ...], why: str) -> None:
    src, lake, wh, held = _held_out(tmp_path, "08-26-2020.csv")
    _restore(held, src)
    if change is not None:
        change(src)
    _run(src, lake, wh, *extra)
    detail = _stage(lake, "transform")["detail"]
    assert detail["mode"] == "full"
    assert why in detail["full_because"]
    # the sources whose files and reading did not change were staged from their saved
    # copies (not with --force), and the copies are those of this run's staging
    unchanged = [t for t in NEEDS if t not in ("enigma_jhu", changed)]
    assert detail["staged_from_copies"] == ([] if extra else unchanged)
    copies = sorted(p.name.rsplit("-", 1)[0] for p in (lake / STAGED).iterdir())
    assert copies == sorted(t for t in NEEDS if t != "enigma_jhu")
    # and the result is a full run's on the same files, row numbers in the rejects included
    _run(src, tmp_path / "fresh-lake", tmp_path / "fresh.duckdb")
    fresh = _manifest(tmp_path / "fresh-lake")
    assert _stage(tmp_path / "fresh-lake", "transform")["detail"]["staged_from_copies"] == []
    assert _manifest(lake)["version"] == fresh["version"]
    assert _manifest(lake)["rejects"] == fresh["rejects"]
    assert _tables(wh) == _tables(tmp_path / "fresh.duckdb")


@pytest.mark.parametrize(("doc", "why"), [
    (lambda d: d | {"star_version": "0" * 16}, "not the one the saved state belongs to"),
    (lambda d: {k: v for k, v in d.items() if k != "formats"}, "unreadable"),
    (lambda d: "{not json", "unreadable"),
])
def test_a_stale_or_broken_state_is_not_used(tmp_path: Path, doc, why: str) -> None:  # noqa: ANN001
    """A run that died between the export and the state's update leaves a state stamped with
    the previous star; a state may also be cut short or written by another version."""
    src, lake, wh, held = _held_out(tmp_path, "08-26-2020.csv")
    state = lake / "_state/transform/state.json"
    new = doc(json.loads(state.read_text()))
    state.write_text(new if isinstance(new, str) else json.dumps(new))
    _restore(held, src)
    _run(src, lake, wh)
    detail = _stage(lake, "transform")["detail"]
    assert detail["mode"] == "full"
    assert why in detail["full_because"]
    assert json.loads(state.read_text())["star_version"] == _manifest(lake)["version"]


def test_a_warehouse_at_another_version_is_loaded_in_full(sample_run: Done,
                                                          tmp_path: Path) -> None:
    src, lake, wh, held = _held_out(tmp_path, "03-13-2020.csv")
    _restore(held, src)
    other = tmp_path / "other.duckdb"  # never loaded: it does not hold the delta's base
    _run(src, lake, other)
    assert _manifest(lake)["delta"] is not None
    load = _stage(lake, "load")["detail"]
    assert load["loaded"] and not load["by_day"]
    assert _tables(other) == _tables(sample_run.warehouse)
