"""The HTML report opened from disk in a real browser (headless Chromium): every chart is
laid out and paints pixels, and the console stays clean. The screenshots are kept in
`tests/artifacts/` for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import decode_png, inspect_page
from conftest import ROOT, Done, cli

ARTIFACTS = ROOT / "tests" / "artifacts"
RUNS = [pytest.param("sample_run", id="sample"),
        pytest.param("full_run", id="full", marks=pytest.mark.integration)]


@pytest.mark.slow
@pytest.mark.parametrize("run_fixture", RUNS)
def test_every_chart_renders_in_chromium(run_fixture: str, request: pytest.FixtureRequest,
                                         tmp_path: Path) -> None:
    run: Done = request.getfixturevalue(run_fixture)
    proc = cli("report", "--lake", str(run.lake), "--warehouse", str(run.warehouse), "--html",
               str(tmp_path / "report"), cwd=tmp_path)
    page = Path(proc.stdout.strip())
    charts_in_html = len(re.findall(r'<svg class="chart"', page.read_text(encoding="utf-8")))
    check = inspect_page(page, "svg.chart", width=1280)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"report-{run_fixture}.png").write_bytes(check.screenshot)
    assert check.problems == []
    assert check.title == "COVID-19 Data Lake report"
    assert len(check.charts) == charts_in_html >= 7
    for chart in check.charts:
        assert chart.width >= 300 and chart.height >= 80, chart
        # marks, not just a frame: at least 1% of the chart's box is drawn on
        assert chart.painted >= 0.01 * chart.width * chart.height, chart
    shot = decode_png(check.screenshot)
    assert shot.width >= check.width and shot.height >= check.height > 3000
    assert len(shot.colours()) > 20  # text, lines and bars in several colours, not a blank
