"""`tables` and `describe`: the catalog as people read it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from covidlake.catalog import open_catalog, require
from covidlake.settings import Settings
from covidlake.store import open_store


def print_tables(settings: Settings, out: Console) -> None:
    catalog = open_catalog(settings.catalog, open_store(settings.lake))
    table = Table(title=f"catalog v{catalog.version}", title_justify="left")
    for name in ("table", "rows", "files", "bytes", "columns", "schema", "last crawl"):
        table.add_column(name, justify="right" if name in ("rows", "files", "bytes",
                                                           "columns") else "left")
    for t in catalog.tables():
        table.add_row(t.name, f"{t.rows:,}", str(len(t.files)), f"{t.bytes:,}",
                      str(len(t.columns)), f"v{t.version}", t.crawled_at)
    out.print(table)


def print_table(settings: Settings, name: str, out: Console) -> None:
    lake = open_store(settings.lake)
    t = require(open_catalog(settings.catalog, lake), name)
    out.print(f"[bold]{t.name}[/bold]  {lake.uri(t.location)}  {t.rows:,} rows in "
              f"{len(t.files)} files ({t.bytes:,} bytes), format {t.format}, schema v{t.version}")
    cols = Table(show_edge=False)
    described = any(c.description for c in t.columns)
    for h in ("column", "type", "original names", *(("description",) if described else ()),
              "nulls", "bad", "max len", "examples (min … max)"):
        cols.add_column(h)
    for c in t.columns:
        type_ = c.type + (f" ({', '.join(c.formats)})" if c.formats else "")
        cols.add_row(c.name, type_, " | ".join(c.original_names),
                     *((c.description,) if described else ()), f"{c.null_count:,}",
                     f"{c.bad_count:,}", str(c.max_length), " … ".join(c.examples))
    out.print(cols)
    for i, g in enumerate(t.groups):
        d = g.dialect
        how = (f"{d.encoding}, delimiter {d.delimiter!r}, quote {d.quote!r}, escape "
               f"{d.escape!r}, header lines {d.header_lines}") if d.format == "csv" else d.encoding
        out.print(f"file group {i + 1}: {len(g.files)} files, {d.format}"
                  f"{' (' + d.compression + ')' if d.compression else ''}, {how}; "
                  f"{g.files[0]} … {g.files[-1]}", markup=False)
    if t.partition_keys:
        out.print(f"partitions: {', '.join(t.partition_keys)} (from key=value/ folders)")
    for key, why in t.excluded.items():
        out.print(f"left out: {key}: {why}", markup=False)
    out.print("[bold]schema history[/bold]")
    for h in t.history:
        changes = "; ".join(h["changes"]) or "first crawl"
        out.print(f"  v{h['version']} {h['crawled_at']} {h['schema_hash']}: {changes}",
                  markup=False)
