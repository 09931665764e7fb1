"""Progress and messages go to stderr; data goes to stdout.

Progress bars show only on a terminal and never with --quiet.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console

if TYPE_CHECKING:  # imported with the first bar: a run that draws none saves 0.02 s
    from rich.progress import Progress

T = TypeVar("T")

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def info(message: str) -> None:
    """A progress line, e.g. `ingest: 21 objects, 0 new`."""
    if not _quiet:
        stderr.print(message, markup=False)


def warn(message: str) -> None:
    """Warnings print even with --quiet."""
    stderr.print(f"warning: {message}", style="yellow", markup=False)


def _bars_enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on stderr when that is a terminal."""
    if not _bars_enabled():
        yield from items
        return
    with _progress() as progress:
        yield from progress.track(items, total=total, description=description)


@contextmanager
def _progress() -> Iterator[Progress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        yield progress
