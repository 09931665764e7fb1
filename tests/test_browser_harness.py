"""The browser harness itself (tests/browser.py): tiny pages with known faults must be reported
as such by real headless Chromium, and its PNG decoder must match the spec."""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import (
    Browser,
    BrowserError,
    PageCheck,
    decode_png,
    find_chromium,
    inspect_page,
    painted_pixels,
)

LINE_CHART = """<svg class="chart" id="{id}" width="400" height="200" viewBox="0 0 400 200">
  <polyline points="0,190 100,40 200,120 300,60 400,10" fill="none" stroke="steelblue"
            stroke-width="2"/>
  <text x="10" y="20" font-size="12">{id}</text>
</svg>"""


def page(tmp_path: Path, body: str, title: str = "t", name: str = "page.html") -> Path:
    html = tmp_path / name
    html.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                    f"</head><body>{body}</body></html>", encoding="utf-8")
    return html


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module: starting it is most of the cost of a check."""
    with Browser(timeout=60) as b:
        yield b


def test_two_line_charts_paint_and_page_is_clean(browser: Browser, tmp_path: Path) -> None:
    html = page(tmp_path, "<h1>Cases</h1>" + LINE_CHART.format(id="cases")
                + LINE_CHART.format(id="deaths"), title="Two charts")
    check = browser.inspect(html)
    assert check.title == "Two charts"
    assert check.problems == []
    assert [c.id for c in check.charts] == ["cases", "deaths"]
    for chart in check.charts:
        assert (chart.width, chart.height) == (400, 200)
        # A 2 px polyline across 400 px is ~1000 px of stroke plus the label's glyphs.
        assert chart.painted > 500, chart


def test_empty_chart_paints_nothing(browser: Browser, tmp_path: Path) -> None:
    html = page(tmp_path, '<svg class="chart" width=200 height=100></svg>')
    check = browser.inspect(html)
    assert check.problems == []
    [chart] = check.charts
    assert (chart.id, chart.width, chart.height, chart.painted) == ("svg.chart[0]", 200, 100, 0)


def test_chart_below_the_fold_is_still_painted(browser: Browser, tmp_path: Path) -> None:
    # captureBeyondViewport: a clip outside the 800 px viewport is rendered, not blank.
    html = page(tmp_path, '<div style="height:3000px"></div>' + LINE_CHART.format(id="late"))
    [chart] = browser.inspect(html, height=800).charts
    assert chart.y > 3000
    assert chart.painted > 500


def test_no_chart_matches(browser: Browser, tmp_path: Path) -> None:
    check = browser.inspect(page(tmp_path, "<p>no charts</p>"), chart_selector="svg.nothing")
    assert check.charts == []


@pytest.mark.parametrize(("body", "field", "expected"), [
    ('<script>console.error("boom")</script>', "console_errors", "boom"),
    ('<script>throw new Error("kaput")</script>', "exceptions", "Error: kaput"),
    ('<img src="missing.png">', "failed_requests", "missing.png: net::ERR_FILE_NOT_FOUND"),
    # No network: a reference to any host fails at once (--host-resolver-rules) and is reported.
    ('<img src="https://cdn.example.com/logo.png">', "failed_requests",
     "https://cdn.example.com/logo.png: net::ERR_NAME_NOT_RESOLVED"),
], ids=["console.error", "throw", "missing-image", "remote-image"])
def test_faults_are_reported(browser: Browser, tmp_path: Path, body: str, field: str,
                             expected: str) -> None:
    check = browser.inspect(page(tmp_path, body))
    found: list[str] = getattr(check, field)
    assert any(expected in line for line in found), (field, found)
    assert any(expected in line for line in check.problems)


@pytest.mark.parametrize(("width", "body", "height"), [
    (1280, "<p>short</p>", 800),  # shorter than the viewport: the viewport's height
    (800, '<div style="height:2500px"></div>', 2516),  # 2500 px + body's 8 px margins
])
def test_full_page_screenshot(browser: Browser, tmp_path: Path, width: int, body: str,
                              height: int) -> None:
    check = browser.inspect(page(tmp_path, body), width=width, height=800)
    image = decode_png(check.screenshot)
    assert (check.width, check.height) == (width, height)
    assert (image.width, image.height) == (width, height)
    assert image.pixel(0, 0)[:3] == (255, 255, 255)


def test_inspect_page_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-call API: its own Chromium, gone afterwards along with its temporary profile."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where Browser makes its profile
    check = inspect_page(page(tmp_path, LINE_CHART.format(id="only")), timeout=60)
    assert isinstance(check, PageCheck)
    assert check.charts[0].painted > 500
    assert list(temp.iterdir()) == []


def test_page_that_never_loads_times_out_and_browser_recovers(browser: Browser,
                                                              tmp_path: Path) -> None:
    hung = page(tmp_path, "<script>for (;;) {}</script>", name="hung.html")
    with pytest.raises(BrowserError, match="did not finish loading"):
        browser.inspect(hung, timeout=1.5)
    # The hung tab was closed: the same browser goes on checking pages.
    assert browser.inspect(page(tmp_path, "<p>fine</p>")).problems == []


def test_browser_close_kills_chromium() -> None:
    b = Browser(timeout=30)
    assert b._proc is not None
    group = b._proc.pid  # Chromium leads its own process group: renderers, zygote, GPU process
    assert _alive_in_group(group)
    b.close()
    assert _alive_in_group(group) == []
    with pytest.raises(BrowserError, match="closed"):
        b.call("Browser.getVersion")


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of that group that are not zombies (a container's PID 1 may never reap the
    orphans, so "the group still exists" proves nothing)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_missing_html_file(browser: Browser, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        browser.inspect(tmp_path / "nope.html")


def test_chromium_not_found_says_what_to_run(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    import browser as module

    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(module, "_DEBIAN_BINARY", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="scripts/test-deps.sh"):
        find_chromium()
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(BrowserError, match="scripts/test-deps.sh"):
        Browser()


# --- the PNG decoder, against PNGs encoded here with every filter type -------------------------


def _filter(kind: int, line: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray()
    for i, x in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        paeth = (a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                 else b if abs(p - b) <= abs(p - c) else c)
        out.append((x - (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF)
    return bytes(out)


def _encode(width: int, rows: list[bytes], colour: int, kinds: list[int]) -> bytes:
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    prev, raw = bytes(width * bpp), bytearray()
    for row, kind in zip(rows, kinds, strict=True):
        raw += bytes([kind]) + _filter(kind, row, prev, bpp)
        prev = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    compressed = zlib.compress(bytes(raw))
    # Split IDAT in two: decoders must join them.
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", compressed[:7])
            + chunk(b"IDAT", compressed[7:]) + chunk(b"IEND", b""))


@pytest.mark.parametrize("colour", [0, 2, 4, 6], ids=["grey", "rgb", "grey-alpha", "rgba"])
def test_png_decoder_round_trips_every_filter(colour: int) -> None:
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    width, height = 7, 10
    # Values that exercise wrap-around (near 0 and 255) and every Paeth branch.
    rows = [bytes((x * 37 + y * 101 + (x * y) % 13 * 19) % 256 for x in range(width * bpp))
            for y in range(height)]
    kinds = [y % 5 for y in range(height)]
    image = decode_png(_encode(width, rows, colour, kinds))
    assert (image.width, image.height, image.channels) == (width, height, bpp)
    assert image.rows == rows


def test_painted_pixels_counts_all_but_the_commonest_colour() -> None:
    white, ink = b"\xff\xff\xff", b"\x10\x20\x30"
    rows = [white * 5, white * 2 + ink * 2 + white, white * 5]
    assert painted_pixels(_encode(5, rows, 2, [0, 1, 4])) == 2
    assert painted_pixels(_encode(5, [white * 5] * 3, 2, [0, 2, 3])) == 0


@pytest.mark.parametrize("data", [b"GIF89a", _encode(1, [b"\x00\x00\x00"], 2, [0])[:-20] + b"x"],
                         ids=["not-png", "corrupt"])
def test_png_decoder_rejects_bad_input(data: bytes) -> None:
    with pytest.raises((ValueError, zlib.error)):
        decode_png(data)
