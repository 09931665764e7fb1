"""`make bench` on the bundled sample: the benchmark runs, measures what it says, and its
profiles cover the pipeline. Nothing here depends on how fast the machine is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

SAMPLE = ROOT / "src" / "covidlake" / "sample" / "covid19-lake"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench.py"), "sample", "--rounds", "1",
         "--work", str(tmp / "work"), "--out", str(tmp / "out"), "--profile"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sample" in proc.stdout  # the table
    return json.loads((tmp / "out" / "latest.json").read_text()), tmp / "out"


def _result(bench: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    (result,) = bench[0]["results"]
    return result


@pytest.mark.slow
@pytest.mark.parametrize(("what", "check"), [
    ("the workload's files", lambda r: r["source_files"] == sum(
        1 for p in SAMPLE.rglob("*") if p.is_file() and not p.name.startswith("."))),
    ("floors: lines read, rows typed", lambda r: r["floor"]["lines"] > r["row_floor"]["rows"] > 0),
    ("the run's stages", lambda r: list(r["run"]["stages"]) == [
        "ingest", "crawl", "transform", "export", "load"]),
    ("rows per second", lambda r: r["run"]["rows_per_second"] == round(
        r["run"]["rows_in"] / r["run"]["seconds"])),
    ("the ratio to the row floor", lambda r: r["ratios"]["run_to_row_floor"] == round(
        r["run"]["seconds"] / r["row_floor"]["seconds"], 2)),
    ("a no-op reads nothing", lambda r: r["noop"]["transform_mode"] == "skipped"
        and r["noop"]["star_version"] == r["run"]["star_version"]),
    ("a new day is incremental", lambda r: r["new_day"]["transform_mode"] == "incremental"),
    ("and gives the full run's star", lambda r: r["new_day"]["same_star_as_full_run"] is True),
    ("the new-day target is judged on full and scale only",
     lambda r: "new_day_to_run" not in r["targets"] and "new_day_to_run" in r["ratios"]),
])
def test_bench_measures_the_sample(bench: tuple[dict[str, Any], Path], what: str,
                                   check: Any) -> None:
    result = _result(bench)
    assert check(result), f"{what}: {json.dumps(result, indent=1)[:3000]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["run", "new_day"])
def test_bench_profiles_cover_the_pipeline(bench: tuple[dict[str, Any], Path],
                                           name: str) -> None:
    prof = _result(bench)["profile"][name]
    text = Path(prof["text"]).read_text()
    # the stages' own functions, under the sampled time: the profile saw the pipeline run
    for function in ("stage_crawl", "stage_transform", "stage_load"):
        assert function in text, f"{function} not in the profile of the {name}:\n{text[:3000]}"
    assert "pyinstrument" in Path(prof["html"]).read_text()[:100_000]
    assert prof["seconds"] > 0


@pytest.mark.slow
def test_bench_keeps_a_dated_copy_of_its_results(bench: tuple[dict[str, Any], Path]) -> None:
    doc, out = bench
    dated = out / (doc["at"].replace(":", "") + ".json")
    assert json.loads(dated.read_text()) == doc
