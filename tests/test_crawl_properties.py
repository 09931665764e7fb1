"""Property: any CSV the generator can write (random types, quoting, delimiter, encoding,
BOM, line endings, header or none, gzip, empty values) crawls to the types it was written
with, and reads back unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covidlake.catalog import open_catalog
from covidlake.crawl import crawl
from covidlake.engines.duckdb import DuckDBEngine
from covidlake.sources import SourceTable
from covidlake.store import open_store

TEXT = st.text(st.characters(codec="latin-1", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
               min_size=1, max_size=12).map(lambda s: "t" + s.strip() + "x")
TYPED = {"int", "float", "date", "ymd_date", "code"}  # kinds that tell data from a header
KINDS = {
    # kind: (value strategy, how it is written, catalog type)
    "int": (st.integers(-10**12, 10**12), str, "BIGINT"),
    "float": (st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3) + 0.5),
              repr, "DOUBLE"),
    "text": (TEXT, str, "VARCHAR"),
    "date": (st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)), dt.date.isoformat, "DATE"),
    "ymd_date": (st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
                 lambda d: d.strftime("%Y%m%d"), "DATE"),
    "code": (st.integers(0, 9999), lambda i: f"0{i:04d}", "VARCHAR"),
    "bool": (st.booleans(), lambda b: "true" if b else "false", "BOOLEAN"),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[str], list[list[object]]]:
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=5))
    n = draw(st.integers(3, 25))
    columns = []
    for kind in kinds:
        values = draw(st.lists(KINDS[kind][0], min_size=n, max_size=n))
        holes = draw(st.lists(st.integers(0, n - 1), max_size=n // 3))
        column: list[object] = [None if i in holes else v for i, v in enumerate(values)]
        if all(v is None for v in column):
            column[0] = values[0]
        columns.append(column)
    names = [f"Col {i} {k}" for i, k in enumerate(kinds)]  # 'date' in a name says date
    return kinds, names, [list(r) for r in zip(*columns, strict=True)]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), delimiter=st.sampled_from([",", ";", "\t", "|"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]),
       newline=st.sampled_from(["\n", "\r\n"]), header=st.booleans(), gz=st.booleans())
def test_inference_round_trips(table: tuple[list[str], list[str], list[list[object]]],
                               delimiter: str, quoting: int, encoding: str, newline: str,
                               header: bool, gz: bool) -> None:
    kinds, names, rows = table
    header = header or not TYPED & set(kinds)  # all-text data without a header is ambiguous
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    if header:
        writer.writerow(names)
    else:
        names = [f"col_{i + 1}" for i in range(len(kinds))]
    for row in rows:
        writer.writerow(["" if v is None else KINDS[k][1](v) for k, v in zip(kinds, row,
                                                                             strict=True)])
    data = buf.getvalue().encode(encoding)
    expected_types = [("BIGINT" if k == "ymd_date" and not header else KINDS[k][2])
                      for k in kinds]  # YYYYMMDD is a date only where the name says so
    with tempfile.TemporaryDirectory() as tmp:
        lake = open_store(str(Path(tmp) / "lake"))
        lake.put("raw/t/part-0.csv" + (".gz" if gz else ""), gzip.compress(data) if gz else data)
        catalog = open_catalog("embedded", lake)
        crawl(lake, catalog, (SourceTable("t", "t/", "generated"),))
        t = catalog.get("t")
        assert t.rows == len(rows)
        assert t.groups[0].dialect.header_lines == int(header)
        assert [c.type for c in t.columns] == expected_types, data
        assert [c.original_names for c in t.columns] == [[n] for n in names]
        engine = DuckDBEngine(lake, catalog)
        got = engine.query("SELECT * FROM t").to_pylist()
        engine.close()
    expected = [{c.name: v for c, v in zip(t.columns, row, strict=True)} for row in rows]
    for k, c in zip(kinds, t.columns, strict=True):
        if k == "code" or (k == "ymd_date" and not header):
            for row in expected:
                v = row[c.name]
                row[c.name] = None if v is None else (
                    KINDS[k][1](v) if k == "code" else int(KINDS[k][1](v)))
    assert got == expected, data
