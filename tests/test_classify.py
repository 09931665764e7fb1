from __future__ import annotations

import pytest

from covidlake.crawl.classify import classify, detect_header
from covidlake.errors import SourceError


@pytest.mark.parametrize(
    ("rows", "header_lines"),
    [
        # the all-text state table: only value lengths tell the header apart
        ([["State", "Abbreviation"], ["Alabama", "AL"], ["Alaska", "AK"], ["Arizona", "AZ"]], 1),
        # a typed table
        ([["date", "cases"], ["2020-01-21", "1"], ["2020-01-22", "1"]], 1),
        # no header: the first row is data like the rest
        ([["1", "2"], ["3", "4"], ["5", "6"]], 0),
        ([["Alabama", "AL"], ["Alaska", "AK"], ["Alabama", "AL"]], 0),
        # the Census file's second header line
        ([["GEO.id2", "respop72018"], ["Id2", "Population Estimate"], ["01001", "55601"],
          ["01003", "218022"]], 2),
    ],
)
def test_detect_header(rows: list[list[str]], header_lines: int) -> None:
    assert detect_header(rows) == header_lines


@pytest.mark.parametrize(
    ("data", "delimiter", "bom", "newline", "header"),
    [
        (b'\xef\xbb\xbfProvince/State,Country/Region,Confirmed\r\nAnhui,Mainland China,1\r\n',
         ",", True, "\r\n", ["Province/State", "Country/Region", "Confirmed"]),
        (b"a;b\n1;2\n3;4\n", ";", False, "\n", ["a", "b"]),
        (b"a\tb\n1\t2\n", "\t", False, "\n", ["a", "b"]),
        # every field quoted and followed by ', ' (CountryCodeQS.csv)
        (b'"Country","Alpha-2 code","Numeric code"\n"Afghanistan", "AF", "4"\n'
         b'"Korea, Republic of", "KR", "410"\n', ",", False, "\n",
         ["Country", "Alpha-2 code", "Numeric code"]),
        # one column whose values hold a comma here and there: no delimiter splits the rows
        # alike, so one that never occurs reads them (found by test_crawl_properties)
        (b"Col 0 text\nt0x\nt0x\nt,x\n", "\t", False, "\n", ["Col 0 text"]),
        (b"name\nAlabama\nAlaska\n", ",", False, "\n", ["name"]),  # nothing to split
    ],
)
def test_classify_csv(data: bytes, delimiter: str, bom: bool, newline: str,
                      header: list[str]) -> None:
    found = classify("x.csv", data)
    assert (found.dialect.format, found.dialect.delimiter, found.bom, found.newline) == (
        "csv", delimiter, bom, newline)
    assert found.header == header


def test_json_lines_named_geojson() -> None:
    data = b'{"OBJECTID": 1, "FIPS": "04013"}\n{"OBJECTID": 2}\n'
    found = classify("usa-hospital-beds.geojson", data)
    assert found.dialect.format == "jsonl"
    assert found.header == ["OBJECTID", "FIPS"]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"\x00\x01\x02binary", "binary"), (b"{not json\n", "line 1"),
     (b"\xff\xfea\x00", "UTF-16")],
)
def test_unreadable_content_names_the_file(data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message) as err:
        classify("raw/t/bad.csv", data)
    assert "raw/t/bad.csv" in str(err.value)
