"""Which source tables each star table is built from, read off the model's SQL in `sql/`, so
the lineage cannot drift from what the transform does. It is every source that can change a
table's rows or keys: a fact's region key depends on the name lookups built from the hospital
and Census files, so those are in the fact's lineage too (as in dbt's lineage graph).

>>> sources("dim_date")[:5]  # the sources of observations come first
['enigma_jhu', 'us_county', 'us_states', 'states_daily', 'us_daily']
>>> "countrycode" in sources("dim_region") and "countrycode" not in sources("dim_date")
True
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from covidlake.transform.model import NEEDS, STAR_TABLES

_TARGET = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+(\w+\.\w+)", re.I)
_REF = re.compile(r"\b((?:stage|star|ref)\.\w+)\b")
_COMMENT = re.compile(r"--[^\n]*")


@cache
def dependencies() -> dict[str, frozenset[str]]:
    """Each table the SQL creates -> the tables its statement reads."""
    out: dict[str, frozenset[str]] = {}
    files = sorted((f for f in resources.files("covidlake.transform").joinpath("sql").iterdir()
                    if f.name.endswith(".sql")), key=lambda f: f.name)
    for f in files:
        for stmt in _COMMENT.sub("", f.read_text()).split(";"):
            target = _TARGET.search(stmt)
            if target:
                name = target.group(1)
                out[name] = frozenset(_REF.findall(stmt[target.end():])) - {name}
    return out


def sources(table: str) -> list[str]:
    """The source tables (in `NEEDS` order) that `table` (a star table name) reads, directly or
    through stage tables. dq_results checks everything, so it has every source."""
    if table == "dq_results":
        found = {s for t in STAR_TABLES if t.name != table for s in sources(t.name)}
        return [s for s in NEEDS if s in found]
    deps, seen, todo = dependencies(), set(), [f"star.{table}"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, ()))
    return [s for s in NEEDS if f"stage.{s}" in seen]
