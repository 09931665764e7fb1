"""Settings: CLI flag > environment (COVIDLAKE_*) > covidlake.toml > defaults.

Secrets (passwords in URLs) come only from the environment and print as ***:

>>> redact("postgresql://etl:hunter2@127.0.0.1:5432/covid")
'postgresql://etl:***@127.0.0.1:5432/covid'
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from covidlake.errors import ConfigError

ENV_PREFIX = "COVIDLAKE_"
CONFIG_FILE = "covidlake.toml"


def bundled_sample() -> str:
    """The real-data sample shipped inside the package (see sample/PROVENANCE.md)."""
    return str(resources.files("covidlake") / "sample" / "covid19-lake")


@dataclass(frozen=True)
class Settings:
    source: str = ""  # "" = the bundled sample
    lake: str = "./lake"
    warehouse: str = "./covidlake.duckdb"
    catalog: str = "embedded"
    engine: str = "duckdb"
    on_schema_change: str = "warn"  # warn | evolve | fail
    schema_overrides: str = ""  # optional TOML of per-column type hints
    athena_database: str = "covidlake"  # the Glue database Athena queries
    athena_workgroup: str = "primary"
    athena_output: str = ""  # s3://bucket/prefix/ for query results
    athena_bytes_limit: int = 10_000_000_000  # stop a query scanning more
    quiet: bool = False
    debug: bool = False
    wait: int = 0  # seconds to wait for another run's lake lock
    force: bool = False  # transform and load even when their inputs are unchanged

    @property
    def source_url(self) -> str:
        return self.source or bundled_sample()

    def describe(self) -> dict[str, str]:
        """Settings for logs and run records, secrets redacted."""
        return {f.name: redact(str(getattr(self, f.name))) for f in fields(self)} | {
            "source": redact(self.source_url)
        }


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)


def redact(text: str) -> str:
    """Replace the password of any URL in `text` with ***."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)


def load_settings(flags: dict[str, Any] | None = None, *, cwd: Path | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Merge the three layers; `flags` holds only the options given on the command line."""
    environ = os.environ if environ is None else environ
    names = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}

    config = Path(environ.get(ENV_PREFIX + "CONFIG", (cwd or Path.cwd()) / CONFIG_FILE))
    if config.is_file():
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config}: not valid TOML ({exc})") from exc
        table = data.get("covidlake", data)
        for key, value in table.items():
            if key not in names:
                raise ConfigError(f"{config}: unknown setting {key!r}",
                                  hint=f"known settings: {', '.join(names)}")
            if isinstance(value, str) and _URL_PASSWORD.search(value):
                raise ConfigError(f"{config}: setting {key!r} contains a password",
                                  hint="put secrets in the environment, never in files")
            values[key] = value

    for name, f in names.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        if f.type == "bool":
            values[name] = raw.lower() in ("1", "true", "yes")
        elif f.type == "int":
            try:
                values[name] = int(raw.replace("_", ""))
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a whole number"
                                  ) from exc
        else:
            values[name] = raw

    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
    return replace(Settings(), **values)
