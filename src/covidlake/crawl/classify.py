"""Classify one object: format, encoding, line endings, delimiter, header lines.

Works on the first bytes of a file, like a Glue classifier, but also finds the header of an
all-text CSV (by value lengths) and a second header line (the Census file's `Id,Id2,...`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass

from covidlake.catalog import Dialect
from covidlake.errors import SourceError

HEAD_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";", "|")
_NUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{1,4}[-/]\d{1,2}([-/]\d{1,4})?([ T]\d{1,2}:\d{2}(:\d{2})?Z?)?")


@dataclass
class Classified:
    dialect: Dialect
    bom: bool
    newline: str
    header: list[str]  # names as the file spells them (generated when there is no header)
    description: list[str] | None  # a second header line, if any


def _kind(value: str) -> str | None:
    v = value.strip()
    if not v:
        return None
    if _NUM.fullmatch(v):
        return "num"
    return "date" if _DATE.fullmatch(v) else "text"


def classify(key: str, head: bytes) -> Classified:
    """Classify from the first bytes of an object (`head` may be cut mid-line)."""
    bom = head.startswith(b"\xef\xbb\xbf")
    if bom:
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(f"{key}: UTF-16 text is not supported",
                          hint="convert the file to UTF-8")
    if b"\x00" in head[:4096]:
        raise SourceError(f"{key}: binary content, not CSV or JSON",
                          hint="remove the file from the source or fix its format")
    complete = head if len(head) < HEAD_BYTES else head[: head.rfind(b"\n") + 1] or head
    try:
        text, encoding = complete.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = complete.decode("latin-1"), "latin-1"
    newline = "\r\n" if "\r\n" in text else "\n"
    stripped = text.lstrip()
    if stripped.startswith("{"):
        first = stripped.splitlines()[0]
        try:
            record = json.loads(first)
        except ValueError as exc:
            raise SourceError(f"{key}: starts like JSON but line 1 does not parse ({exc})",
                              hint="JSON sources must be one object per line") from exc
        return Classified(Dialect("jsonl", encoding, "", "", 0), bom, newline,
                          list(record), None)
    if stripped.startswith("["):
        raise SourceError(f"{key}: JSON arrays are not supported yet",
                          hint="convert to JSON lines (one object per line)")
    dialect, header, description = _classify_csv(key, text, Dialect("csv", encoding))
    return Classified(dialect, bom, newline, header, description)


def _parse(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    rows = []
    for row in reader:
        if row:
            rows.append(row)
        if len(rows) >= 200:
            break
    return rows


def _classify_csv(key: str, text: str, dialect: Dialect
                  ) -> tuple[Dialect, list[str], list[str] | None]:
    if not text.strip():
        raise SourceError(f"{key}: the file is empty", hint="remove it or re-export it")
    best: tuple[tuple[float, int], str, list[list[str]]] | None = None
    for delim in DELIMITERS:
        rows = _parse(text, delim)
        width, count = Counter(len(r) for r in rows).most_common(1)[0]
        score = (count / len(rows), width)  # the most consistent split, then the widest
        if best is None or score > best[0]:
            best = (score, delim, rows)
    assert best is not None
    _, dialect.delimiter, rows = best
    width = max(len(r) for r in rows)
    dialect.header_lines = detect_header(rows)
    if dialect.header_lines == 0:
        return dialect, [f"col_{i + 1}" for i in range(width)], None
    header = [h.strip() for h in rows[0]]
    header += [f"col_{i + 1}" for i in range(len(header), width)]
    description = None
    if dialect.header_lines == 2:
        description = [d.strip() for d in rows[1]] + [""] * (width - len(rows[1]))
    return dialect, header, description


def detect_header(rows: list[list[str]]) -> int:
    """0, 1 or 2 header lines, by how the first rows differ from the rest.

    A column whose data is numeric but whose first value is text votes for a header; so does
    an all-text column whose values share one length that the first value does not have (the
    state abbreviations: `Abbreviation` over `AL`, `AK`, ...). A first value repeated in the
    data votes against.
    """
    first, data = rows[0], rows[1:]
    cells = [c.strip() for c in first]
    if any(_kind(c) in ("num", "date") for c in cells) or "" in cells:
        return 0
    if len(set(cells)) < len(cells):
        return 0
    if not data:
        return 1
    votes = 0
    for j, head in enumerate(cells):
        column = [r[j].strip() for r in data if j < len(r) and r[j].strip()]
        if not column:
            continue
        kinds = Counter(_kind(v) for v in column)
        if (kinds["num"] + kinds["date"]) / len(column) >= 0.9:
            votes += 1
        elif head in column:
            votes -= 1
        elif len({len(v) for v in column}) == 1 and len(head) != len(column[0]):
            votes += 1
    if votes < 0:
        return 0
    return 2 if _second_header(data) else 1


def _second_header(data: list[list[str]]) -> bool:
    """True if data[0] is text exactly where the rows below it are numbers."""
    if len(data) < 2:
        return False
    candidate, rest = data[0], data[1:]
    numeric_cols = []
    for j in range(len(candidate)):
        column = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if column and sum(_kind(v) == "num" for v in column) / len(column) >= 0.9:
            numeric_cols.append(j)
    return bool(numeric_cols) and all(_kind(candidate[j]) == "text" for j in numeric_cols)
