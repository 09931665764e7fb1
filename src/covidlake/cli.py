"""The covidlake command line. It parses options, builds Settings and delegates; nothing else.

Exit codes: 0 ok, 1 runtime error (a CovidlakeError), 2 usage error.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from covidlake import log
from covidlake.errors import CovidlakeError
from covidlake.settings import Settings, load_settings, redact

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="The COVID-19 Data Lake, from raw files to an analyst-ready star schema.")
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

Source = Annotated[str | None, typer.Option(
    "--source", help="Source folder or URL (default: the bundled sample).")]
Lake = Annotated[str | None, typer.Option("--lake", help="Lake folder or URL (default ./lake).")]
WarehouseOpt = Annotated[str | None, typer.Option(
    "--warehouse", help="Warehouse path or URL (default ./covidlake.duckdb).")]
class TransformEngine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


TransformEngineOpt = Annotated[TransformEngine | None, typer.Option(
    "--engine", help="Where the transform runs: duckdb (default) or spark (PySpark, local[*]).")]


class OnSchemaChange(StrEnum):
    warn = "warn"
    evolve = "evolve"
    fail = "fail"


OnChange = Annotated[OnSchemaChange | None, typer.Option(
    "--on-schema-change", help="When a table's schema changes: warn (accept, say so), evolve "
    "(accept added columns and widened types only) or fail.")]
Overrides = Annotated[str | None, typer.Option(
    "--overrides", help="Optional TOML of column type hints, e.g. [us_county.columns.fips] "
    'type = "VARCHAR".')]
CatalogOpt = Annotated[str | None, typer.Option(
    "--catalog", help="embedded (default: in the lake) or glue://DATABASE (AWS Glue).")]
Quiet = Annotated[bool | None, typer.Option("--quiet", "-q", help="No progress output.")]
Wait = Annotated[int | None, typer.Option(
    "--wait", help="Seconds to wait if another run holds the lake's lock (default: refuse).")]
Force = Annotated[bool | None, typer.Option(
    "--force", help="Re-read and hash every source file, rebuild the star in full and "
                    "load every table, even when nothing they depend on changed.")]
Debug = Annotated[bool | None, typer.Option("--debug", help="Show tracebacks.")]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


class Target(StrEnum):
    lake = "lake"
    warehouse = "warehouse"


On = Annotated[Target, typer.Option(
    "--on", help="lake: the catalog's tables over the raw files (DuckDB or Athena SQL); "
    "warehouse: the star tables and covid.v_* views, in the warehouse's own SQL, read-only.")]


def _settings(**flags: Any) -> Settings:
    settings = load_settings(flags)
    log.set_quiet(settings.quiet)
    _state["debug"] = settings.debug
    return settings


_state: dict[str, bool] = {"debug": False}


def _pipeline(command: str, stages: list[str], **flags: Any) -> None:
    from covidlake.pipeline import execute

    execute(command, _settings(**flags), stages)


@app.command()
def ingest(source: Source = None, lake: Lake = None, force: Force = None, wait: Wait = None,
           quiet: Quiet = None, debug: Debug = None) -> None:
    """Copy the source tables into the lake's raw zone (unchanged files are skipped)."""
    _pipeline("ingest", ["ingest"], source=source, lake=lake, force=force, wait=wait,
              quiet=quiet, debug=debug)


@app.command()
def crawl(lake: Lake = None, catalog: CatalogOpt = None, on_schema_change: OnChange = None,
          overrides: Overrides = None, wait: Wait = None, quiet: Quiet = None,
          debug: Debug = None) -> None:
    """Infer each table's schema and register it in the catalog."""
    _pipeline("crawl", ["crawl"], lake=lake, catalog=catalog, on_schema_change=on_schema_change,
              schema_overrides=overrides, wait=wait, quiet=quiet, debug=debug)


@app.command()
def transform(lake: Lake = None, engine: TransformEngineOpt = None, force: Force = None,
              wait: Wait = None, quiet: Quiet = None, debug: Debug = None) -> None:
    """Build the star schema with data-quality checks; export it to the lake."""
    _pipeline("transform", ["transform"], lake=lake, engine=engine and engine.value,
              force=force, wait=wait, quiet=quiet, debug=debug)


@app.command()
def load(lake: Lake = None, warehouse: WarehouseOpt = None, force: Force = None,
         wait: Wait = None, quiet: Quiet = None, debug: Debug = None) -> None:
    """Load the exported star schema into the warehouse, atomically."""
    _pipeline("load", ["load"], lake=lake, warehouse=warehouse, force=force, wait=wait,
              quiet=quiet, debug=debug)


@app.command()
def run(source: Source = None, lake: Lake = None, warehouse: WarehouseOpt = None,
        catalog: CatalogOpt = None, on_schema_change: OnChange = None,
        overrides: Overrides = None, engine: TransformEngineOpt = None, force: Force = None,
        wait: Wait = None, quiet: Quiet = None, debug: Debug = None) -> None:
    """Run every stage in order (ingest, crawl, transform, export, load), then summarise."""
    from covidlake.pipeline import execute
    from covidlake.summary import summary

    settings = _settings(source=source, lake=lake, warehouse=warehouse, quiet=quiet,
                         debug=debug, on_schema_change=on_schema_change,
                         schema_overrides=overrides, catalog=catalog,
                         engine=engine and engine.value, force=force, wait=wait)
    result = execute("run", settings, ["ingest", "crawl", "transform", "load"])
    summary(result.record, stdout)


@app.command()
def tables(lake: Lake = None, catalog: CatalogOpt = None, debug: Debug = None) -> None:
    """List the catalog's tables: rows, files, bytes, last crawl."""
    from covidlake.catalog_view import print_tables

    print_tables(_settings(lake=lake, catalog=catalog, debug=debug), stdout)


@app.command()
def describe(table: Annotated[str, typer.Argument(help="A table name, e.g. us_county.")],
             lake: Lake = None, catalog: CatalogOpt = None, debug: Debug = None) -> None:
    """Show a table's columns, types, original names, null counts, examples and history."""
    from covidlake.catalog_view import print_table

    print_table(_settings(lake=lake, catalog=catalog, debug=debug), table, stdout)


class EngineName(StrEnum):
    duckdb = "duckdb"
    athena = "athena"


@app.command()
def query(sql: Annotated[str, typer.Argument(help="SQL over the lake's tables, by name.")],
          lake: Lake = None, warehouse: WarehouseOpt = None, on: On = Target.lake,
          format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
          output: Annotated[str | None, typer.Option(
              "--output", "-o", help="Write the result to this file (needed for parquet).")
          ] = None,
          engine: Annotated[EngineName | None, typer.Option(
              "--engine", help="duckdb (default) or athena (SQL transpiled to Trino).")] = None,
          catalog: CatalogOpt = None,
          athena_workgroup: Annotated[str | None, typer.Option("--athena-workgroup")] = None,
          athena_output: Annotated[str | None, typer.Option(
              "--athena-output", help="s3://bucket/prefix/ for Athena's results.")] = None,
          athena_bytes_limit: Annotated[int | None, typer.Option(
              "--athena-bytes-limit", help="Stop a query that scans more bytes.")] = None,
          debug: Debug = None) -> None:
    """Run SQL over the lake's tables by name, or over the warehouse (--on warehouse).

    E.g. "SELECT count(*) FROM us_county", or with --on warehouse
    "SELECT * FROM covid.v_county_latest".
    """
    from pathlib import Path

    from covidlake.query import run_query, write_result

    settings = _settings(lake=lake, warehouse=warehouse, debug=debug,
                         engine=engine and engine.value, catalog=catalog,
                         athena_workgroup=athena_workgroup, athena_output=athena_output,
                         athena_bytes_limit=athena_bytes_limit)
    if format is Format.parquet and output is None:
        raise typer.BadParameter("parquet needs --output FILE", param_hint="--format")
    write_result(run_query(settings, sql, on.value), format.value, stdout,
                 Path(output) if output else None)


@app.command()
def shell(on: Annotated[Target, typer.Argument(help="lake (default) or warehouse.")
                        ] = Target.lake,
          lake: Lake = None, warehouse: WarehouseOpt = None, catalog: CatalogOpt = None,
          debug: Debug = None) -> None:
    """An interactive SQL prompt on the lake or the warehouse.

    Statements end with ';'; .help lists the commands; piped input runs as a script.
    """
    from covidlake.query import open_session
    from covidlake.shell import run_shell

    settings = _settings(lake=lake, warehouse=warehouse, catalog=catalog, debug=debug)
    session = open_session(settings, on.value)
    try:
        code = run_shell(session, stdout, log.stderr)
    finally:
        session.close()
    raise typer.Exit(code)


@app.command("glue-job")
def glue_job(
    bucket: Annotated[str, typer.Option("--bucket", help="The lake bucket (s3://BUCKET/).")],
    role_arn: Annotated[str, typer.Option("--role-arn", help="The Glue job's IAM role.")],
    output: Annotated[str, typer.Option("--output", help="Folder for the two files.")] = ".",
    workers: Annotated[int, typer.Option("--workers", min=2)] = 2,
) -> None:
    """Write the AWS Glue (Spark) job script and job definition for the transform."""
    from pathlib import Path

    from covidlake.gluejob import write

    for path in write(Path(output), bucket, role_arn, workers):
        stdout.print(str(path))


@app.command()
def report(lake: Lake = None, warehouse: WarehouseOpt = None, catalog: CatalogOpt = None,
           html: Annotated[str | None, typer.Option(
               "--html", help="Write a self-contained HTML report (charts, data quality, "
               "lineage) to this folder, as index.html.")] = None,
           debug: Debug = None) -> None:
    """The analyst's report: in the terminal, or as a self-contained HTML page (--html)."""
    from covidlake.report import report as print_report
    from covidlake.runs import last_run
    from covidlake.store import open_store
    from covidlake.warehouses import open_warehouse

    settings = _settings(lake=lake, warehouse=warehouse, catalog=catalog, debug=debug)
    wh = open_warehouse(settings.warehouse, read_only=True)
    try:
        lake_store = open_store(settings.lake)
        if html is None:
            print_report(wh, last_run(lake_store), stdout)
            return
        from pathlib import Path

        from covidlake.catalog import open_catalog
        from covidlake.report.html import write_report

        path = write_report(wh, lake_store, open_catalog(settings.catalog, lake_store),
                            Path(html))
        stdout.print(str(path), markup=False)
    finally:
        wh.close()


aws_app = typer.Typer(no_args_is_help=True,
                      help="The tutorial's AWS architecture as a CloudFormation stack.")
app.add_typer(aws_app, name="aws")
StackName = Annotated[str, typer.Option(
    "--stack-name", help="The CloudFormation stack; it also prefixes resource names.")]
Region = Annotated[str | None, typer.Option(
    "--region", help="AWS region (default: AWS_DEFAULT_REGION or the profile's).")]
BucketName = Annotated[str | None, typer.Option(
    "--bucket-name", help="The lake bucket (default: <stack>-lake-<account>-<region>).")]


def _aws_flags(quiet: bool | None = None, debug: bool | None = None) -> None:
    log.set_quiet(bool(quiet))
    _state["debug"] = bool(debug)


@aws_app.command("template")
def aws_template(stack_name: StackName = "covidlake", bucket_name: BucketName = None,
                 output: Annotated[str | None, typer.Option(
                     "--output", "-o", help="Write the JSON here instead of stdout.")] = None,
                 debug: Debug = None) -> None:
    """Print the CloudFormation template (JSON) of the whole AWS deployment."""
    from covidlake.aws import emit_template

    _aws_flags(debug=debug)
    emit_template(stack_name, bucket_name, output)


@aws_app.command("deploy")
def aws_deploy(stack_name: StackName = "covidlake", region: Region = None,
               bucket_name: BucketName = None, quiet: Quiet = None,
               debug: Debug = None) -> None:
    """Create or update the stack and wait for it, printing its events."""
    from covidlake.aws import deploy

    _aws_flags(quiet, debug)
    deploy(stack_name, region, bucket_name)


@aws_app.command("status")
def aws_status(stack_name: StackName = "covidlake", region: Region = None,
               debug: Debug = None) -> None:
    """Print the stack's status and outputs."""
    from covidlake.aws import status

    _aws_flags(debug=debug)
    status(stack_name, region, stdout)


@aws_app.command("destroy")
def aws_destroy(stack_name: StackName = "covidlake", region: Region = None,
                quiet: Quiet = None, debug: Debug = None) -> None:
    """Delete the stack and wait; the lake bucket and its data are kept."""
    from covidlake.aws import destroy

    _aws_flags(quiet, debug)
    destroy(stack_name, region)


def main() -> None:
    try:
        app()  # usage errors exit 2 and --help exits 0 inside; it ends with SystemExit
    except CovidlakeError as exc:
        if _state["debug"]:
            raise
        log.stderr.print(f"error: {redact(str(exc))}", style="red", markup=False)
        sys.exit(1)
    except Exception as exc:  # a bug: say so plainly, traceback only with --debug
        if _state["debug"] or "--debug" in sys.argv:
            raise
        log.stderr.print(f"internal error: {redact(repr(exc))} (run with --debug for the "
                         "traceback)", style="red", markup=False)
        sys.exit(1)


def entry() -> None:
    """The program (`covidlake`, `python -m covidlake`): main(), then an exit that skips
    the interpreter's teardown, which frees every module's memory and DuckDB's function
    catalogs one by one: 0.15 s of a 0.5 s no-op run. By then every database, file and
    thread pool is closed (each stage closes its own); Spark (a JVM to stop) and --debug
    exit the usual way."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int | None) or _state["debug"] or "pyspark" in sys.modules:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (`covidlake query ... | head`): nothing left to say
        pass
    os._exit(code or 0)
