"""Athena: every shipped query transpiles to Athena's dialect and means the same thing (checked
by translating back and running both on DuckDB); the thin call path runs against moto's
Athena API and a scripted client for the failure paths."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import requests
import sqlglot

from conftest import Done
from covidlake.catalog import open_catalog
from covidlake.engines.athena import AthenaEngine, AthenaSettings, to_athena
from covidlake.errors import QueryError
from covidlake.report import QUERIES
from covidlake.store import open_store

SETTINGS = AthenaSettings("covid", "primary", "s3://results/covidlake/", 10**9)
LAKE_QUERIES = [  # the examples the README and help text ship
    "SELECT state, sum(cases) FROM us_county GROUP BY 1",
    "SELECT count(*) FROM us_county",
    "SELECT fips, cases FROM us_county WHERE date = DATE '2020-04-01' AND county = 'King'",
]


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_report_queries_mean_the_same_in_athena(sample_run: Done, query: Any) -> None:
    athena = to_athena(query.sql)
    back = sqlglot.transpile(athena, read="athena", write="duckdb")[0]
    con = sample_run.connect()
    original = con.execute(query.sql).fetchall()
    assert original, f"{query.name} returns rows on the sample"
    assert con.execute(back).fetchall() == original


@pytest.mark.parametrize("sql", LAKE_QUERIES)
def test_lake_queries_transpile(sql: str) -> None:
    assert to_athena(sql)


def test_duckdb_only_syntax_is_refused_not_guessed() -> None:
    with pytest.raises(QueryError, match="cannot translate"):
        to_athena("PIVOT us_county ON state USING sum(cases)")


def _column(name: str, type_: str) -> dict[str, Any]:
    return {"CatalogName": "hive", "SchemaName": "covid", "TableName": "us_county",
            "Name": name, "Label": name, "Type": type_, "Precision": 0, "Scale": 0,
            "Nullable": "UNKNOWN", "CaseSensitive": False}


def test_call_path_against_moto(moto_aws: None, sample_run: Done) -> None:
    rows = [["state", "cases"], ["Washington", "2498"], ["New York", None]]
    requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json={
        "results": [{"rows": [{"Data": [{"VarCharValue": v} if v else {} for v in r]}
                              for r in rows],
                     "column_info": [_column("state", "varchar"), _column("cases", "bigint")]}],
        "region": "us-east-1"}, timeout=5)
    client = boto3.client("athena")
    lake = open_store(str(sample_run.lake))
    engine = AthenaEngine(open_catalog("embedded", lake), SETTINGS, client, poll_seconds=0)
    table = engine.query("SELECT state, sum(cases) AS cases FROM us_county GROUP BY 1")
    assert table.to_pylist() == [{"state": "Washington", "cases": 2498},
                                 {"state": "New York", "cases": None}]
    sent = client.list_query_executions()["QueryExecutionIds"]
    ex = client.get_query_execution(QueryExecutionId=sent[0])["QueryExecution"]
    assert ex["Query"] == "SELECT state, SUM(cases) AS cases FROM us_county GROUP BY 1"
    assert ex["WorkGroup"] == "primary"
    assert ex["ResultConfiguration"]["OutputLocation"].startswith(SETTINGS.output_location)


class Scripted:
    """A client that plays back query states; records stop requests."""

    def __init__(self, states: list[tuple[str, int, str]]) -> None:
        self.states, self.stopped = states, []

    def start_query_execution(self, **kw: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        state, scanned, reason = self.states.pop(0)
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": reason},
                                   "Statistics": {"DataScannedInBytes": scanned}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:  # noqa: N803
        self.stopped.append(QueryExecutionId)


@pytest.mark.parametrize(
    ("states", "message", "stopped"),
    [
        ([("RUNNING", 10, ""), ("RUNNING", 2 * 10**9, "")], "over the limit", True),
        ([("QUEUED", 0, ""), ("FAILED", 0, "SYNTAX_ERROR: line 1:8")], "SYNTAX_ERROR", False),
        ([("CANCELLED", 0, "stopped by user")], "cancelled", False),
    ],
)
def test_failure_paths(sample_run: Done, states: list, message: str, stopped: bool) -> None:
    client = Scripted(list(states))
    lake = open_store(str(sample_run.lake))
    engine = AthenaEngine(open_catalog("embedded", lake), SETTINGS, client, poll_seconds=0)
    with pytest.raises(QueryError, match=message):
        engine.query("SELECT count(*) FROM us_county")
    assert bool(client.stopped) is stopped


def test_tables_athena_cannot_read_are_refused_before_any_call(sample_run: Done) -> None:
    client = Scripted([])
    lake = open_store(str(sample_run.lake))
    engine = AthenaEngine(open_catalog("embedded", lake), SETTINGS, client)
    with pytest.raises(QueryError, match="header versions") as err:
        engine.query("SELECT count(*) FROM enigma_jhu")
    assert "--engine duckdb" in str(err.value)
