"""Shared fixtures. Tiers: fast (bundled sample, default), `integration` (the full mirror in
../shared/data), `slow`. All tiers run in CI (`make test`)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COVIDLAKE_MIRROR", ROOT.parent / "shared" / "data" / "covid19-lake"))


@dataclass
class Done:
    """A finished `covidlake run`: where its lake and warehouse are, and what it printed."""

    workdir: Path
    lake: Path
    warehouse: Path
    stdout: str
    stderr: str

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


def cli(*args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point, as a user would (`input`: its standard input)."""
    proc = subprocess.run([sys.executable, "-m", "covidlake", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=900,
                          input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"covidlake {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def same_rows(a: list[dict], b: list[dict]) -> bool:
    """Equal row for row, floats to 1e-9 relative (summation order differs per engine)."""
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(
            x[k] == pytest.approx(y[k], rel=1e-9) if isinstance(x[k], float) else x[k] == y[k]
            for k in x) for x, y in zip(a, b, strict=True))


def _run(workdir: Path, *extra: str) -> Done:
    workdir.mkdir(parents=True, exist_ok=True)
    lake, warehouse = workdir / "lake", workdir / "wh.duckdb"
    proc = cli("run", "--lake", str(lake), "--warehouse", str(warehouse), *extra, cwd=workdir)
    return Done(workdir, lake, warehouse, proc.stdout, proc.stderr)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """moto's AWS APIs, with fake credentials and nothing from this machine's AWS config."""
    from moto import mock_aws

    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """SeaweedFS on 127.0.0.1 for the whole session (about 2 s to start)."""
    from servers import start_seaweedfs

    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """The AWS environment pointing at SeaweedFS, and a fresh bucket: (server, bucket)."""
    import uuid

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    return s3_server, bucket


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """PostgreSQL 15 on 127.0.0.1 for the whole session (about 1 s to start)."""
    from servers import start_postgres

    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:  # noqa: ANN001
    """A fresh, empty database."""
    import uuid

    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Done:
    """The whole pipeline on the bundled sample (about 3 s)."""
    return _run(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Done:
    """The whole pipeline on the full mirror (about 30 s); integration tier."""
    if not MIRROR.is_dir():
        pytest.fail(f"the full mirror is missing at {MIRROR}; CI must have ../shared beside "
                    "the checkout (set COVIDLAKE_MIRROR to point elsewhere)")
    return _run(tmp_path_factory.mktemp("full"), "--source", str(MIRROR))
