#!/usr/bin/env python3
"""Cut the bundled sample out of the real covid19-lake mirror.

    python scripts/make_sample.py ../shared/data/covid19-lake src/covidlake/sample/covid19-lake

Every kept line is copied byte for byte (BOMs, CRLF, quoting and unpadded FIPS survive); only
whole lines are dropped. The selection is deterministic, so re-running gives identical files, and
PROVENANCE.md records the rules, the source checksums and what was kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

# A few days of each of the four JHU header eras; the files with a BOM or CRLF are among them.
JHU_DAYS = [
    "01-22-2020", "01-23-2020", "02-15-2020",  # era 1 (01-22: BOM + CRLF)
    "03-01-2020", "03-13-2020", "03-15-2020",  # era 2 (03-13: BOM; 03-15: CRLF)
    "03-22-2020", "03-28-2020", "04-01-2020",  # era 3 (03-22: BOM + CRLF + DC duplicate)
    "05-29-2020", "06-02-2020", "08-26-2020",  # era 4 (06-02: CRLF)
]
# US states kept in the larger per-county files: first US cases and early 'King County, WA'
# naming (WA), NYC without FIPS in NYT (NY), parishes (LA), the duplicate row (DC) and a
# territory missing from the state-abbreviation table (PR).
STATES = {"Washington", "New York", "Louisiana", "District of Columbia", "Puerto Rico"}
# A few weeks of the daily series, overlapping the era-2/3 JHU days above.
FIRST_DAY, LAST_DAY = "2020-03-15", "2020-04-05"

SMALL_FILES = [  # copied whole
    "static-datasets/csv/countrycode/CountryCodeQS.csv",
    "static-datasets/csv/CountyPopulation/County_Population.csv",
    "static-datasets/csv/state-abv/states_abv.csv",
    "rearc-covid-19-testing-data/csv/us-total-latest/us.csv",
]


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def parse(line: bytes) -> list[str]:
    text = line.decode("utf-8-sig").rstrip("\r\n")
    return next(csv.reader(io.StringIO(text), skipinitialspace=True), [])


def cut_csv(data: bytes, keep: Callable[[dict[str, str]], bool]) -> tuple[bytes, int, int]:
    """Keep the header line and the data lines for which keep(row) is true."""
    lines = lines_of(data)
    header = parse(lines[0])
    kept = [lines[0]]
    for line in lines[1:]:
        row = dict(zip(header, parse(line), strict=False))
        if keep(row):
            kept.append(line)
    return b"".join(kept), len(lines) - 1, len(kept) - 1


def jhu_keep(row: dict[str, str]) -> bool:
    country = (row.get("Country_Region") or row.get("Country/Region") or "").strip()
    if country != "US" or "Admin2" not in row:  # all rows of the small early files
        return True
    return (row.get("Province_State") or "").strip() in STATES or not (row.get("FIPS") or "")


def in_window(day: str) -> bool:
    if len(day) == 8 and day.isdigit():  # CTP's YYYYMMDD
        day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    return FIRST_DAY <= day <= LAST_DAY


def hospital_keep(line: bytes) -> bool:
    rec = json.loads(line)
    return rec.get("STATE_NAME") in STATES or not (rec.get("STATE_NAME") and rec.get("FIPS"))


def main(src: Path, dst: Path) -> None:
    plan: list[tuple[str, Callable[[bytes], tuple[bytes, int, int]], str]] = []
    for day in JHU_DAYS:
        plan.append((f"enigma-jhu/csv/{day}.csv", lambda d: cut_csv(d, jhu_keep),
                     "all non-US rows; US rows of the kept states or without FIPS"))
    window = f"dates {FIRST_DAY}..{LAST_DAY}"
    plan += [
        ("enigma-nytimes-data-in-usa/csv/us_county/us_county.csv",
         lambda d: cut_csv(d, lambda r: in_window(r["date"]) and r["state"] in STATES),
         f"{window}, kept states"),
        ("enigma-nytimes-data-in-usa/csv/us_states/us_states.csv",
         lambda d: cut_csv(d, lambda r: in_window(r["date"])), window),
        ("rearc-covid-19-testing-data/csv/states_daily/states_daily.csv",
         lambda d: cut_csv(d, lambda r: in_window(r["date"])), window),
        ("rearc-covid-19-testing-data/csv/us_daily/us_daily.csv",
         lambda d: cut_csv(d, lambda r: in_window(r["date"])), window),
    ]

    def hospitals(d: bytes) -> tuple[bytes, int, int]:
        lines = [ln for ln in lines_of(d) if ln.strip()]
        kept = [ln for ln in lines if hospital_keep(ln)]
        return b"".join(kept), len(lines), len(kept)

    plan.append(("rearc-usa-hospital-beds/json/usa-hospital-beds.geojson", hospitals,
                 "kept states, plus every record without a state or FIPS"))
    for key in SMALL_FILES:
        plan.append((key, lambda d: (d, len(lines_of(d)) - 1, len(lines_of(d)) - 1), "whole file"))

    rows = []
    for key, cut, rule in plan:
        data = (src / key).read_bytes()
        out, n_in, n_out = cut(data)
        target = dst / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out)
        rows.append((key, hashlib.sha256(data).hexdigest(), n_in, n_out, len(out), rule))

    total = sum(r[4] for r in rows)
    doc = [
        "# Bundled sample: provenance",
        "",
        "A cut of the real covid19-lake mirror (see `../shared/data/SOURCES.md` for where each",
        "file comes from). Made by `scripts/make_sample.py`; re-run it to regenerate. Kept lines",
        "are byte-for-byte copies (BOMs, CRLF, quoting, unpadded FIPS included); nothing is",
        "edited, only whole lines are left out.",
        "",
        f"- JHU days: {', '.join(JHU_DAYS)}",
        f"- US states kept in per-county files: {', '.join(sorted(STATES))}",
        f"- daily series window: {FIRST_DAY} .. {LAST_DAY}",
        f"- total size: {total:,} bytes",
        "",
        "| lake key | source sha256 | rows in source | rows kept | bytes | rule |",
        "|---|---|---:|---:|---:|---|",
    ]
    doc += [f"| {k} | `{h[:16]}…` | {a:,} | {b:,} | {n:,} | {r} |" for k, h, a, b, n, r in rows]
    (dst.parent / "PROVENANCE.md").write_text("\n".join(doc) + "\n", encoding="utf-8")
    print(f"sample: {len(rows)} files, {total:,} bytes -> {dst}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_sample.py MIRROR_DIR SAMPLE_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
