"""shell: an interactive SQL prompt on the lake or the warehouse, like duckdb's or psql's.

A statement ends with `;` and may span lines. Dot commands (one line each, no `;`):
`.tables`, `.schema NAME`, `.format table|csv|json`, `.help`, `.quit`. On a terminal the
prompt keeps a history (~/.covidlake_history); piped input runs as a script, and the exit
code is 1 when any statement failed.

>>> list(statements(["SELECT 1;", ".tables", "SELECT", "  2; SELECT 3;", "-- done"]))
['SELECT 1', '.tables', 'SELECT\\n  2', 'SELECT 3']
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.console import Console

from covidlake.errors import CovidlakeError
from covidlake.query import Session, write_result
from covidlake.settings import redact

HELP = """\
SQL statements end with ';' (they may span lines). Commands:
  .tables            what you can query here
  .schema NAME       the columns of a table or view
  .format FORMAT     table (default), csv or json
  .help              this text
  .quit              leave (or Ctrl-D)"""
HISTORY = Path("~/.covidlake_history").expanduser()


class Splitter:
    """Cuts input lines into statements (without their `;`) and dot commands. A `;` inside a
    quoted string or after `--` does not end a statement."""

    def __init__(self) -> None:
        self.buf: list[str] = []

    @property
    def pending(self) -> bool:
        return bool(self.buf)

    def feed(self, line: str) -> list[str]:
        if not self.buf and line.strip().startswith("."):
            return [line.strip()]
        out, start = [], 0
        for end in _ends(line):
            self.buf.append(line[start:end])
            text = "\n".join(self.buf).strip()
            if text:
                out.append(text)
            self.buf, start = [], end + 1
        rest = line[start:]
        if rest.strip() and (self.buf or not rest.strip().startswith("--")):
            self.buf.append(rest)
        return out

    def finish(self) -> list[str]:
        """The last statement may lack its `;`."""
        text = "\n".join(self.buf).strip()
        self.buf = []
        return [text] if text else []


def statements(lines: Iterable[str]) -> Iterator[str]:
    splitter = Splitter()
    for line in lines:
        yield from splitter.feed(line)
    yield from splitter.finish()


def _ends(line: str) -> Iterator[int]:
    """Positions of the `;` that end statements on one line."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "-" and line.startswith("--", i):
            return
        elif ch == ";":
            yield i


class Shell:
    def __init__(self, session: Session, out: Console, err: Console) -> None:
        self.session, self.out, self.err = session, out, err
        self.format = "table"
        self.errors = 0

    def run(self, text: str) -> bool:
        """Run one statement or dot command; False means quit."""
        try:
            if text.startswith("."):
                return self._command(text)
            write_result(self.session.query(text), self.format, self.out)
        except CovidlakeError as exc:
            self.errors += 1
            self.err.print(f"error: {redact(str(exc))}", style="red", markup=False)
        return True

    def _command(self, text: str) -> bool:
        cmd, _, arg = text.partition(" ")
        arg = arg.strip()
        if cmd in (".quit", ".exit", ".q"):
            return False
        if cmd == ".help":
            self.out.print(HELP, markup=False, highlight=False)
        elif cmd == ".tables":
            write_result(self.session.tables(), "table", self.out)
        elif cmd in (".schema", ".describe") and arg:
            write_result(self.session.columns(arg), "table", self.out)
        elif cmd == ".format" and arg in ("table", "csv", "json"):
            self.format = arg
        else:
            raise CovidlakeError(f"unknown command {text!r}", hint=".help lists them")
        return True


def _prompt(shell: Shell) -> None:
    """Read statements from the terminal until .quit or Ctrl-D, with history."""
    try:
        import readline  # line editing and history where the platform has it
    except ImportError:
        readline = None
    if readline is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(HISTORY)
    splitter = Splitter()
    try:
        while True:
            try:
                line = input("      ...> " if splitter.pending else "covidlake> ")
            except EOFError:
                print(file=sys.stderr)
                return
            except KeyboardInterrupt:  # drop the statement being typed, like psql
                print("^C", file=sys.stderr)
                splitter = Splitter()
                continue
            for text in splitter.feed(line):
                if not shell.run(text):
                    return
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.set_history_length(1000)
                readline.write_history_file(HISTORY)


def run_shell(session: Session, out: Console, err: Console) -> int:
    """The prompt on a terminal, a script otherwise; the exit code."""
    shell = Shell(session, out, err)
    if sys.stdin.isatty():
        err.print(f"covidlake shell on the {redact(session.where)}. End statements with ';'; "
                  ".help for commands.", markup=False, highlight=False)
        _prompt(shell)
        return 0
    for text in statements(line.rstrip("\n") for line in sys.stdin):
        if not shell.run(text):
            break
    return 1 if shell.errors else 0
