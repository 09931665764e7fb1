from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from covidlake.errors import SourceError
from covidlake.ingest import MANIFEST, ingest
from covidlake.settings import bundled_sample
from covidlake.sources import SOURCES
from covidlake.store import open_store


@pytest.fixture
def source(tmp_path: Path) -> Path:
    dst = tmp_path / "source"
    shutil.copytree(bundled_sample(), dst)
    return dst


def test_copies_every_table_under_its_lake_key_with_a_manifest(source: Path, tmp_path: Path
                                                               ) -> None:
    lake = open_store(str(tmp_path / "lake"))
    result = ingest(str(source), lake)
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert result.copied == len(files)
    for key in files:
        assert (tmp_path / "lake" / "raw" / key).read_bytes() == (source / key).read_bytes()
    entries = {e["key"]: e for e in json.loads(lake.get(MANIFEST))["objects"]}
    assert set(entries) == {"raw/" + k for k in files}
    key = "static-datasets/csv/state-abv/states_abv.csv"
    entry = entries["raw/" + key]
    assert entry["bytes"] == (source / key).stat().st_size
    assert len(entry["sha256"]) == 64 and entry["ingested_at"]
    assert {t.table for t in result.tables} == {s.name for s in SOURCES}


def test_rerun_skips_unchanged_and_recopies_changed(source: Path, tmp_path: Path) -> None:
    lake = open_store(str(tmp_path / "lake"))
    ingest(str(source), lake)
    manifest = lake.get(MANIFEST)
    assert ingest(str(source), lake).copied == 0
    assert lake.get(MANIFEST) == manifest  # nothing rewritten
    changed = source / "static-datasets/csv/state-abv/states_abv.csv"
    changed.write_bytes(changed.read_bytes() + b'"Puerto Rico","PR"\n')
    again = ingest(str(source), lake)
    assert again.copied == 1
    assert lake.get("raw/static-datasets/csv/state-abv/states_abv.csv") == changed.read_bytes()


@pytest.mark.parametrize("missing", ["everything", "one table"])
def test_missing_source_is_a_clear_error(source: Path, tmp_path: Path, missing: str) -> None:
    target = tmp_path / "nowhere" if missing == "everything" else source
    if missing == "one table":
        shutil.rmtree(source / "static-datasets/csv/state-abv")
    with pytest.raises(SourceError) as err:
        ingest(str(target), open_store(str(tmp_path / "lake")))
    text = str(err.value)
    assert "no files for" in text and "--source" in text
    assert ("state_abv" in text) if missing == "one table" else ("enigma_jhu" in text)


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _same_size_same_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-2] = ord("0") if data[-2] != ord("0") else ord("1")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as if nothing happened


@pytest.mark.parametrize(("change", "verify", "copied", "read"), [
    (None, False, 0, False),                  # unchanged: not even read
    (_touch, False, 0, True),                 # touched: read, hashed, found the same
    (_same_size_same_mtime, False, 0, False),  # the quick check's blind spot ...
    (_same_size_same_mtime, True, 1, True),   # ... that --force (verify) closes
    (lambda p: p.write_bytes(p.read_bytes() + b"\n"), False, 1, True),
])
def test_unchanged_objects_are_not_read(source: Path, tmp_path: Path, monkeypatch,  # noqa: ANN001
                                        change, verify: bool, copied: int, read: bool) -> None:
    """Size and mtime (an ETag on S3) decide whether an object is read again, as in
    `aws s3 sync`; `verify` hashes everything."""
    lake = open_store(str(tmp_path / "lake"))
    ingest(str(source), lake)
    target = source / "static-datasets/csv/state-abv/states_abv.csv"
    if change is not None:
        change(target)
    store = open_store(str(source))
    reads: list[str] = []
    real_get = type(store).get
    monkeypatch.setattr(type(store), "get",
                        lambda self, key: reads.append(key) or real_get(self, key))
    source_reads = lambda: [k for k in reads if not k.startswith(("_", "raw/"))]  # noqa: E731
    result = ingest(str(source), lake, verify=verify)
    assert result.copied == copied
    assert ("static-datasets/csv/state-abv/states_abv.csv" in source_reads()) is read
    assert (len(source_reads()) > 1) is verify  # without verify only a changed one is read
    again = ingest(str(source), lake)  # the version seen is remembered: nothing read now
    assert again.copied == 0


def test_an_object_missing_from_the_lake_is_copied_again(source: Path, tmp_path: Path) -> None:
    """The manifest says it was copied; the lake's listing says it is gone: copy it again."""
    lake = open_store(str(tmp_path / "lake"))
    ingest(str(source), lake)
    key = "raw/static-datasets/csv/state-abv/states_abv.csv"
    (tmp_path / "lake" / key).unlink()
    result = ingest(str(source), lake)
    assert result.copied == 1
    assert lake.exists(key)
