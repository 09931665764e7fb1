"""One exception family. The CLI turns these into exit code 1 and a one-paragraph message."""

from __future__ import annotations


class CovidlakeError(Exception):
    """A runtime error a user can act on: the message says what, where, and what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ConfigError(CovidlakeError):
    """Bad settings: an unknown URL scheme, a malformed covidlake.toml."""


class SourceError(CovidlakeError):
    """The source is missing, unreadable or not what the pipeline expects."""


class StoreError(CovidlakeError):
    """An object store operation failed."""


class CatalogError(CovidlakeError):
    """The catalog is missing a table or cannot be read."""


class SchemaError(CovidlakeError):
    """A table's schema does not carry what a stage needs (a column renamed upstream, say)."""


class QueryError(CovidlakeError):
    """A user's SQL failed."""


class LoadError(CovidlakeError):
    """Loading the warehouse failed; the previous tables are left intact."""


class DeployError(CovidlakeError):
    """Deploying, inspecting or deleting the AWS stack failed (credentials, stack, rollback)."""
