"""Classify one object: format (CSV, JSON lines, JSON array, Parquet; gzip of any), encoding,
line endings, delimiter, quote and escape, header lines.

Works on the first bytes of a file, like a Glue classifier, but also finds the header of an
all-text CSV (by value lengths) and a second header line (the Census file's `Id,Id2,...`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import zip_longest
from typing import TYPE_CHECKING

from covidlake.catalog import Dialect
from covidlake.errors import SourceError

if TYPE_CHECKING:  # imported where used: a lake of text files needs no PyArrow
    import pyarrow as pa

HEAD_BYTES = 256 * 1024
SNIFF_CHARS = 64 * 1024
QUOTE_SNIFF_CHARS = 16 * 1024  # enough lines to see how fields are quoted
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
    declared: dict[str, str] = field(default_factory=dict)  # types a Parquet file declares


@lru_cache(maxsize=1 << 16)  # values repeat across rows and files (names, dates)
def _kind(value: str) -> str | None:
    v = value.strip()
    if not v:
        return None
    if _NUM.fullmatch(v):
        return "num"
    return "date" if _DATE.fullmatch(v) else "text"


def _gunzip_head(key: str, data: bytes) -> bytes:
    """The first HEAD_BYTES of a gzip object, after checking the whole stream: a truncated
    file decompresses partly without complaint in most readers, so it is refused here."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    try:
        for i in range(0, len(data), 1 << 20):
            out = d.decompress(data[i:i + (1 << 20)])
            if len(head) < HEAD_BYTES:
                head += out[: HEAD_BYTES - len(head)]
    except zlib.error as exc:
        raise SourceError(f"{key}: a gzip file that does not decompress ({exc})",
                          hint="re-download or re-compress the file") from exc
    if not d.eof:
        raise SourceError(f"{key}: the gzip stream is truncated (it ends before its end marker)",
                          hint="the file was cut short: download or copy it again")
    return head


def _arrow_type(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    return "VARCHAR"


def classify(key: str, data: bytes) -> Classified:
    """Classify an object from its bytes (a Parquet footer needs the whole object; text
    formats look at the first HEAD_BYTES, after gunzip for gzip files of any format)."""
    compression = ""
    if data[:2] == b"\x1f\x8b":
        compression, data = "gzip", _gunzip_head(key, data)
    if data[:4] == b"PAR1":
        if compression:
            raise SourceError(f"{key}: gzip-compressed Parquet is not supported",
                              hint="Parquet compresses inside; store the .parquet file as is")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(pa.BufferReader(data))
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{key}: not a readable Parquet file ({exc})",
                              hint="re-export the file") from exc
        return Classified(Dialect("parquet", header_lines=0), False, "", schema.names, None,
                          {f.name: _arrow_type(f.type) for f in schema})
    head = data[:HEAD_BYTES]
    bom = head.startswith(b"\xef\xbb\xbf")
    if bom:
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(f"{key}: UTF-16 text is not supported",
                          hint="convert the file to UTF-8")
    if b"\x00" in head[:4096]:
        sample = head[:4096]
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if max(odd, even) > 0.4 * len(sample) / 2 and min(odd, even) < 0.05 * len(sample) / 2:
            raise SourceError(f"{key}: UTF-16 text (without a byte-order mark) is not "
                              "supported", hint="convert the file to UTF-8")
        raise SourceError(f"{key}: binary content, not CSV, JSON or Parquet",
                          hint="remove the file from the source or fix its format")
    complete = head if len(head) < HEAD_BYTES else head[: head.rfind(b"\n") + 1] or head
    try:
        text, encoding = complete.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = complete.decode("latin-1"), "latin-1"
    newline = "\r\n" if "\r\n" in text else "\n"
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        fmt, header = _json_keys(key, stripped)
        return Classified(Dialect(fmt, encoding, "", "", "", 0, compression), bom, newline,
                          header, None)
    dialect, header, description = _classify_csv(key, text, Dialect("csv", encoding))
    dialect.compression = compression
    return Classified(dialect, bom, newline, header, description)


def _json_keys(key: str, text: str) -> tuple[str, list[str]]:
    """'jsonl' or 'json' (an array), and the keys of the first records, in order."""
    decoder = json.JSONDecoder()
    array = text.startswith("[")
    pos, keys, records = (1 if array else 0), {}, 0
    while records < 100:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            record, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            if records:  # the head ended inside a record
                break
            raise SourceError(f"{key}: starts like JSON but record 1 does not parse ({exc})",
                              hint="JSON sources are one object per line, or an array of "
                                   "objects") from exc
        if not isinstance(record, dict):
            raise SourceError(f"{key}: JSON records must be objects, found "
                              f"{type(record).__name__}", hint="wrap values in objects")
        keys.update(dict.fromkeys(record))
        records += 1
    return ("json" if array else "jsonl"), list(keys)


def _quote_and_escape(text: str, delimiter: str) -> tuple[str, str]:
    """The quote character (" or ') and how a quote is escaped inside a quoted field."""
    def score(q: str) -> int:  # quotes that open or close a field
        return sum(text.count(a + b) for a, b in (
            (delimiter, q), (q, delimiter), ("\n", q), (q, "\n"), (q, "\r"),
            (delimiter + " ", q)))

    quote = "'" if score("'") > score('"') else '"'
    escape = "\\" if "\\" + quote in text else quote
    return quote, escape


NULL_TOKENS = ("NA", "NULL", "N/A")


def _null_token(text: str, dialect: Dialect) -> str:
    r"""The token a file writes, unquoted, for a missing value while it quotes its text (R's
    write.csv writes `"Afghanistan",NA`): read as NULL. A file that quotes nothing gets none,
    so Namibia's country code NA stays text.

    >>> _null_token('"a","b"\n"x",NA\n"y",1\n', Dialect())
    'NA'
    >>> _null_token('code,name\nNA,Namibia\n', Dialect())
    ''
    """
    d, q = re.escape(dialect.delimiter), re.escape(dialect.quote)
    if not re.search(f"(^|{d}){q}[^{q}\n]*[A-Za-z][^{q}\n]*{q}({d}|\r?$)", text, re.M):
        return ""  # text is not quoted: a bare NA could be a value
    for token in NULL_TOKENS:  # `in` first: the pattern alone scans slowly (no prefix)
        if token in text and re.search(f"(^|{d}){re.escape(token)}({d}|\r?$)", text, re.M):
            return token
    return ""


def _parse(text: str, delimiter: str, quote: str = '"', escape: str = '"') -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True,
                        quotechar=quote, doublequote=escape == quote,
                        escapechar=None if escape == quote else escape)
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
    if len(text) > SNIFF_CHARS:  # 200 rows are parsed at most; sniff on what covers them
        text = text[: text.rfind("\n", 0, SNIFF_CHARS) + 1] or text[:SNIFF_CHARS]
    best: tuple[tuple[bool, float, int], str, str, str, list[list[str]]] | None = None
    head = text[:QUOTE_SNIFF_CHARS]
    for delim in DELIMITERS:
        if delim != DELIMITERS[0] and delim not in head:
            continue  # cannot split anything: not worth parsing 200 rows for
        quote, escape = _quote_and_escape(head, delim)
        rows = _parse(text, delim, quote, escape)
        width, count = Counter(len(r) for r in rows).most_common(1)[0]
        share = count / len(rows)
        # a delimiter that splits nearly every row the same way beats one that splits
        # nothing; then the most consistent, then the widest
        score = (share >= 0.9 and width > 1, share, width)
        if best is None or score > best[0]:
            best = (score, delim, quote, escape, rows)
    assert best is not None
    (_, share, width), *_ = best
    # no delimiter splits the rows alike: one column, whose values hold a delimiter character
    # here and there ('t,x'); read with one that never occurs
    absent = next((d for d in DELIMITERS if d not in text), None) if (
        width == 1 and share < 1) else None
    if absent is not None:
        quote, escape = _quote_and_escape(head, absent)
        best = ((False, 1.0, 1), absent, quote, escape, _parse(text, absent, quote, escape))
    _, dialect.delimiter, dialect.quote, dialect.escape, rows = best
    dialect.null = _null_token(text, dialect)
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


def _columns(rows: list[list[str]]) -> list[tuple[str, ...]]:
    """The stripped values of `rows` by column; '' where a row is shorter."""
    return list(zip_longest(*([c.strip() for c in r] for r in rows), fillvalue=""))


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
    for head, values in zip(cells, _columns(data), strict=False):
        column = [v for v in values if v]
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
    candidate = data[0]
    numeric_cols = []
    for j, values in zip(range(len(candidate)), _columns(data[1:]), strict=False):
        column = [v for v in values if v]
        if column and sum(_kind(v) == "num" for v in column) / len(column) >= 0.9:
            numeric_cols.append(j)
    return bool(numeric_cols) and all(_kind(candidate[j]) == "text" for j in numeric_cols)
