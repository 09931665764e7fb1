"""The embedded catalog: one JSON document in the lake (`_catalog/catalog.json`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from covidlake.catalog import TableDef
from covidlake.errors import CatalogError
from covidlake.store import ObjectStore

KEY = "_catalog/catalog.json"


class EmbeddedCatalog:
    def __init__(self, lake: ObjectStore) -> None:
        self.lake = lake
        self._tables: dict[str, TableDef] = {}
        self._version = 0
        self._dirty = False
        if lake.exists(KEY):
            try:
                doc = json.loads(lake.get(KEY))
                self._version = doc["version"]
                self._tables = {n: TableDef.from_dict(t) for n, t in doc["tables"].items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise CatalogError(f"{lake.uri(KEY)} is not a covidlake catalog ({exc})",
                                   hint="delete it and run `covidlake crawl` again") from exc

    @property
    def version(self) -> int:
        return self._version

    def tables(self) -> list[TableDef]:
        return [self._tables[n] for n in sorted(self._tables)]

    def get(self, name: str) -> TableDef | None:
        return self._tables.get(name)

    def put(self, table: TableDef) -> None:
        old = self._tables.get(table.name)
        if old is None or old != table:  # dataclass equality: no copies of 11k file stats
            self._tables[table.name] = table
            self._dirty = True

    def commit(self) -> None:
        if not self._dirty:
            return
        self._version += 1
        doc = {
            "version": self._version,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": dict(sorted(self._tables.items())),
        }
        # dataclasses as their fields, by the encoder itself: no plain copy of every statistic
        self.lake.put(KEY, json.dumps(doc, separators=(",", ":"), default=vars).encode())
        self._dirty = False
