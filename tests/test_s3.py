"""The S3 object store and the whole pipeline on a real S3 server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import cli
from covidlake.errors import StoreError
from covidlake.settings import bundled_sample
from covidlake.store import open_store
from covidlake.store import s3 as s3mod


def test_put_get_list_delete(s3) -> None:  # noqa: ANN001
    _, bucket = s3
    store = open_store(f"s3://{bucket}/lake")
    store.put("raw/a/1.csv", b"x\n1\n")
    store.put("raw/a/2.csv", b"x\n2\n")
    store.put("raw/b/.hidden", b"")
    assert [(o.key, o.size) for o in store.list("raw/a/")] == [("raw/a/1.csv", 4),
                                                              ("raw/a/2.csv", 4)]
    assert store.get("raw/a/2.csv") == b"x\n2\n"
    assert store.exists("raw/a/1.csv") and not store.exists("raw/a/3.csv")
    assert store.uri("raw/a/1.csv") == f"s3://{bucket}/lake/raw/a/1.csv"
    store.delete("raw/a/1.csv")
    assert [o.key for o in store.list("raw/")] == ["raw/a/2.csv"]


def test_multipart_upload_is_verified(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:  # noqa: ANN001
    _, bucket = s3
    monkeypatch.setattr(s3mod, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    data = os.urandom(12 * 1024 * 1024 + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    store = open_store(f"s3://{bucket}")
    store.put_file("big.bin", path)
    head = s3[0].client().head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert hashlib.sha256(store.get("big.bin")).digest() == hashlib.sha256(data).digest()


def test_a_corrupted_upload_is_caught(s3, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    _, bucket = s3
    store = open_store(f"s3://{bucket}")
    real = store.client.put_object

    def flip(**kw):  # noqa: ANN003, ANN202 - the bytes change on the way
        kw["Body"] = kw["Body"][:-1] + b"?"
        return real(**kw)

    monkeypatch.setattr(store.client, "put_object", flip)
    with pytest.raises(StoreError, match="checksum mismatch"):
        store.put("x.csv", b"a,b\n1,2\n")


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("s3://no-such-bucket-here/lake", {}, "does not exist"),
        ("s3://{bucket}/lake", {"AWS_SECRET_ACCESS_KEY": "wrong"}, "access denied"),
        ("s3://{bucket}/lake", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}, "127.0.0.1:9"),
    ],
)
def test_errors_name_the_endpoint_not_the_secret(s3, monkeypatch: pytest.MonkeyPatch, url: str,  # noqa: ANN001
                                                 env: dict[str, str], message: str) -> None:
    _, bucket = s3
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(s3mod, "RETRIES", 1)
    store = open_store(url.format(bucket=bucket))
    with pytest.raises(StoreError) as err:
        list(store.list("raw/"))
    text = str(err.value)
    assert message in text
    assert "covidlake-test-secret" not in text and "wrong" not in text


@pytest.mark.parametrize("mode", ["httpfs", "s3fs"])
def test_duckdb_reads_and_writes_s3(s3, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:  # noqa: ANN001
    _, bucket = s3
    if mode == "s3fs":
        monkeypatch.setenv("COVIDLAKE_S3_DUCKDB", "s3fs")  # force the fallback
    store = open_store(f"s3://{bucket}/lake")
    store.put("raw/t/a.csv", b"x,y\n1,2\n3,4\n")
    con = duckdb.connect()
    store.configure_duckdb(con)
    assert con.execute(f"SELECT sum(y) FROM read_csv('{store.uri('raw/t/a.csv')}')"
                       ).fetchone() == (6,)
    loaded = {r[0]: r[1] for r in con.execute(
        "SELECT extension_name, loaded FROM duckdb_extensions()").fetchall()}
    assert loaded.get("httpfs", False) is (mode == "httpfs")


def test_pipeline_with_an_s3_lake(s3, tmp_path: Path) -> None:  # noqa: ANN001
    server, bucket = s3
    lake = f"s3://{bucket}/lake"
    wh = tmp_path / "wh.duckdb"
    first = cli("run", "--lake", lake, "--warehouse", str(wh), cwd=tmp_path)
    assert "succeeded" in first.stdout
    keys = {o["Key"] for o in server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    for key in ("lake/_manifest/ingest.json", "lake/_catalog/catalog.json",
                "lake/star/fact_covid/fact_covid-2020-03.parquet",
                "lake/star/fact_covid/fact_covid-2020-03.csv",
                "lake/raw/static-datasets/csv/state-abv/states_abv.csv"):
        assert key in keys, key
    assert any(k.startswith("lake/_runs/") for k in keys)
    again = cli("run", "--lake", lake, "--warehouse", str(wh), cwd=tmp_path)
    assert "0 copied" in again.stderr and "already has star version" in again.stderr
    q = cli("query", "SELECT count(*) AS n FROM us_county", "--lake", lake, "--format", "csv",
            cwd=tmp_path)
    assert list(csv.reader(q.stdout.splitlines())) == [["n"], ["2734"]]
    # the same star as a run on a local lake
    local = cli("run", "--lake", str(tmp_path / "local"), "--warehouse",
                str(tmp_path / "local.duckdb"), cwd=tmp_path)
    version = [ln for ln in again.stdout.splitlines() if "star " in ln][0].split("star ")[1]
    assert version.rstrip(")") in local.stdout


def test_anonymous_source_like_the_public_bucket(s3, tmp_path: Path,  # noqa: ANN001
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`--source s3://covid19-lake` reads without credentials; here a bucket laid out like it."""
    server, _ = s3
    client = server.client()
    if "covid19-lake" not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket="covid19-lake")
    src = Path(bundled_sample())
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        client.put_object(Bucket="covid19-lake", Key=path.relative_to(src).as_posix(),
                          Body=path.read_bytes())
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    proc = cli("ingest", "--source", "s3://covid19-lake", "--lake", str(tmp_path / "lake"),
               cwd=tmp_path)
    assert "21 copied" in proc.stderr
    copied = tmp_path / "lake/raw/static-datasets/csv/state-abv/states_abv.csv"
    assert copied.read_bytes() == (src / "static-datasets/csv/state-abv/states_abv.csv"
                                   ).read_bytes()
    shutil.rmtree(tmp_path / "lake")


def test_5xx_answers_are_retried_with_backoff(s3) -> None:  # noqa: ANN001
    """The server fails twice with 503, then answers: the store still gets the object."""
    from botocore.awsrequest import AWSResponse

    _, bucket = s3
    store = open_store(f"s3://{bucket}")
    store.put("x.csv", b"a\n1\n")
    failures: list[str] = []

    class Raw:  # a streaming body botocore can read
        def stream(self, **_: object):  # noqa: ANN202
            yield b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"

    def flaky(request, **_: object):  # noqa: ANN001, ANN202
        if request.method == "GET" and len(failures) < 2:
            failures.append(request.url)
            return AWSResponse(request.url, 503, {}, Raw())
        return None

    store.client.meta.events.register("before-send.s3.GetObject", flaky)
    assert store.get("x.csv") == b"a\n1\n"
    assert len(failures) == 2


def test_a_new_day_on_an_s3_lake_is_incremental(s3, sample_run, tmp_path: Path) -> None:  # noqa: ANN001
    """The incremental transform reads the previous star and its state from S3 (httpfs)."""
    _, bucket = s3
    lake, wh = f"s3://{bucket}/lake", tmp_path / "wh.duckdb"
    src = tmp_path / "src"
    shutil.copytree(bundled_sample(), src)
    day = src / "enigma-jhu/csv/03-13-2020.csv"
    held = tmp_path / day.name
    shutil.move(day, held)
    cli("run", "--source", str(src), "--lake", lake, "--warehouse", str(wh), cwd=tmp_path)
    shutil.move(held, day)
    proc = cli("run", "--source", str(src), "--lake", lake, "--warehouse", str(wh),
               cwd=tmp_path)
    assert "transform: incremental: 1 new enigma_jhu file(s)" in proc.stderr
    assert "1 fact day(s) replaced" in proc.stderr
    full = json.loads((sample_run.lake / "star/_manifest.json").read_text())["version"]
    assert f"star {full}" in proc.stdout
