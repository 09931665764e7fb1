"""The stages wired to their backends, each recorded in a run; `run` is all of them in order.

Each stage reads what the previous one wrote to the lake, so any stage can run alone.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from covidlake import log
from covidlake.catalog import open_catalog
from covidlake.crawl import crawl, read_overrides
from covidlake.engines.duckdb import DuckDBEngine
from covidlake.errors import CovidlakeError
from covidlake.export import StarManifest, export, inputs_fingerprint
from covidlake.ingest import ingest
from covidlake.load import load
from covidlake.lock import lake_lock
from covidlake.runs import Run
from covidlake.settings import Settings
from covidlake.store import ObjectStore, open_store
from covidlake.transform import TransformResult, build, incremental
from covidlake.transform.model import READS, STAR_TABLES
from covidlake.transform.runner import DuckDBRunner
from covidlake.warehouses import open_warehouse


def stage_ingest(settings: Settings, lake: ObjectStore, run: Run) -> None:
    with run.stage("ingest") as st:
        result = ingest(settings.source_url, lake, verify=settings.force)
        st.rows_out = {t.table: t.files for t in result.tables}
        st.detail = {"copied": result.copied, "tables": [asdict(t) for t in result.tables]}
    run.record.sources = [{"key": o.key, "bytes": o.bytes, "sha256": o.sha256}
                          for o in result.objects]


def stage_crawl(settings: Settings, lake: ObjectStore, run: Run) -> None:
    with run.stage("crawl") as st:
        catalog = open_catalog(settings.catalog, lake)
        result = crawl(lake, catalog, on_schema_change=settings.on_schema_change,
                       overrides=read_overrides(settings.schema_overrides))
        run.catalog = catalog
        st.rows_out = {t.name: t.rows for t in catalog.tables()}
        st.detail = {"files_read": result.files_read, "files_unchanged": result.files_reused,
                     "schema_changes": result.changes, "files_left_out": result.excluded}
    run.record.catalog_version = result.catalog_version


def _engine(kind: str, lake: ObjectStore, catalog: Any,
            only: dict[str, list[str]] | None = None) -> tuple[Any, Any, Any]:
    """(engine, its SQL runner, a DuckDB connection holding the results for export)."""
    if kind == "spark":
        from covidlake.engines.spark import SparkEngine

        spark = SparkEngine(lake, catalog, checked=READS)
        return spark, spark.runner, None
    if kind != "duckdb":
        raise CovidlakeError(f"transform cannot run on engine {kind!r}", hint="duckdb or spark")
    engine = DuckDBEngine(lake, catalog, only=only, named=False, checked=READS, deferred=True)
    return engine, DuckDBRunner(engine.con, engine.src_views), engine.con


def _collect(runner: Any) -> Any:
    """The star tables and the rejected rows of a non-DuckDB run, in DuckDB for export."""
    from covidlake import duck

    con = duck.connect()
    for name in [f"star.{t.name}" for t in STAR_TABLES] + ["stage.rejected_rows"]:
        schema = name.split(".")[0]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.register("incoming", runner.arrow(name))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        con.unregister("incoming")
    return con


def stage_transform(settings: Settings, lake: ObjectStore, run: Run) -> TransformResult | None:
    catalog = run.catalog or open_catalog(settings.catalog, lake)
    run.record.catalog_version = catalog.version
    fingerprint = inputs_fingerprint(catalog)
    current = StarManifest.read(lake)
    if not settings.force and current is not None and current.inputs == fingerprint:
        with run.stage("transform") as st:
            st.detail = {"skipped": "inputs unchanged", "inputs": fingerprint}
            st.rows_out = {t.name: t.rows for t in current.tables}
        run.record.star_version = current.version
        run.record.reconciliation = current.reconciliation
        run.record.quality = current.quality
        log.info(f"transform: star {current.version} is up to date (catalog and model "
                 "unchanged); nothing read")
        return None
    chosen, why = None, "--force" if settings.force else f"engine {settings.engine}"
    if settings.engine == "duckdb" and not settings.force:
        chosen, why = incremental.plan(lake, catalog)
    if chosen is not None:
        log.info(f"transform: incremental: {len(chosen.new_files)} new "
                 f"{incremental.DAILY} file(s); the other days are kept from star "
                 f"{chosen.base.version}")
    elif current is not None:
        log.info(f"transform: full rebuild ({why})")

    def cache(engine: Any, con: Any) -> incremental.StageCache | None:
        """A DuckDB run's staged sources."""
        if con is None:
            return None
        return incremental.StageCache(lake, con, catalog, engine.src_views,
                                      reuse=not settings.force)

    engine = None
    try:
        with run.stage("transform") as st:
            # in the stage's time: Spark starts and stages every source here
            engine, runner, con = _engine(settings.engine, lake, catalog,
                                          {incremental.DAILY: chosen.new_files} if chosen
                                          else None)
            staged = cache(engine, con)
            try:
                result = build(runner, catalog, chosen, lake, staged)
            except incremental.Unsettled as exc:
                why = str(exc)
                log.info(f"transform: full rebuild ({why})")
                engine.close()
                chosen = None
                engine, runner, con = _engine(settings.engine, lake, catalog)
                staged = cache(engine, con)
                result = build(runner, catalog, None, lake, staged)
            st.detail = {"engine": settings.engine,
                         "mode": "incremental" if chosen else "full",
                         "new_files": chosen.new_files if chosen else [],
                         "full_because": "" if chosen else why,
                         # the sources staged from the copies an earlier run saved
                         "staged_from_copies": staged.restored if staged else []}
            st.rows_in = {str(r["source_table"]): int(r["rows_read"])  # type: ignore[call-overload]
                          for r in result.reconciliation}
            st.rows_out = dict(result.rows)
            st.detail["warnings"] = result.warnings
        run.record.reconciliation = result.reconciliation
        run.record.quality = {s: sum(c.status == s for c in result.checks)
                              for s in ("pass", "warn", "fail")}
        if result.failed:
            names = ", ".join(f"{c.check_name} on {c.table_name} ({c.failing_rows})"
                              for c in result.failed)
            raise CovidlakeError(f"data-quality checks failed: {names}",
                                 hint="nothing was exported; see the checks above")
        with run.stage("export") as st, ThreadPoolExecutor(1) as beside:
            # the staged sources' copies are written while the export writes the star (its
            # writers leave a core idle between small tables)
            saving = beside.submit(staged.save) if staged is not None else None
            delta = None  # which fact days changed, if nothing else did (for the load)
            if chosen is not None and result.delta_days is not None:
                delta = {"base": chosen.base.version, "fact_date_keys": result.delta_days}
            manifest = export(con if con is not None else _collect(runner), lake,
                              inputs=fingerprint, reconciliation=result.reconciliation,
                              quality=run.record.quality, delta=delta)
            st.rows_out = {t.name: t.rows for t in manifest.tables}
            if con is not None:
                incremental.save(con, lake, catalog, manifest, result.reconciliation)
            if saving is not None:
                saving.result()
        run.record.star_version = manifest.version
    finally:
        if engine is not None:
            engine.close()
    _print_reconciliation(result)
    return result


def stage_load(settings: Settings, lake: ObjectStore, run: Run) -> None:
    warehouse = open_warehouse(settings.warehouse)
    try:
        with run.stage("load") as st:
            result = load(lake, warehouse, run.id, force=settings.force)
            st.rows_out = result.rows if result.loaded else {}
            st.detail = {"loaded": result.loaded, "by_day": result.by_day,
                         "warehouse": warehouse.url}
        run.record.star_version = result.version
    finally:
        warehouse.close()


STAGES: dict[str, Callable[[Settings, ObjectStore, Run], Any]] = {
    "ingest": stage_ingest,
    "crawl": stage_crawl,
    "transform": stage_transform,
    "load": stage_load,
}


def execute(command: str, settings: Settings, stages: list[str]) -> Run:
    """Run `stages` in order under one run record, saved to the lake even on failure."""
    lake = open_store(settings.lake)
    run = Run(lake, command, settings.describe())
    try:
        with lake_lock(lake, run.id, settings.wait):
            log.info(f"run {run.id}: {' → '.join(stages)}")
            if swept := lake.sweep():
                log.info(f"removed {swept} leftovers of an interrupted run")
            for name in stages:
                STAGES[name](settings, lake, run)
            run.finish()
    except BaseException as exc:
        if not run.record.ended_at:
            run.finish(exc)
        raise
    return run


def _print_reconciliation(result: TransformResult) -> None:
    for r in result.reconciliation:
        reasons = r["reasons"]
        assert isinstance(reasons, dict)
        why = "; ".join(f"{k}: {v:,}" for k, v in reasons.items())
        log.info(f"  {r['source_table']:<18} read {r['rows_read']:>9,} = used "
                 f"{r['rows_used']:>9,} + rejected {r['rows_rejected']:>7,}"
                 + (f"  ({why})" if why else ""))
