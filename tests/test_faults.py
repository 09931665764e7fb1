"""Faults: the process killed at random points of ingest, export and load (in loops), servers
stopped mid-stage, a full disk, two runs at once. Each ends cleanly or recovers; the result
of the next run equals a clean run's; the warehouse is never half-loaded."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from conftest import MIRROR, Done, cli
from covidlake.lock import lake_lock
from covidlake.settings import bundled_sample
from covidlake.store import open_store

LOOPS = int(os.environ.get("COVIDLAKE_KILL_LOOPS", "50"))
STAR = ("dim_date", "dim_region", "dim_hospital", "fact_covid", "dq_results")


def _start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "covidlake", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


def _kill_after(proc: subprocess.Popen[str], seconds: float) -> bool:
    """SIGKILL `proc` after `seconds` unless it ended; True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _timed(*args: str, cwd: Path) -> float:
    started = time.monotonic()
    cli(*args, cwd=cwd)
    return time.monotonic() - started


def _raw_state(lake: Path) -> dict[str, str]:
    """What ingest promises: each raw object's bytes, and the manifest's keys and checksums."""
    manifest = json.loads((lake / "_manifest/ingest.json").read_text())
    objects = {o["key"]: (o["sha256"], o["bytes"]) for o in manifest["objects"]}
    files = {p.relative_to(lake).as_posix(): p.read_bytes()
             for p in (lake / "raw").rglob("*") if p.is_file()}
    return {"objects": json.dumps(sorted(objects.items())),
            "files": json.dumps(sorted((k, len(v), hash(v)) for k, v in files.items()))}


def _warehouse(path: Path) -> dict[str, object]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'covid'").fetchall()}
        assert not {n for n in names if n.endswith("__new")}, names
        return {t: con.execute(f"SELECT count(*), sum(hash(x::VARCHAR)) FROM covid.{t} x"
                               ).fetchone() for t in STAR}
    finally:
        con.close()


@pytest.mark.slow
def test_kill_loop_ingest(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    took = _timed("ingest", "--lake", str(clean), "-q", cwd=tmp_path)
    want = _raw_state(clean)
    rng, killed = random.Random(6), 0
    for i in range(LOOPS):
        lake = tmp_path / f"lake{i % 2}"
        shutil.rmtree(lake, ignore_errors=True)
        killed += _kill_after(_start("ingest", "--lake", str(lake), "-q", cwd=tmp_path),
                              rng.uniform(0, took))
        cli("ingest", "--lake", str(lake), "-q", cwd=tmp_path)
        assert _raw_state(lake) == want, f"iteration {i}"
        assert not list(lake.rglob("*.tmp")), "a temporary file was left behind"
    assert killed >= LOOPS // 2, f"only {killed} of {LOOPS} runs were killed mid-ingest"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A crawled sample lake and the star version a clean transform makes of it."""
    work = tmp_path_factory.mktemp("crawled")
    cli("ingest", "--lake", str(work / "lake"), "-q", cwd=work)
    cli("crawl", "--lake", str(work / "lake"), "-q", cwd=work)
    base = work / "base"
    shutil.copytree(work / "lake", base)
    cli("transform", "--lake", str(work / "lake"), "-q", cwd=work)
    version = json.loads((work / "lake/star/_manifest.json").read_text())["version"]
    return base, version


@pytest.mark.slow
def test_kill_loop_transform_and_export(crawled: tuple[Path, str], tmp_path: Path) -> None:
    base, version = crawled
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    took = _timed("transform", "--lake", str(probe), "-q", cwd=tmp_path)
    rng, killed = random.Random(7), 0
    for i in range(LOOPS):
        lake = tmp_path / "lake"
        if i % 5 == 0:  # now and then from scratch; otherwise over a half-written star
            shutil.rmtree(lake, ignore_errors=True)
            shutil.copytree(base, lake)
        killed += _kill_after(_start("transform", "--force", "--lake", str(lake), "-q",
                                     cwd=tmp_path), rng.uniform(0.3 * took, took))
        manifest = lake / "star/_manifest.json"
        if manifest.exists():  # whatever a reader sees is a complete star
            doc = json.loads(manifest.read_text())
            for t in doc["tables"]:
                for key in t["files"]:
                    assert (lake / key).exists(), f"iteration {i}: {key} missing"
        cli("transform", "--lake", str(lake), "-q", cwd=tmp_path)
        assert json.loads(manifest.read_text())["version"] == version, f"iteration {i}"
        assert not list(lake.rglob("*.tmp")), "a temporary file was left behind"
    assert killed >= LOOPS // 2, f"only {killed} of {LOOPS} runs were killed mid-transform"


@pytest.mark.slow
def test_kill_loop_load(sample_run: Done, tmp_path: Path) -> None:
    """Two different stars, A (the sample) and B (one JHU day less); every killed load leaves
    the warehouse exactly A or exactly B, never a mix."""
    lake_a, wh = sample_run.lake, tmp_path / "wh.duckdb"
    src_b = tmp_path / "src_b"
    shutil.copytree(bundled_sample(), src_b)
    (src_b / "enigma-jhu/csv/08-26-2020.csv").unlink()
    lake_b = tmp_path / "lake_b"
    cli("run", "--source", str(src_b), "--lake", str(lake_b), "--warehouse",
        str(tmp_path / "b.duckdb"), "-q", cwd=tmp_path)
    cli("load", "--lake", str(lake_b), "--warehouse", str(wh), "-q", cwd=tmp_path)
    state_b = _warehouse(wh)
    took = _timed("load", "--force", "--lake", str(lake_a), "--warehouse", str(wh), "-q",
                  cwd=tmp_path)
    state_a = _warehouse(wh)
    assert state_a != state_b
    rng, killed = random.Random(8), 0
    for i in range(LOOPS):
        target = lake_b if i % 2 == 0 else lake_a
        killed += _kill_after(_start("load", "--force", "--lake", str(target), "--warehouse",
                                     str(wh), "-q", cwd=tmp_path), rng.uniform(0.3 * took, took))
        assert _warehouse(wh) in (state_a, state_b), f"iteration {i}: a half-loaded warehouse"
    cli("load", "--force", "--lake", str(lake_a), "--warehouse", str(wh), "-q", cwd=tmp_path)
    assert _warehouse(wh) == state_a
    assert killed >= LOOPS // 3, f"only {killed} of {LOOPS} loads were killed"


def test_two_runs_at_once_one_refuses_or_waits(sample_run: Done, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_run.lake, lake)
    store = open_store(str(lake))
    with lake_lock(store, "holder-run"):
        refused = cli("crawl", "--lake", str(lake), cwd=tmp_path, check=False)
        assert refused.returncode == 1
        assert "in use by run holder-run" in refused.stderr and "--wait" in refused.stderr
        waiting = _start("crawl", "--lake", str(lake), "--wait", "120", cwd=tmp_path)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=2)  # it waits for the lock, it does not run
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "crawl: 10 tables" in err


def test_two_runs_at_once_on_an_s3_lake(s3, tmp_path: Path) -> None:  # noqa: ANN001
    _, bucket = s3
    lake = f"s3://{bucket}/lake"
    with lake_lock(open_store(lake), "holder-run"):
        refused = cli("ingest", "--lake", lake, cwd=tmp_path, check=False)
        assert refused.returncode == 1 and "in use by run holder-run" in refused.stderr
    cli("ingest", "--lake", lake, cwd=tmp_path)  # the lock object is gone


def test_disk_full(tmp_path: Path) -> None:
    """A lake on a 1 MB tmpfs (the sample is 1.7 MB): a clear error, nothing corrupted."""
    lake = tmp_path / "small"
    lake.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(lake)],
                             capture_output=True, check=False).returncode == 0
    if not mounted:
        pytest.fail("cannot mount a tmpfs here; the test needs root (CI runs as root)")
    try:
        proc = cli("ingest", "--lake", str(lake), cwd=tmp_path, check=False)
        assert proc.returncode == 1
        assert "No space left on device" in proc.stderr and "hint:" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not list(lake.rglob("*.tmp"))
        for path in (p for p in (lake / "raw").rglob("*") if p.is_file()):
            src = Path(bundled_sample()) / path.relative_to(lake / "raw")
            assert path.read_bytes() == src.read_bytes(), f"{path} is corrupted"
    finally:
        subprocess.run(["umount", str(lake)], check=False)


@pytest.mark.integration
def test_s3_server_stopped_mid_ingest_then_restarted(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from servers import start_seaweedfs

    server = start_seaweedfs(tmp_path / "s3")
    env = dict(server.env)
    server.client().create_bucket(Bucket="lake")
    try:
        proc = _start("ingest", "--source", str(MIRROR), "--lake", "s3://lake/covid",
                      cwd=tmp_path, env=env)
        client = server.client()
        while proc.poll() is None:  # stop the server once objects are arriving
            if client.list_objects_v2(Bucket="lake", Prefix="covid/raw/").get("KeyCount", 0):
                break
        server.stop()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
        assert server.endpoint in err and "Traceback" not in err
        server = server.restart()
        again = cli("ingest", "--source", str(MIRROR), "--lake", "s3://lake/covid",
                    cwd=tmp_path, env=env)
        assert "227 objects" in again.stderr
        manifest = json.loads(server.client().get_object(
            Bucket="lake", Key="covid/_manifest/ingest.json")["Body"].read())
        sums = {line.split()[1].lstrip("*"): line.split()[0]
                for line in (MIRROR.parent / "SHA256SUMS").read_text().splitlines()}
        got = {o["key"].removeprefix("raw/"): o["sha256"] for o in manifest["objects"]}
        assert got == {k.removeprefix("covid19-lake/"): v for k, v in sums.items()
                       if k.startswith("covid19-lake/")}
    finally:
        server.stop()


def test_postgres_stopped_mid_load(sample_run: Done, pg_server, tmp_path: Path) -> None:  # noqa: ANN001
    from servers import start_postgres

    pg = start_postgres(tmp_path / "pg")
    try:
        url = pg.create_database("wh")
        cli("load", "--lake", str(sample_run.lake), "--warehouse", url, "-q", cwd=tmp_path)
        with psycopg.connect(url) as con:
            before = con.execute("SELECT count(*) FROM covid.fact_covid").fetchone()
        proc = _start("load", "--force", "--lake", str(sample_run.lake), "--warehouse", url,
                      cwd=tmp_path)
        watcher = psycopg.connect(url, autocommit=True)
        stopped = threading.Event()
        while proc.poll() is None and not stopped.is_set():
            busy = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                   "'COPY covid.%' AND pid <> pg_backend_pid()").fetchone()[0]
            if busy:
                watcher.close()
                pg.stop(immediate=True)  # a crash, mid-COPY
                stopped.set()
        _, err = proc.communicate(timeout=120)
        assert stopped.is_set(), "the load finished before the server could be stopped"
        assert proc.returncode == 1 and "previous tables kept" in err, err
        assert "Traceback" not in err
        pg.start()
        with psycopg.connect(url) as con:
            assert con.execute("SELECT count(*) FROM covid.fact_covid").fetchone() == before
            leftovers = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                                    "table_name LIKE '%\\_\\_new'").fetchone()[0]
        assert leftovers == 0
        cli("load", "--force", "--lake", str(sample_run.lake), "--warehouse", url, "-q",
            cwd=tmp_path)
    finally:
        pg.stop()
