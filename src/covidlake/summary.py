"""The short summary `covidlake run` ends with."""

from __future__ import annotations

from rich.console import Console

from covidlake.runs import RunRecord


def summary(record: RunRecord, out: Console) -> None:
    total = sum(s.seconds for s in record.stages)
    out.print(f"[bold]covidlake run {record.run_id}[/bold]: {record.status} in {total:.1f}s "
              f"(catalog v{record.catalog_version}, star {record.star_version})")
    out.print("  stages: " + ", ".join(f"{s.name} {s.seconds:.1f}s" for s in record.stages))
    for s in record.stages:
        if s.name == "transform":
            out.print("  star: " + ", ".join(f"{k} {v:,}" for k, v in s.rows_out.items()))
        if s.name == "ingest":
            out.print(f"  ingest: {sum(s.rows_out.values())} objects, "
                      f"{s.detail.get('copied', 0)} copied")
        if s.name == "load":
            out.print(f"  load: {'loaded' if s.detail.get('loaded') else 'already up to date'}"
                      f" into {s.detail.get('warehouse')}")
    q = record.quality
    out.print(f"  data quality: {q.get('pass', 0)} pass, {q.get('warn', 0)} warn, "
              f"{q.get('fail', 0)} fail")
    out.print("  reconciliation (rows read = used + rejected):")
    for r in record.reconciliation:
        ok = r["rows_read"] == r["rows_used"] + r["rows_rejected"]
        out.print(f"    {'ok ' if ok else 'BAD'} {r['source_table']:<18} {r['rows_read']:>9,} = "
                  f"{r['rows_used']:>9,} + {r['rows_rejected']:>7,}")
