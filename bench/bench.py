"""`make bench`: what the pipeline costs, measured against the machine's floor.

Workloads (choose with arguments; default: all but x10, which needs ~7 GB of disk):

- sample: the bundled sample;
- full:   the mirror, ../shared/data/covid19-lake;
- scale:  the mirror with its JHU folder replaced by the 1,143 full-period daily files of
          ../shared/data/extras/jhu-full-period.tar.xz (4.3M rows, 2020-01 to 2023-03);
- x10:    scale with the JHU files replicated ten times in time: copy k (k = 0..9) of the
          file for MM-DD-YYYY is named MM-DD-(YYYY + 4k), its Date_Published shifted the same
          way (4 years keep leap days on leap years). Synthetic, and labelled so: it measures
          how cost grows, it is not data.

For each: two floors, each one DuckDB query in a fresh process that reads every source file
once and counts: `floor` reads lines without parsing CSV (the cheapest read there is; the
fastest of three), `row_floor` counts rows with DuckDB's own read_csv and its defaults (it
sniffs each file's dialect and types, as an analyst's `SELECT count(*) FROM read_csv(...)`
does). Targets are judged against both, and both are reported. The row floor and a full
run into a fresh lake and warehouse (wall time per stage and in total, peak RSS, rows per
second, bytes read and written) alternate `--rounds` times (default 2; x10 once), and the
fastest of each counts (the highest peak RSS). Then a no-op re-run and, for each workload but
x10, a one-new-day run (the last JHU day withheld, then added; it must give the full run's
star, and the result says whether it ran incrementally; its target is judged on full and scale).
`--spark` adds the transform on Spark (local[2]) for scale. `--profile` runs each workload's
full run (and new day) once more under pyinstrument, a sampling profiler, and writes where the
time went as HTML and text under the work folder (`profiles/`). Results: bench/results/<UTC
time>.json and latest.json (`--out` elsewhere).

    .venv/bin/python bench/bench.py full scale --spark
    .venv/bin/python bench/bench.py full --profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COVIDLAKE_SHARED", ROOT.parent / "shared" / "data"))
MIRROR = SHARED / "covid19-lake"
EXTRAS = SHARED / "extras" / "jhu-full-period.tar.xz"
SAMPLE = ROOT / "src" / "covidlake" / "sample" / "covid19-lake"
JHU = "enigma-jhu/csv"
WORKLOADS = ("sample", "full", "scale", "x10")
TARGETS = {  # workload -> (max total / floor, max peak RSS in MB)
    "full": (2.0, None),
    "scale": (3.0, 2048),
    "x10": (None, 4096),
}


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    read_mb: float  # block I/O of the process (page-cache hits are not counted)
    written_mb: float
    exit_code: int
    stderr_tail: str = ""


@dataclass
class Result:
    workload: str
    source_files: int
    source_mb: float
    floor: dict[str, Any] = field(default_factory=dict)  # lines
    row_floor: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    noop: dict[str, Any] = field(default_factory=dict)
    new_day: dict[str, Any] = field(default_factory=dict)
    spark: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)  # run / new_day -> its files
    ratios: dict[str, float] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run `cmd`, with its own rusage (wait4): wall time, peak RSS, block I/O."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")  # drains it; the child never blocks
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(round(seconds, 2), round(usage.ru_maxrss / 1024, 1),
                    round(usage.ru_inblock * 512 / 2**20, 1),
                    round(usage.ru_oublock * 512 / 2**20, 1), proc.returncode,
                    "\n".join(err.strip().splitlines()[-5:]))


def files_of(source: Path) -> list[Path]:
    return sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))


FLOOR = """
import sys, duckdb
files = [l for l in sys.stdin.read().splitlines() if l]
lst = lambda fs: "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in fs) + "]"
csvs, lines = [f for f in files if f.endswith(".csv")], [f for f in files if not f.endswith(".csv")]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if sys.argv[1] == "lines":
    q = (f"SELECT count(*) FROM read_csv({lst(files)}, columns={{'line': 'VARCHAR'}}, "
         "delim='\\x01', quote='', escape='', header=false, auto_detect=false, strict_mode=false)")
else:  # rows: DuckDB's own CSV reader with its defaults (and JSON lines for the .geojson)
    parts = [f"(SELECT count(*) FROM read_csv({lst(csvs)}, union_by_name=true))"] if csvs else []
    parts += [f"(SELECT count(*) FROM read_json({lst(lines)}, format='newline_delimited'))"
              ] if lines else []
    q = "SELECT " + " + ".join(parts)
print(con.execute(q).fetchone()[0])
"""


def floor(source: Path, work: Path, kind: str, repeats: int, budget: float = 60.0
          ) -> dict[str, Any]:
    """Every source file read once in one DuckDB query in a fresh process, counted, `repeats`
    times (fewer once `budget` seconds are spent), and the fastest counts: the first may read
    from disk, the pipeline's runs find the files in the page cache (one floor measured 0.57 s
    and 1.68 s on two runs).

    kind "lines": each file as lines, no CSV parsing (the cheapest read there is);
    kind "rows": DuckDB's read_csv with its defaults (dialect and type sniffing per file,
    union_by_name for the JHU header versions), what an analyst's `count(*)` costs."""
    listing = work / "floor-files.txt"
    listing.write_text("\n".join(str(p) for p in files_of(source)))
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        with listing.open() as stdin:
            proc = subprocess.run([sys.executable, "-c", FLOOR, kind], stdin=stdin, text=True,
                                  capture_output=True, check=True)
        times.append(round(time.perf_counter() - start, 2))
        count = int(proc.stdout)
        if sum(times) > budget:
            break
    return {"seconds": min(times), "all_seconds": times, kind: count}


def covidlake(*args: str) -> list[str]:
    return [sys.executable, "-m", "covidlake", *args, "--quiet"]


def last_record(lake: Path) -> dict[str, Any]:
    runs = sorted((lake / "_runs").glob("*.json"))
    return json.loads(runs[-1].read_text())


def du_mb(*paths: Path) -> float:
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def timed(lake: Path, work: Path, *args: str, env: dict[str, str] | None = None
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """`covidlake ARGS --lake LAKE`, measured: (the measurements with its stage times, the
    run record it left)."""
    m = measure(covidlake(*args, "--lake", str(lake)), work, env)
    if m.exit_code:
        raise SystemExit(f"bench: covidlake {' '.join(args)} failed:\n{m.stderr_tail}")
    rec = last_record(lake)
    transform = next((s for s in rec["stages"] if s["name"] == "transform"), {})
    load = next((s for s in rec["stages"] if s["name"] == "load"), {})
    return {**asdict(m), "stages": {s["name"]: s["seconds"] for s in rec["stages"]},
            # the process's peak so far at each stage's end: where it rises, that stage set it
            "stage_peak_rss_mb": {s["name"]: s.get("peak_rss_mb") for s in rec["stages"]},
            # CPU seconds of all threads: over the stage's seconds, the cores it kept busy
            "stage_cpu_seconds": {s["name"]: s.get("cpu_seconds") for s in rec["stages"]},
            "star_version": rec["star_version"],
            "transform_mode": transform.get("detail", {}).get("mode", "skipped"),
            "load_detail": load.get("detail", {})}, rec


PROFILE = """
import sys
from pyinstrument import Profiler
out, sys.argv = sys.argv[1], ["covidlake", *sys.argv[2:]]
profiler = Profiler(interval=0.001)
profiler.start()  # before the imports: every run pays for them
from covidlake.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
session = profiler.stop()
with open(out + ".html", "w") as f:
    f.write(profiler.output_html())
with open(out + ".txt", "w") as f:  # the call tree, then each function's own time
    f.write(profiler.output_text(unicode=True, color=False))
    f.write("\\nBy function (own time):\\n" + profiler.output_text(unicode=True, flat=True))
print(session.duration)
sys.exit(code)
"""


def profiled(lake: Path, work: Path, name: str, *args: str) -> dict[str, Any]:
    """`covidlake ARGS --lake LAKE` once more, under pyinstrument (1 ms samples, the imports
    included): where its time went, as HTML and as a text tree in `work`/profiles/."""
    out = work / "profiles" / name
    out.parent.mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", PROFILE, str(out), *args, "--lake", str(lake),
                           "--quiet"], cwd=work, capture_output=True, text=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"bench: the profiled covidlake {' '.join(args)} failed:\n{tail}")
    return {"seconds": round(float(proc.stdout.split()[-1]), 2), "html": f"{out}.html",
            "text": f"{out}.txt"}


def fresh(work: Path, name: str) -> tuple[Path, Path]:
    """An empty lake and warehouse for `name` in `work` (what an earlier bench left, removed)."""
    lake, wh = work / f"{name}-lake", work / f"{name}.duckdb"
    shutil.rmtree(lake, ignore_errors=True)
    wh.unlink(missing_ok=True)
    return lake, wh


def pipeline(source: Path, work: Path, name: str) -> tuple[dict[str, Any], Path, Path]:
    lake, wh = fresh(work, name)
    out, rec = timed(lake, work, "run", "--source", str(source), "--warehouse", str(wh))
    rows_in = sum(r["rows_read"] for r in rec["reconciliation"])
    out.update(rows_in=rows_in, rows_per_second=round(rows_in / out["seconds"]),
               lake_mb=du_mb(lake), warehouse_mb=du_mb(wh))
    return out, lake, wh


def rerun(source: Path, lake: Path, wh: Path, work: Path) -> dict[str, Any]:
    return timed(lake, work, "run", "--source", str(source), "--warehouse", str(wh))[0]


def link_tree(src: Path, dst: Path, skip: str | None = None) -> None:
    """`dst` mirrors `src` with hard links (copies across file systems), leaving out the
    folder `skip` (relative)."""
    for p in files_of(src):
        rel = p.relative_to(src)
        if skip and str(rel).startswith(skip + "/"):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(p, target)
            except OSError:
                shutil.copy2(p, target)


def scale_source(work: Path) -> Path:
    src = work / "scale-src"
    if (src / ".complete").exists():
        return src
    if not EXTRAS.exists():
        raise SystemExit(f"bench: {EXTRAS} is missing (the scale workload needs it)")
    shutil.rmtree(src, ignore_errors=True)
    link_tree(MIRROR, src, skip=JHU)
    jhu = src / JHU
    jhu.mkdir(parents=True)
    with tarfile.open(EXTRAS) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".csv"):
                member.name = Path(member.name).name
                tar.extract(member, jhu, filter="data")
    (src / ".complete").touch()
    return src


DAY = re.compile(rb'^"(\d\d)-(\d\d)-(\d{4})"', re.M)


def x10_source(work: Path) -> Path:
    src, scale = work / "x10-src", scale_source(work)
    if (src / ".complete").exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    link_tree(scale, src, skip=JHU)
    (src / JHU).mkdir(parents=True)
    for f in files_of(scale / JHU):
        mm, dd, yyyy = f.stem.split("-")
        data = f.read_bytes()
        for k in range(10):
            name = src / JHU / f"{mm}-{dd}-{int(yyyy) + 4 * k}.csv"
            if k == 0:
                os.link(f, name)
                continue
            name.write_bytes(DAY.sub(lambda m, k=k: b'"%s-%s-%d"' % (
                m.group(1), m.group(2), int(m.group(3)) + 4 * k), data))
    (src / ".complete").touch()
    return src


def sources(workload: str, work: Path) -> Path:
    if workload == "sample":
        return SAMPLE
    if workload == "full":
        if not MIRROR.is_dir():
            raise SystemExit(f"bench: the mirror is missing at {MIRROR}")
        return MIRROR
    return scale_source(work) if workload == "scale" else x10_source(work)


def new_day(source: Path, work: Path, name: str, profile: bool = False
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Withhold the last JHU day, run, add it, and time that run: (its measurements, and with
    `profile` the same run again from the same lake under the profiler)."""
    src = work / f"{name}-minus-a-day"
    shutil.rmtree(src, ignore_errors=True)
    link_tree(source, src)
    last = max(files_of(src / JHU), key=lambda p: (p.stem[-4:], p.stem[:5]))
    held = work / f"{name}-{last.name}"
    shutil.move(last, held)
    _, lake, wh = pipeline(src, work, f"{name}-newday")
    shutil.move(held, last)
    copies = fresh(work, f"{name}-newday-profiled")
    if profile:  # the lake and warehouse the timed run starts from, for the profiled one
        shutil.copytree(lake, copies[0])
        shutil.copy2(wh, copies[1])
    out = rerun(src, lake, wh, work)
    out["day"] = last.name
    prof = {}
    if profile:
        prof = profiled(copies[0], work, f"{name}-new-day", "run", "--source", str(src),
                        "--warehouse", str(copies[1]))
        shutil.rmtree(copies[0])
        copies[1].unlink()
    shutil.rmtree(src, ignore_errors=True)
    return out, prof


def spark_transform(lake: Path, work: Path) -> dict[str, Any]:
    return timed(lake, work, "transform", "--engine", "spark", "--force",
                 env={"COVIDLAKE_SPARK_MASTER": "local[2]"})[0]


def bench(workload: str, work: Path, spark: bool, rounds: int = 2, profile: bool = False
          ) -> Result:
    source = sources(workload, work)
    files = files_of(source)
    res = Result(workload, len(files), du_mb(*files))
    print(f"bench {workload}: {len(files):,} files, {res.source_mb:,} MB", file=sys.stderr)
    res.floor = floor(source, work, "lines", repeats=3)
    # The row floor and the run in alternation, the fastest of each: a slow spell of the
    # machine (here a floor has measured 3.4 s and 5.4 s an hour apart) then slows a floor and
    # a run alike instead of skewing their ratio
    floors, runs = [], []
    for _ in range(rounds if workload != "x10" else 1):
        floors.append(floor(source, work, "rows", repeats=1))
        run, lake, wh = pipeline(source, work, workload)
        runs.append(run)
    res.row_floor = {"seconds": min(f["seconds"] for f in floors),
                     "all_seconds": [t for f in floors for t in f["all_seconds"]],
                     "rows": floors[-1]["rows"]}
    res.run = {**min(runs, key=lambda r: r["seconds"]),
               "all_seconds": [r["seconds"] for r in runs],
               "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}  # the worst: a limit
    res.noop = rerun(source, lake, wh, work)
    if profile:  # a full run again, into a lake and warehouse of its own
        plake, pwh = fresh(work, f"{workload}-profiled")
        res.profile["run"] = profiled(plake, work, f"{workload}-run", "run", "--source",
                                      str(source), "--warehouse", str(pwh))
        shutil.rmtree(plake)
        pwh.unlink()
    if workload != "x10":
        res.new_day, prof = new_day(source, work, workload, profile)
        if prof:
            res.profile["new_day"] = prof
    if spark and workload == "scale":
        res.spark = spark_transform(lake, work)
    total = res.run["seconds"]
    res.ratios = {"run_to_floor": round(total / max(res.floor["seconds"], 1e-3), 2),
                  "run_to_row_floor": round(total / max(res.row_floor["seconds"], 1e-3), 2),
                  "noop_seconds": res.noop["seconds"]}
    if res.new_day:
        res.ratios["new_day_to_run"] = round(res.new_day["seconds"] / total, 3)
        # the incremental run must give the star a full run gives: a fast wrong answer is no
        # answer
        res.new_day["same_star_as_full_run"] = (
            res.new_day["star_version"] == res.run["star_version"])
    ratio_max, rss_max = TARGETS.get(workload, (None, None))
    if ratio_max:  # judged against both floors; the JSON and the table show both
        for key in ("run_to_floor", "run_to_row_floor"):
            res.targets[key] = {"target": ratio_max, "met": res.ratios[key] <= ratio_max}
    if rss_max:
        res.targets["peak_rss_mb"] = {"target": rss_max,
                                      "met": res.run["peak_rss_mb"] <= rss_max}
    if workload == "full":
        res.targets["noop_seconds"] = {"target": 2.0, "met": res.noop["seconds"] < 2.0}
    if res.new_day and workload in ("full", "scale"):  # where a run does real work
        res.targets["new_day_to_run"] = {"target": 0.1,
                                         "met": res.ratios["new_day_to_run"] < 0.1}
    return res


def machine() -> dict[str, Any]:
    import duckdb

    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    return {"cpus": os.cpu_count(), "memory_gb": round(int(mem) / 2**20, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", choices=WORKLOADS,
                    default=["sample", "full", "scale"])
    ap.add_argument("--spark", action="store_true", help="also the Spark transform on scale")
    ap.add_argument("--rounds", type=int, default=2,
                    help="row floors and runs, alternated; the fastest counts (x10: one)")
    ap.add_argument("--work", default=os.environ.get("COVIDLAKE_BENCH_DIR",
                                                     str(ROOT / "bench" / "work")))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"),
                    help="where the results' JSON goes")
    ap.add_argument("--profile", action="store_true",
                    help="each full run and new day once more under pyinstrument")
    args = ap.parse_args()
    work = Path(args.work).resolve()  # the runs start in it: a relative path would nest
    work.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    doc: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
                           "machine": machine(), "results": []}
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # the package as pip installs it, compiled: where the environment forbids Python to write
    # bytecode (PYTHONDONTWRITEBYTECODE, as on this machine), every run compiled every module
    import compileall

    doc["bytecode_compiled"] = compileall.compile_dir(str(ROOT / "src" / "covidlake"), quiet=1)
    for w in args.workloads:
        results.append(bench(w, work, args.spark, args.rounds, args.profile))
        doc["results"] = [asdict(r) for r in results]
        by = {r.workload: r for r in results}
        if "scale" in by and "x10" in by:  # does cost grow at most linearly?
            for key, name in (("run_to_floor", "x10_ratio_of_ratios"),
                              ("run_to_row_floor", "x10_ratio_of_row_ratios")):
                growth = by["x10"].ratios[key] / by["scale"].ratios[key]
                doc[name] = {"value": round(growth, 2), "target": 1.2, "met": growth <= 1.2}
        text = json.dumps(doc, indent=1)  # after each workload: a crash keeps the rest
        (out / f"{doc['at'].replace(':', '')}.json").write_text(text)
        (out / "latest.json").write_text(text)
    report(doc)


def report(doc: dict[str, Any]) -> None:
    print(f"{'workload':8} {'lines s':>8} {'rows s':>8} {'run s':>8} {'ratio':>11} "
          f"{'RSS MB':>8} {'rows/s':>10} {'no-op s':>8} {'new day':>8}  stages")
    for r in doc["results"]:
        nd = r["new_day"].get("seconds", "")
        cpu = r["run"].get("stage_cpu_seconds", {})
        stages = ", ".join(f"{k} {v:.1f}" + (f" ({cpu[k] / v:.1f} cores)" if cpu.get(k) else "")
                           for k, v in r["run"]["stages"].items())
        ratio = f"{r['ratios']['run_to_floor']}/{r['ratios']['run_to_row_floor']}"
        print(f"{r['workload']:8} {r['floor']['seconds']:>8} {r['row_floor']['seconds']:>8} "
              f"{r['run']['seconds']:>8} {ratio:>11} {r['run']['peak_rss_mb']:>8} "
              f"{r['run']['rows_per_second']:>10,} {r['noop']['seconds']:>8} {nd:>8}  "
              f"{stages}")
        for name, t in r["targets"].items():
            print(f"    target {name} <= {t['target']}: {'met' if t['met'] else 'NOT met'}")
        for name, prof in r.get("profile", {}).items():
            print(f"    profile of the {name.replace('_', ' ')}: {prof['seconds']} s, "
                  f"{prof['html']} (text: {prof['text']})")
        if r["spark"]:
            print(f"    spark transform: {r['spark']['seconds']} s, "
                  f"{r['spark']['peak_rss_mb']} MB (stages {r['spark']['stages']})")
    for name in ("x10_ratio_of_ratios", "x10_ratio_of_row_ratios"):
        if name in doc:
            print(f"x10 growth ({name}): {doc[name]}")


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))
    main()
