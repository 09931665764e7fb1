"""The crawler's inferred schemas on the full mirror against human-checked expectations.

Each file in tests/expected_schemas/ was written by reading the raw files in the mirror (see
../shared/data/SOURCES.md) and applying the naming and typing conventions by hand; none of it
was produced by the crawler. Each file's `notes` say which values decided a type.

Cases where the crawler disagrees with the expectation, and the data says the expectation is
right, are marked xfail(strict=True) in KNOWN_DISAGREEMENTS with the evidence, so that a fix in
the crawler shows up as an XPASS.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from covidlake.catalog import TableDef, open_catalog
from covidlake.crawl import crawl
from covidlake.ingest import ingest
from covidlake.store import open_store

MIRROR = Path(
    os.environ.get("COVIDLAKE_MIRROR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "covid19-lake"
)
EXPECTED_DIR = Path(__file__).resolve().parents[1] / "expected_schemas"

TABLES = (
    "enigma_jhu",
    "us_county",
    "us_states",
    "states_daily",
    "us_daily",
    "us_total_latest",
    "hospital_beds",
    "countrycode",
    "county_population",
    "state_abv",
)

# (test, table) -> why the crawler is wrong, with the evidence from the raw data.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {}


def _cases(test: str) -> list[Any]:
    out = []
    for table in TABLES:
        reason = KNOWN_DISAGREEMENTS.get((test, table))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(table, id=table, marks=marks))
    return out


def expected(table: str) -> dict[str, Any]:
    return json.loads((EXPECTED_DIR / f"{table}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TableDef | None]:
    """Ingest and crawl the whole mirror once for this module."""
    if not MIRROR.is_dir():
        pytest.fail(f"the full mirror is missing at {MIRROR}; CI must have ../shared beside "
                    "the checkout (set COVIDLAKE_MIRROR to point elsewhere)")
    tmp = tmp_path_factory.mktemp("expected_schemas")
    lake = open_store(str(tmp / "lake"))
    ingest(str(MIRROR), lake)
    catalog = open_catalog("embedded", lake)
    crawl(lake, catalog)
    return {name: catalog.get(name) for name in TABLES}


def _table(crawled: dict[str, TableDef | None], name: str) -> TableDef:
    table = crawled[name]
    assert table is not None, f"the crawler produced no table {name!r}"
    return table


def _column_lines(columns: list[dict[str, Any]], with_description: bool) -> list[str]:
    lines = []
    for c in columns:
        line = f"{c['name']:<32} {c['type']:<9} {c['original_names']}"
        if with_description:
            line += f"  description={c.get('description', '')!r}"
        lines.append(line)
    return lines


def test_expected_files_are_complete() -> None:
    """One expectation per table, and each is well formed."""
    assert sorted(p.stem for p in EXPECTED_DIR.glob("*.json")) == sorted(TABLES)
    for table in TABLES:
        exp = expected(table)
        assert exp["table"] == table
        assert {"rows", "format", "header_lines", "columns", "notes"} <= set(exp)
        names = [c["name"] for c in exp["columns"]]
        assert len(names) == len(set(names)), f"{table}: duplicate column names"
        for c in exp["columns"]:
            assert c["type"] in {"BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "VARCHAR"}
            assert c["original_names"], f"{table}.{c['name']}: no original names"


@pytest.mark.integration
@pytest.mark.parametrize("name", _cases("rows_format_header"))
def test_rows_format_header(crawled: dict[str, TableDef | None], name: str) -> None:
    exp, table = expected(name), _table(crawled, name)
    got = {
        "rows": table.rows,
        "format": table.format,
        "header_lines": sorted({g.dialect.header_lines for g in table.groups}),
    }
    want = {"rows": exp["rows"], "format": exp["format"], "header_lines": [exp["header_lines"]]}
    assert got == want, f"{name}: crawled {got}, expected {want}"


@pytest.mark.integration
@pytest.mark.parametrize("name", _cases("columns"))
def test_columns(crawled: dict[str, TableDef | None], name: str) -> None:
    exp, table = expected(name), _table(crawled, name)
    with_description = any("description" in c for c in exp["columns"])
    want = [
        {"name": c["name"], "type": c["type"], "original_names": list(c["original_names"]),
         **({"description": c.get("description", "")} if with_description else {})}
        for c in exp["columns"]
    ]
    got = [
        {"name": c.name, "type": c.type, "original_names": list(c.original_names),
         **({"description": c.description} if with_description else {})}
        for c in table.columns
    ]
    if got != want:
        diff = "\n".join(difflib.unified_diff(
            _column_lines(want, with_description), _column_lines(got, with_description),
            fromfile=f"expected_schemas/{name}.json", tofile=f"crawled {name}", lineterm=""))
        pytest.fail(f"{name}: crawled columns differ from the expectation\n{diff}", pytrace=False)
