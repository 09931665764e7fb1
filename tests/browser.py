"""Check a self-contained HTML page in real headless Chromium: what it logged, what failed to
load, and whether its charts actually painted pixels.

Chromium is driven over the DevTools protocol (CDP) on `--remote-debugging-pipe`: it reads JSON
commands from fd 3 and writes responses and events to fd 4, each message ended by a NUL byte. That
needs no websocket client and no port, so nothing beyond the standard library. Screenshots come
back as PNG; the small decoder below turns them into pixels so "painted" can be counted without
an imaging library.

Usage::

    check = inspect_page(Path("report.html"))
    assert not check.problems
    assert all(chart.painted > 500 for chart in check.charts)

Chromium comes from Debian's `chromium` package: `scripts/test-deps.sh` installs it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "Browser",
    "BrowserError",
    "ChartCheck",
    "Image",
    "PageCheck",
    "decode_png",
    "find_chromium",
    "inspect_page",
    "painted_pixels",
]

# Debian's /usr/bin/chromium is a shell wrapper that sources /etc/chromium.d (GPU rasterization,
# remote extensions, a /dev/shm probe that misparses stacked mounts); the real binary is here.
_DEBIAN_BINARY = "/usr/lib/chromium/chromium"
_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # we run as root, where the setuid/namespace sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm; big screenshots crash
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--hide-scrollbars",  # a scrollbar would narrow the layout and show up in screenshots
    "--mute-audio",
    "--no-first-run",
    "--no-default-browser-check",
    # The page must be self-contained: any host name fails at once (a failed request we report)
    # instead of waiting on DNS, and Chromium's own phoning home goes nowhere.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


class BrowserError(RuntimeError):
    """Chromium is missing, died, timed out, or refused a command."""


# --- PNG ------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (grey, RGB, grey+A, RGBA)


@dataclass(frozen=True)
class Image:
    """A decoded 8-bit image: `rows` are unfiltered scanlines of width * channels bytes."""

    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start:start + self.channels])

    def colours(self) -> Counter[bytes]:
        """How many pixels have each colour (a colour is the pixel's raw bytes)."""
        counts: Counter[bytes] = Counter()
        n = self.channels
        # Pages are mostly blank rows: count each distinct row once, times how often it occurs.
        for row, times in Counter(self.rows).items():
            in_row = Counter(row[i:i + n] for i in range(0, len(row), n))
            for colour, count in in_row.items():
                counts[colour] += count * times
        return counts


def decode_png(data: bytes) -> Image:
    """Decode a non-interlaced 8-bit grey/RGB/RGBA PNG (what Chromium's screenshots are)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    pos, header, idat = len(_PNG_SIGNATURE), None, []
    while True:
        if pos + 12 > len(data):
            raise ValueError("PNG is truncated (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            raise ValueError(f"PNG chunk {kind!r} at byte {pos} is truncated")
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r} at byte {pos} fails its CRC")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG has no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour}, "
                         f"interlace {interlace} (only 8-bit, non-palette, non-interlaced)")
    channels = _CHANNELS[colour]
    stride = width * channels
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, expected {height * (stride + 1)}")
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prev = _unfilter(raw[start], raw[start + 1:start + 1 + stride], prev, channels)
        rows.append(prev)
    return Image(width, height, channels, rows)


def _unfilter(kind: int, line: bytes, prev: bytes, bpp: int) -> bytes:
    """Undo one scanline's filter (PNG spec section 9); `prev` is the unfiltered line above."""
    if kind == 0:  # None
        return line
    if kind == 2:  # Up: no dependency along the row, so a bytewise add of two big integers
        return _add_bytes(line, prev)
    out = bytearray(line)
    n = len(out)
    if kind == 1:  # Sub
        for i in range(bpp, n):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 3:  # Average
        for i in range(bpp):
            out[i] = (out[i] + (prev[i] >> 1)) & 0xFF
        for i in range(bpp, n):
            out[i] = (out[i] + ((out[i - bpp] + prev[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(bpp):
            out[i] = (out[i] + prev[i]) & 0xFF  # left and upper-left are 0: Paeth picks up
        for i in range(bpp, n):
            a, b, c = out[i - bpp], prev[i], prev[i - bpp]
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[i] = (out[i] + pred) & 0xFF
    else:
        raise ValueError(f"PNG filter type {kind} does not exist")
    return bytes(out)


def _add_bytes(x: bytes, y: bytes) -> bytes:
    """Bytewise (x + y) mod 256, as integer arithmetic on the whole row (SWAR: no carries leak
    between bytes because each byte's top bit is added separately with XOR)."""
    n = len(x)
    low7 = int.from_bytes(b"\x7f" * n, "big")
    a, b = int.from_bytes(x, "big"), int.from_bytes(y, "big")
    return (((a & low7) + (b & low7)) ^ ((a ^ b) & ~low7)).to_bytes(n, "big")


def painted_pixels(png: bytes) -> int:
    """Pixels that differ from the image's most common colour, taken to be the background."""
    colours = decode_png(png).colours()
    if not colours:
        return 0
    return colours.total() - colours.most_common(1)[0][1]


# --- results --------------------------------------------------------------------------------------


@dataclass
class ChartCheck:
    id: str  # the element's id, else "<selector>[<index>]"
    x: float  # its box on the page, CSS px
    y: float
    width: float
    height: float
    painted: int  # non-background pixels in its box


@dataclass
class PageCheck:
    url: str
    title: str
    console_errors: list[str]  # console.error() calls and error-level browser log entries
    exceptions: list[str]  # uncaught script exceptions
    failed_requests: list[str]  # "<url>: <net error or HTTP status>"
    charts: list[ChartCheck]
    screenshot: bytes  # full-page PNG
    width: int  # layout size of the whole page, CSS px
    height: int

    @property
    def problems(self) -> list[str]:
        """Everything that went wrong, one line each: empty for a clean page."""
        return ([f"console error: {e}" for e in self.console_errors]
                + [f"uncaught exception: {e}" for e in self.exceptions]
                + [f"failed request: {r}" for r in self.failed_requests])


# --- the browser ----------------------------------------------------------------------------------


def find_chromium() -> str:
    """$CHROMIUM if set, else Debian's real binary, else the first Chromium/Chrome on PATH."""
    if explicit := os.environ.get("CHROMIUM"):
        return explicit
    if os.access(_DEBIAN_BINARY, os.X_OK):
        return _DEBIAN_BINARY
    for name in _NAMES:
        if found := shutil.which(name):
            return found
    raise BrowserError("Chromium not found (no $CHROMIUM, no chromium on PATH): run "
                       "scripts/test-deps.sh, which installs Debian's chromium package")


def _high_fd(fd: int) -> int:
    """Move fd to 10 or above, so that dup2-ing onto 3 and 4 in the child can't clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium process, spoken to over the CDP pipe. Use as a context manager:
    leaving it closes the browser, kills what is left of its processes and removes its profile.
    """

    def __init__(self, executable: str | None = None, extra_flags: Sequence[str] = (),
                 timeout: float = 60.0) -> None:
        self.timeout = timeout  # default for each command and event wait
        self._dir = Path(tempfile.mkdtemp(prefix="covidlake-chromium-"))
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for the NUL terminator
        self._next_id = 0
        self.events: list[dict[str, Any]] = []  # events read while waiting for something else
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_browser = self._from_browser = -1
        try:
            self._start(executable or find_chromium(), extra_flags)
        except BaseException:
            self.close()
            raise

    def _start(self, executable: str, extra_flags: Sequence[str]) -> None:
        cmd_r, cmd_w = (_high_fd(fd) for fd in os.pipe())  # commands: us -> Chromium's fd 3
        out_r, out_w = (_high_fd(fd) for fd in os.pipe())  # messages: Chromium's fd 4 -> us

        def onto_3_and_4() -> None:  # runs in the child between fork and exec
            os.dup2(cmd_r, 3)  # dup2 leaves the copies inheritable, the originals close on exec
            os.dup2(out_w, 4)

        args = [executable, *FLAGS, f"--user-data-dir={self._dir / 'profile'}",
                "--remote-debugging-pipe", *extra_flags, "about:blank"]
        self._log = self._dir / "chromium.log"
        try:
            with open(self._log, "wb") as log:
                # pass_fds cannot renumber fds, and Chromium insists on exactly 3 and 4, hence
                # preexec_fn. close_fds=False is safe: Python opens every fd close-on-exec.
                self._proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=False,
                    preexec_fn=onto_3_and_4, start_new_session=True)
        except FileNotFoundError as e:
            raise BrowserError(f"cannot run {executable}: {e}; run scripts/test-deps.sh") from e
        finally:
            os.close(cmd_r)  # the child has its own copies; without closing ours, EOF never comes
            os.close(out_w)
        self._to_browser, self._from_browser = cmd_w, out_r

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
                proc.wait(timeout=5)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                pass
        if proc is not None:
            # Its own session (start_new_session): the group holds only Chromium's processes.
            # Renderers and the zygote may outlive a killed browser process, so kill them too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self._proc = None
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                os.close(fd)
        self._to_browser = self._from_browser = -1
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- protocol

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Send one command and wait for its result, buffering events that arrive meanwhile."""
        if self._proc is None:
            raise BrowserError("the browser is closed")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            reply = self._read(deadline, f"the reply to {method}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    error = reply["error"]
                    raise BrowserError(f"{method} failed: {error.get('message')} "
                                       f"{error.get('data', '')}".rstrip())
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, *, session: str | None = None, start: int = 0,
                   where: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float | None = None) -> int:
        """Index in `events` of the first `method` event at or after `start` (of the session,
        passing `where`), reading more messages until it comes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        i = start
        while True:
            while i < len(self.events):
                event = self.events[i]
                if (event["method"] == method and event.get("sessionId") == session
                        and (where is None or where(event.get("params", {})))):
                    return i
                i += 1
            message = self._read(deadline, f"the event {method}")
            if "method" in message:
                self.events.append(message)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._to_browser, view):]
        except BrokenPipeError as e:
            raise self._died() from e

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while True:
            end = self._buf.find(b"\0", self._scanned)
            if end >= 0:
                message = json.loads(self._buf[:end])
                del self._buf[:end + 1]
                self._scanned = 0
                return message
            self._scanned = len(self._buf)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"timed out waiting for {waiting_for}{self._log_tail()}")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise self._died()
                self._buf += chunk

    def _died(self) -> BrowserError:
        code = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=5)
        return BrowserError(f"Chromium closed the DevTools pipe (exit code {code})"
                            f"{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        # Without a D-Bus (containers, CI) Chromium logs a dozen harmless D-Bus errors: skip them.
        tail = [line for line in text.splitlines() if ":ERROR:dbus/" not in line][-lines:]
        return "; Chromium's output ends:\n" + "\n".join(tail) if tail else ""

    # -- pages

    def inspect(self, html: Path | str, chart_selector: str = "svg.chart", width: int = 1280,
                height: int = 800, timeout: float | None = None) -> PageCheck:
        """Load a local HTML file in a fresh tab and check it (see `PageCheck`)."""
        path = Path(html).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such HTML file: {path}")
        url = path.as_uri()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)

        def left() -> float:
            return max(deadline - time.monotonic(), 0.001)

        target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=left())
        target_id = target["targetId"]
        sid: str | None = None
        try:
            attached = self.call("Target.attachToTarget", {"targetId": target_id, "flatten": True},
                                 timeout=left())
            sid = attached["sessionId"]

            def page(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
                return self.call(method, params, session=sid, timeout=left())

            for domain in ("Runtime", "Log", "Page", "Network"):
                page(f"{domain}.enable")
            # A fixed viewport at scale 1, so 1 CSS px is 1 screenshot pixel on any host.
            page("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            nav = page("Page.navigate", {"url": url})
            if nav.get("errorText"):
                raise BrowserError(f"navigating to {url} failed: {nav['errorText']}")
            # about:blank's own load event may still be on its way: wait for our document's
            # commit (its loaderId) first, then for the load event after it.
            try:
                committed = self.wait_event(
                    "Page.frameNavigated", session=sid, timeout=left(),
                    where=lambda p: p["frame"].get("loaderId") == nav.get("loaderId"))
                self.wait_event("Page.loadEventFired", session=sid, start=committed + 1,
                                timeout=left())
            except BrowserError as e:
                raise BrowserError(f"{url} did not finish loading: {e}") from e
            charts = self._charts(page, chart_selector)
            metrics = page("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            page_w, page_h = int(size["width"]), int(size["height"])
            screenshot = self._screenshot(page, 0, 0, page_w, page_h)
            title = page("Runtime.evaluate", {"expression": "document.title",
                                              "returnByValue": True})["result"].get("value", "")
            # That round trip also means every event the page raised before it has been read.
            check = PageCheck(url, title, [], [], [], charts, screenshot, page_w, page_h)
            self._collect(sid, check)
            return check
        finally:
            # Best effort: a failure here must not hide the one that got us here.
            with contextlib.suppress(BrowserError, OSError):
                self.call("Target.closeTarget", {"targetId": target_id}, timeout=5)
            self.events = [e for e in self.events if sid is None or e.get("sessionId") != sid]

    def _charts(self, page: Callable[..., dict[str, Any]], selector: str) -> list[ChartCheck]:
        sel = json.dumps(selector)
        # Wait for web fonts too (there should be none, but text in charts must be laid out).
        expression = f"""document.fonts.ready.then(() =>
            Array.from(document.querySelectorAll({sel}), (el, i) => {{
                const r = el.getBoundingClientRect();
                return {{id: el.id || `${{{sel}}}[${{i}}]`, x: r.left + window.scrollX,
                         y: r.top + window.scrollY, width: r.width, height: r.height}};
            }}))"""
        result = page("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"finding charts with {selector!r} failed: {text}")
        charts = []
        for box in result["result"]["value"]:
            painted = 0
            if box["width"] >= 1 and box["height"] >= 1:  # an empty clip is an error in CDP
                png = self._screenshot(page, box["x"], box["y"], box["width"], box["height"])
                painted = painted_pixels(png)
            charts.append(ChartCheck(box["id"], box["x"], box["y"], box["width"], box["height"],
                                     painted))
        return charts

    @staticmethod
    def _screenshot(page: Callable[..., dict[str, Any]], x: float, y: float, width: float,
                    height: float) -> bytes:
        # captureBeyondViewport: boxes below the fold and the full page are rendered, not cut.
        shot = page("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1}})
        return base64.b64decode(shot["data"])

    def _collect(self, sid: str, check: PageCheck) -> None:
        urls: dict[str, str] = {}
        for event in self.events:
            if event.get("sessionId") != sid:
                continue
            method, p = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                check.console_errors.append(" ".join(_remote_text(a) for a in p.get("args", [])))
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                entry = p["entry"]
                where = f" ({entry['url']})" if entry.get("url") else ""
                check.console_errors.append(f"{entry.get('text', '')}{where}")
            elif method == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                check.exceptions.append(details.get("exception", {}).get("description")
                                        or details.get("text", "exception"))
            elif method == "Network.requestWillBeSent":
                urls[p["requestId"]] = p["request"]["url"]
            elif method == "Network.loadingFailed":
                reason = p.get("blockedReason") or p.get("errorText", "failed")
                canceled = " (canceled)" if p.get("canceled") else ""
                check.failed_requests.append(
                    f"{urls.get(p['requestId'], p['requestId'])}: {reason}{canceled}")
            elif method == "Network.responseReceived" and p["response"].get("status", 0) >= 400:
                response = p["response"]
                check.failed_requests.append(f"{response['url']}: HTTP {response['status']}")


def _remote_text(arg: dict[str, Any]) -> str:
    """A console argument (a CDP RemoteObject) as console text."""
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(arg.get("description") or arg.get("unserializableValue") or arg.get("type"))


def inspect_page(html: Path | str, chart_selector: str = "svg.chart", width: int = 1280,
                 height: int = 800, timeout: float = 60.0) -> PageCheck:
    """Start Chromium, check one page (see `Browser.inspect`), and shut Chromium down again."""
    with Browser(timeout=timeout) as browser:
        return browser.inspect(html, chart_selector, width, height, timeout)
