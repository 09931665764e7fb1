"""Incremental transform: when the only change since the last transform is new daily JHU files,
read just those and keep the rest of the previous star, with the same result a full rebuild
gives (tests/test_incremental_transform.py compares the two, file by file).

Why that is exact: a JHU file's rows all carry the file's date, and a day's facts are built
from that day's rows only, so the days the new files do not touch keep their fact rows, as
long as the lookups and the region keys are the same. What a full run would compute from the
files not read again is carried in `prev.*` tables (empty on a full run, which runs the very
same SQL):

- prev.jhu_state_pairs: the (state name, FIPS) pairs the JHU files gave (a name lookup);
- prev.days: the new days (empty on a full run; the other sources' rows are then not read
  again: their files did not change, and their staged copies serve the lookups only);
- prev.used: each place description's last day (the region rankings);
- prev.fact: the previous star's facts by natural key, merged with the new JHU rows for the
  new days (the other days' rows are added after the model: keep_facts);
- prev.rejects: the rows rejected before;
- prev.tails: each place's last report of each cumulative series (quality.TAILS), from which
  a day added after them counts its decreasing pairs.

The state behind them is written to `_state/transform/` in the lake after each export, stamped
with the star version it belongs to, with the US state lookups the kept rows were placed with
(check_lookups compares them after the new rows are placed). Anything else that changed
(another table, the model, a JHU file changed or removed, a new file for a day already
present, the way old JHU files are typed, a lookup entry) means a full rebuild, and the run
says why.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import duckdb

from covidlake import __version__
from covidlake.catalog import Catalog, TableDef
from covidlake.crawl.infer import STAT_NAMES
from covidlake.errors import CovidlakeError
from covidlake.export import StarManifest, inputs_fingerprint, month_range, month_suffix
from covidlake.lakesql import ints, lit
from covidlake.store import ObjectStore
from covidlake.transform.model import CUMULATIVE, MEASURES
from covidlake.transform.quality import FACT_SOURCES, TAILS, tails_sql
from covidlake.transform.runner import SqlRunner

DAILY = "enigma_jhu"  # the table whose files are days (obs_date from the file name)
_DAY = re.compile(r"([0-9]{2}-[0-9]{2}-[0-9]{4})\.csv$")  # as 10_observations.sql reads it
STATE = "_state/transform/"
STATE_DOC = STATE + "state.json"
STAGED = STATE + "stage/"

_REJECT_COLUMNS = [("source_table", "VARCHAR"), ("file", "VARCHAR"), ("src_row", "BIGINT"),
                   ("reason", "VARCHAR"), ("obs_date", "DATE"), ("country", "VARCHAR"),
                   ("level", "VARCHAR"), ("province", "VARCHAR"), ("county", "VARCHAR"),
                   ("fips", "VARCHAR"), ("raw_line", "VARCHAR")]
PREV_TABLES: dict[str, list[tuple[str, str]]] = {
    "prev.jhu_state_pairs": [("name", "VARCHAR"), ("fips", "VARCHAR")],
    "prev.days": [("date_key", "INTEGER")],
    "prev.used": [(c, "VARCHAR") for c in ("nk", "country", "level", "province",
                                               "county_name", "state_fips", "county_fips",
                                               "source")]
    + [("latitude", "DOUBLE"), ("longitude", "DOUBLE"), ("obs_date", "DATE")],
    "prev.fact": [("date_key", "INTEGER"), ("obs_date", "DATE"), ("nk", "VARCHAR")]
    + [(m, "BIGINT") for m in MEASURES],
    "prev.rejects": _REJECT_COLUMNS,
    # the previous star's facts with its region keys, and those keys' places
    "prev.fact_keyed": [("date_key", "INTEGER"), ("region_key", "INTEGER")]
    + [(m, "BIGINT") for m in MEASURES],
    "prev.region_keys": [("nk", "VARCHAR"), ("region_key", "INTEGER")],
    # the previous star's last report of each series per place (quality.TAILS)
    "prev.tails": [("region_key", "INTEGER")] + [
        c for m in CUMULATIVE for c in ((f"d_{m}", "INTEGER"), (f"v_{m}", "BIGINT"))],
}


def file_day(key: str) -> date | None:
    """The day a JHU file reports, from its name (MM-DD-YYYY.csv)."""
    m = _DAY.search(key)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%m-%d-%Y").date()
    except ValueError:
        return None


def read_definition(table: TableDef, keys: list[str] | None = None) -> str:
    """How the table's files (all, or `keys`) are read and typed: if this is unchanged, so is
    every row read from them."""
    group_of = {k: table.groups[f.group] for k, f in table.files.items()}
    doc = {
        # by name: the order follows the first file of each header, not how values are read;
        # date formats apart (formats_kept): a new file may bring one no old value matches
        "columns": sorted((c.name, c.type, c.partition) for c in table.columns),
        "partition_keys": table.partition_keys, "overrides": table.overrides,
        "files": {k: [json.dumps(group_of[k].dialect.__dict__, sort_keys=True),
                      group_of[k].columns, group_of[k].declared]
                  for k in sorted(keys if keys is not None else table.files)},
    }
    return json.dumps(doc, sort_keys=True, default=str)


def formats(table: TableDef) -> dict[str, list[str]]:
    return {c.name: list(c.formats) for c in table.columns if c.formats}


def formats_kept(table: TableDef, before: dict[str, list[str]], keys: list[str]) -> bool:
    """True if every old file's values parse as they did: no format was dropped, and no value
    of an old file matches a format added since (the crawler counts matches per format and
    file), so trying the added formats changes nothing for them."""
    now = formats(table)
    if set(now) != set(before):
        return False
    for name, fmts in now.items():
        if not set(before[name]) <= set(fmts):
            return False
        added = set(fmts) - set(before[name])
        if not added:
            continue
        slots = [STAT_NAMES.index(f"{kind}:{f}") for f in added for kind in ("date", "ts")
                 if f"{kind}:{f}" in STAT_NAMES]
        for key in keys:
            entry = table.files[key]
            original = next((o for o, n in table.groups[entry.group].columns if n == name), None)
            stats = entry.stats.get(original) if original is not None else None
            if stats and any(stats[i] for i in slots):
                return False
    return True


def others_fingerprint(catalog: Catalog) -> str:
    """Everything the star depends on except the daily table: other tables, the model."""
    return inputs_fingerprint(catalog, exclude=DAILY)


@dataclass
class Plan:
    """An incremental transform: the new daily files, and what is kept of the previous one."""

    new_files: list[str]
    base: StarManifest  # the previous star
    state: dict[str, Any]
    days: list[date]  # the days the new files report

    @property
    def date_keys(self) -> list[int]:
        return sorted(int(d.strftime("%Y%m%d")) for d in self.days)

    @property
    def carried(self) -> dict[str, dict[str, Any]]:
        counts: dict[str, dict[str, Any]] = self.state["counts"]
        return {src: c if src == DAILY else c | {"all": True} for src, c in counts.items()}


def plan(lake: ObjectStore, catalog: Catalog) -> tuple[Plan | None, str]:
    """An incremental plan, or None and why the transform must read everything."""
    if not lake.exists(STATE_DOC):
        return None, "no state from an earlier transform"
    try:
        state = json.loads(lake.get(STATE_DOC))
        for key in ("star_version", "inputs", "others", "files", "read", "formats", "counts"):
            state[key]  # noqa: B018 (a state written by another covidlake lacks some)
    except (ValueError, KeyError, TypeError):
        return None, f"the saved state ({STATE_DOC}) is unreadable or from another version"
    base = StarManifest.read(lake)
    if base is None or base.version != state["star_version"] or base.inputs != state["inputs"]:
        return None, "the star in the lake is not the one the saved state belongs to"
    if others_fingerprint(catalog) != state["others"]:
        return None, f"a table other than {DAILY}, or the model, changed"
    table = catalog.get(DAILY)
    if table is None:
        return None, f"no {DAILY} table"
    before: dict[str, str] = state["files"]
    now = {k: f.sha256 for k, f in table.files.items()}
    if any(now.get(k) != sha for k, sha in before.items()):
        return None, f"a {DAILY} file was changed or removed"
    if read_definition(table, sorted(before)) != state["read"] \
            or not formats_kept(table, state["formats"], sorted(before)):
        return None, f"{DAILY} is now typed differently (a new header or format)"
    new = sorted(set(now) - set(before))
    days = [d for d in map(file_day, new) if d is not None]
    if len(set(days)) < len(new) or {file_day(k) for k in before} & set(days):
        return None, f"a new {DAILY} file has no date in its name, or reports a day already read"
    return Plan(new, base, state, days), ""


def declare(runner: SqlRunner, chosen: Plan | None, lake: ObjectStore) -> None:
    """Create prev.*: empty for a full run; for an incremental one, over the previous star and
    the saved state (views: each is read once or twice)."""
    if chosen is None:
        for name, columns in PREV_TABLES.items():
            runner.create_table(name, columns, [])
        return
    fact = "[" + ", ".join(lit(lake.uri(k)) for k in sorted(
        chosen.base.table("fact_covid").files) if k.endswith(".parquet")) + "]"
    rejects = lit(lake.uri(next(k for k in chosen.base.rejects if k.endswith(".parquet"))))
    quality = lit(lake.uri(next(k for k in chosen.base.table("dq_results").files
                                if k.endswith(".parquet"))))
    keys, used, pairs, by_name, abbr, tails = (
        lit(lake.uri(STATE + n + ".parquet"))
        for n in ("region_keys", "used", "jhu_state_pairs", "us_state_by_name",
                  "us_state_abbr", "tails"))
    days = ints(chosen.date_keys)
    sources = ", ".join(lit(s) for s in FACT_SOURCES)  # malformed lines are counted afresh
    measures = ", ".join(f"f.{m}" for m in MEASURES)
    runner.execute(f"""
        CREATE OR REPLACE VIEW prev.region_keys AS SELECT * FROM read_parquet({keys});
        CREATE OR REPLACE VIEW prev.fact_keyed AS SELECT * FROM read_parquet({fact});
        CREATE OR REPLACE VIEW prev.fact AS
        SELECT f.date_key, CAST(strptime(CAST(f.date_key AS VARCHAR), '%Y%m%d') AS DATE)
               AS obs_date, k.nk, {measures}
        FROM prev.fact_keyed f JOIN prev.region_keys k ON k.region_key = f.region_key;
        CREATE OR REPLACE VIEW prev.dq_results AS SELECT * FROM read_parquet({quality});
        CREATE OR REPLACE TABLE prev.days AS
        SELECT CAST(unnest([{days}]) AS INTEGER) AS date_key;
        CREATE OR REPLACE VIEW prev.used AS SELECT * FROM read_parquet({used});
        CREATE OR REPLACE VIEW prev.jhu_state_pairs AS SELECT * FROM read_parquet({pairs});
        CREATE OR REPLACE VIEW prev.us_state_by_name AS SELECT * FROM read_parquet({by_name});
        CREATE OR REPLACE VIEW prev.us_state_abbr AS SELECT * FROM read_parquet({abbr});
        CREATE OR REPLACE VIEW prev.tails AS SELECT * FROM read_parquet({tails});
        CREATE OR REPLACE VIEW prev.rejects AS
        SELECT {', '.join(c for c, _ in _REJECT_COLUMNS)} FROM read_parquet({rejects})
        WHERE source_table IN ({sources}) AND raw_line IS NULL;
    """)


class Unsettled(CovidlakeError):
    """The new files change a lookup that the kept rows were placed with: rebuild fully."""


def check_lookups(runner: SqlRunner) -> None:
    """The lookups JHU rows feed (state name or abbreviation -> FIPS, through the pairs JHU's
    state rows give) must be what the kept rows were placed with: a changed entry could place
    an old row elsewhere in a full rebuild. A new pair that changes no entry is harmless."""
    changed = 0
    for name in ("us_state_by_name", "us_state_abbr"):
        changed += runner.rows(
            f"SELECT count(*) FROM ((SELECT * FROM stage.{name} EXCEPT SELECT * FROM "
            f"prev.{name}) UNION ALL (SELECT * FROM prev.{name} EXCEPT SELECT * FROM "
            f"stage.{name}))")[0][0]
    if changed:
        raise Unsettled(f"the new {DAILY} files change {changed} entries of the US state "
                        "lookups")


def keys_kept(runner: SqlRunner) -> bool:
    """After an incremental build: True if every place keeps its region key (then the other
    days' fact rows are unchanged and the warehouse can replace just the new days)."""
    return runner.rows("SELECT count(*) FROM prev.region_keys p LEFT JOIN stage.region_keys k "
                       "ON k.nk = p.nk AND k.region_key = p.region_key "
                       "WHERE k.nk IS NULL")[0][0] == 0


def keep_facts(runner: SqlRunner, chosen: Plan, lake: ObjectStore, kept: bool) -> None:
    """Add the other days' facts to star.fact_covid (the new days' rows, from the model).

    With the region keys kept (`keys_kept`), those rows are the previous star's as they are:
    star.fact_covid becomes a view over the new days, the kept rows of their months (a table:
    the export rewrites those months' files) and the other months' files, which the export
    leaves as they are. A new day then costs its month, not every fact row: copying them all
    into a table was 40% of a new day on the scale set (1.1 s of 2.7 s). Otherwise the kept
    rows are copied in with their new region keys."""
    measures = ", ".join(MEASURES)
    days = ints(chosen.date_keys)
    if not kept:
        runner.execute(f"""
            INSERT INTO star.fact_covid
            SELECT p.date_key, k.region_key, {", ".join(f"p.{m}" for m in MEASURES)}
            FROM prev.fact_keyed p
            JOIN (SELECT o.region_key AS old_key, n.region_key
                  FROM prev.region_keys o JOIN stage.region_keys n ON n.nk = o.nk) k
              ON k.old_key = p.region_key
            WHERE p.date_key NOT IN ({days})""")
        return
    months = sorted({k // 100 for k in chosen.date_keys})
    touched = tuple(month_suffix(m) + ".parquet" for m in months)
    others = [lake.uri(k) for k in sorted(chosen.base.table("fact_covid").files)
              if k.endswith(".parquet") and not k.endswith(touched)]
    within = " OR ".join(month_range("date_key", m) for m in months)
    rest = (f" UNION ALL SELECT date_key, region_key, {measures} FROM read_parquet(["
            + ", ".join(map(lit, others)) + "])") if others else ""
    runner.execute(f"""
        ALTER TABLE star.fact_covid RENAME TO fact_days;
        CREATE OR REPLACE TABLE stage.fact_months AS
        SELECT date_key, region_key, {measures} FROM prev.fact_keyed
        WHERE ({within}) AND date_key NOT IN ({days});
        CREATE OR REPLACE VIEW star.fact_covid AS
        SELECT date_key, region_key, {measures} FROM star.fact_days
        UNION ALL SELECT date_key, region_key, {measures} FROM stage.fact_months{rest}""")


def save(con: Any, lake: ObjectStore, catalog: Catalog, manifest: StarManifest,
         reconciliation: list[dict[str, Any]]) -> None:
    """Write what the next incremental run needs, after the star it belongs to is exported.
    The document goes last: until it names this star's version, the state is not used."""
    table = catalog.get(DAILY)
    if table is None:
        return
    # the checks of an incremental run updated the tails; else they come from every fact row
    con.execute(f"CREATE TABLE IF NOT EXISTS {TAILS} AS {tails_sql('star.fact_covid')}")
    with TemporaryDirectory(prefix="covidlake-state-") as tmp:
        for name, sql in (
            ("region_keys", "SELECT nk, region_key FROM stage.region_keys"),
            ("used", "SELECT * FROM stage.used"),
            ("jhu_state_pairs", "SELECT name, fips FROM stage.jhu_state_pairs"),
            ("us_state_by_name", "SELECT * FROM stage.us_state_by_name"),
            ("us_state_abbr", "SELECT * FROM stage.us_state_abbr"),
            ("tails", f"SELECT * FROM {TAILS}"),
        ):
            local = Path(tmp) / f"{name}.parquet"
            con.execute(f"COPY ({sql} ORDER BY ALL) TO {lit(str(local))} (FORMAT parquet)")
            lake.put_file(STATE + f"{name}.parquet", local)
    counts = {}
    for rec in reconciliation:  # without the malformed lines, which are counted afresh
        if rec["source_table"] not in FACT_SOURCES:
            continue
        malformed = {r: n for r, n in rec["reasons"].items() if r.startswith("malformed line")}
        counts[rec["source_table"]] = {
            "read": rec["rows_read"] - sum(malformed.values()), "used": rec["rows_used"],
            "reasons": {r: n for r, n in rec["reasons"].items() if r not in malformed}}
    doc = {
        "star_version": manifest.version, "inputs": manifest.inputs,
        "others": others_fingerprint(catalog), "read": read_definition(table),
        "formats": formats(table),
        "files": {k: f.sha256 for k, f in table.files.items()},
        "counts": counts,
    }
    lake.put(STATE_DOC, json.dumps(doc, indent=1, sort_keys=True).encode())


class StageCache:
    """Staged copies of the sources other than the daily one, saved as Parquet under
    `_state/transform/stage/` and read back instead of their CSV files: on a new day those
    files did not change, and staging them was a third of the transform (full mirror: 0.6 s
    of 1.9 s; the copies are views, read by the few statements that need them).

    A copy is named by what made it: the staging SQL, how the engine reads the table (its
    view's SQL: the files, their dialects and types), the files' checksums and the versions
    of covidlake and DuckDB. Anything else gives another name, and the table is staged from
    its files again.
    """

    def __init__(self, lake: ObjectStore, con: Any, catalog: Catalog, views: dict[str, str],
                 reuse: bool = True) -> None:
        self.lake, self.con, self.catalog, self.reuse = lake, con, catalog, reuse
        self.views = views  # table -> the SQL of its view src.<table>
        self.keys: dict[str, str] = {}  # table -> the key of its copy
        self.restored: list[str] = []  # tables staged from their copies
        self.missing: list[str] = []  # tables staged from their files, to save

    def _key(self, name: str, sql: str) -> str:
        table = self.catalog.get(name)
        shas = sorted(f.sha256 for f in table.files.values()) if table else []
        # the versions too: another DuckDB may read the same files differently
        doc = [sql, self.views[name], shas, __version__, duckdb.__version__]
        digest = hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]
        return f"{STAGED}{name}-{digest}.parquet"

    def restore(self, name: str, sql: str) -> str | None:
        """The SQL that stages `name` from its saved copy, or None (then stage it from its
        files: `save` keeps it for the next run)."""
        if name == DAILY:
            return None
        key = self.keys[name] = self._key(name, sql)
        if not self.reuse or not self.lake.exists(key):
            self.missing.append(name)
            return None
        self.restored.append(name)
        # a view: its readers scan a few columns once or twice (a table cost more to fill);
        # its rows numbered as the staging numbered them (rowid: see SqlRunner.row_id)
        return (f"CREATE OR REPLACE VIEW stage.{name} AS SELECT * EXCLUDE (file_row_number), "
                f"file_row_number AS rowid FROM read_parquet({lit(self.lake.uri(key))}, "
                "file_row_number = true)")

    def save(self) -> None:
        """Save the copies this run lacked (in staging order: the model numbers rows by it)
        and delete those no longer named. On a cursor of its own: it may run beside the
        export."""
        cur = self.con.cursor()
        try:
            cur.execute("SET preserve_insertion_order = true")
            with TemporaryDirectory(prefix="covidlake-stage-") as tmp:
                for name in self.missing:
                    local = Path(tmp) / f"{name}.parquet"
                    cur.execute(f"COPY stage.{name} TO {lit(str(local))} (FORMAT parquet)")
                    self.lake.put_file(self.keys[name], local)
        finally:
            cur.close()
        self.missing = []
        kept = set(self.keys.values())
        for obj in list(self.lake.list(STAGED)):
            if obj.key not in kept:
                self.lake.delete(obj.key)
