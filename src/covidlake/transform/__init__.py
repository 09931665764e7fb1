"""transform: build the star schema (covid.fact_covid, dim_region, dim_hospital, dim_date)
and its data-quality results from the lake's tables, on DuckDB.

The model is SQL in `sql/` (run in file order). This module checks that the catalog carries
the columns the model reads (`NEEDS`), reads each source once into `stage.<table>` with exactly
those columns, runs the SQL, and then the checks in `quality.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from covidlake import log
from covidlake.catalog import Catalog, TableDef, require
from covidlake.errors import CovidlakeError, SchemaError
from covidlake.lakesql import ident, lit
from covidlake.transform.model import NEEDS, STAR_TABLES, Need
from covidlake.transform.quality import Check, Kept, reconcile, run_checks
from covidlake.transform.runner import SqlRunner

if TYPE_CHECKING:  # incremental.py reads the export's manifest, which imports this package
    from covidlake.store import ObjectStore
    from covidlake.transform.incremental import Plan, StageCache


@dataclass
class TransformResult:
    rows: dict[str, int] = field(default_factory=dict)  # star table -> rows
    checks: list[Check] = field(default_factory=list)
    reconciliation: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # an incremental build whose region keys held: the fact days it rebuilt (the rest are the
    # previous star's rows, unchanged)
    delta_days: list[int] | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


_ALLOWED = {
    "text": None,  # anything reads as text
    "int": {"BIGINT", "DOUBLE"},
    "float": {"BIGINT", "DOUBLE"},
    "date": {"DATE", "TIMESTAMP"},
    "timestamp": {"TIMESTAMP", "DATE"},
}
_SQL_TYPE = {"text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "date": "DATE",
             "timestamp": "TIMESTAMP"}


def stage_view(table: TableDef, needs: tuple[Need, ...], warnings: list[str],
               row_id: str | None = None) -> str:
    """SQL that reads a source once into stage.<table>: the needed columns (NULL for a missing
    optional one), `rowid` (as `row_id`, if given: see SqlRunner.row_id), `_file`,
    and `bad` = the needed columns whose text did not parse."""
    exprs, used = [], []
    for need in needs:
        col = table.column(need.column)
        sql_type = _SQL_TYPE[need.kind]
        if col is None:
            if need.required:
                raise SchemaError(
                    f"{table.name}: column {need.column!r} is missing "
                    f"(columns: {', '.join(c.name for c in table.columns)})",
                    hint="the source's header changed; fix the file or rename the column, "
                         "then run crawl again")
            warnings.append(f"{table.name}.{need.column} is not in the source; left NULL")
            exprs.append(f"CAST(NULL AS {sql_type}) AS {ident(need.column)}")
            continue
        missing_in = [g for g in table.groups if need.column not in {n for _, n in g.columns}]
        if need.required and missing_in:
            files = [k for g in missing_in for k in g.files]
            header = ",".join(o for o, _ in missing_in[0].columns)
            raise SchemaError(
                f"{table.name}: column {need.column!r} is missing from {len(files)} file(s), "
                f"first {files[0]} (its header: {header})",
                hint="the source's header changed; fix the file or rename the column, "
                     "then run crawl again")
        allowed = _ALLOWED[need.kind]
        if allowed is not None and col.type not in allowed:
            raise SchemaError(
                f"{table.name}: column {need.column!r} should hold {need.kind} values but the "
                f"crawler typed it {col.type} (examples: {', '.join(col.examples) or 'none'})",
                hint="too many values do not parse; fix the source and run crawl again")
        exprs.append(f"CAST({ident(need.column)} AS {sql_type}) AS {ident(need.column)}")
        used.append(need.column)
    names = "[" + ", ".join(lit(u) for u in used) + "]"
    bad = (f"array_to_string(list_filter(string_split(_bad_columns, ','), "
           f"x -> list_contains({names}, x)), ',')")
    if row_id is not None:
        exprs.append(f"{row_id} AS rowid")
    return (f"CREATE OR REPLACE TABLE stage.{ident(table.name)} AS SELECT {', '.join(exprs)}, "
            f"_file, {bad} AS bad FROM src.{ident(table.name)}")


def malformed_lines(catalog: Catalog) -> list[tuple[object, ...]]:
    """The CSV lines the crawler found with a wrong number of fields, for the rejects."""
    return [(t.name, key, line, f"malformed line ({error})", text)
            for t in catalog.tables() if t.name in NEEDS
            for key, f in t.files.items() for line, error, text in f.malformed_lines]


def build(runner: SqlRunner, catalog: Catalog, chosen: Plan | None = None,
          lake: ObjectStore | None = None, cache: StageCache | None = None) -> TransformResult:
    """Build stage.*, star.* and the checks with `runner`, which already reads the lake's
    tables as src.<table> (with `_file` and `_bad_columns`). With an incremental plan
    (`chosen`, see incremental.py), src.enigma_jhu holds only the new files, and the rest comes
    from the previous star in `lake`. With `cache`, the other sources are staged from the
    copies an earlier run saved, where their files and reading are the same."""
    started = time.perf_counter()
    result = TransformResult()
    if chosen is not None and lake is None:
        raise ValueError("an incremental transform reads the previous star from the lake")
    from covidlake.transform.incremental import check_lookups, declare, keep_facts, keys_kept

    declare(runner, chosen, lake)  # type: ignore[arg-type]
    for name, needs in NEEDS.items():
        sql = stage_view(require(catalog, name), needs, result.warnings, runner.row_id)
        runner.stage((cache.restore(name, sql) if cache else None) or sql)
    runner.create_table("stage.malformed", [
        ("source_table", "VARCHAR"), ("file", "VARCHAR"), ("line", "BIGINT"),
        ("reason", "VARCHAR"), ("raw_line", "VARCHAR")], malformed_lines(catalog))
    ref = resources.files("covidlake") / "transform" / "reference"
    for name in ("country_aliases", "province_aliases"):
        runner.load_csv(f"ref.{name}", str(ref / f"{name}.csv"))
    sql_dir = resources.files("covidlake") / "transform" / "sql"
    for script in sorted(p.name for p in sql_dir.iterdir() if p.name.endswith(".sql")):
        try:
            runner.execute((sql_dir / script).read_text(encoding="utf-8"))
        except CovidlakeError:
            raise
        except Exception as exc:  # the engine's own error classes
            raise CovidlakeError(f"transform step {script} failed: {exc}",
                                 hint="run with --debug for the traceback") from exc
    held = False  # every place kept its region key (incremental only)
    if chosen is not None:
        check_lookups(runner)
        held = keys_kept(runner)
        keep_facts(runner, chosen, lake, held)  # type: ignore[arg-type]
    result.reconciliation = reconcile(runner, catalog, chosen.carried if chosen else None)
    kept = None
    if chosen is not None and held:
        kept = Kept(chosen.date_keys, "prev.fact_keyed", {
            str(name): int(n) for name, n in runner.rows(
                "SELECT check_name, failing_rows FROM prev.dq_results "
                "WHERE table_name = 'fact_covid'")})
        result.delta_days = kept.days
    result.checks = run_checks(runner, result.reconciliation, result.warnings, kept)
    result.rows = {t.name: runner.rows(f"SELECT count(*) FROM star.{t.name}")[0][0]
                   for t in STAR_TABLES}
    for w in result.warnings:
        log.warn(w)
    result.seconds = time.perf_counter() - started
    log.info("transform: " + ", ".join(f"{k} {v:,}" for k, v in result.rows.items())
             + f" ({result.seconds:.1f}s)")
    return result
