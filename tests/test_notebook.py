"""The analyst notebook (examples/analyst.ipynb) runs top to bottom on the bundled sample in a
fresh folder, and the numbers it quotes agree with the star tables queried directly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

from conftest import ROOT

NOTEBOOK = ROOT / "examples" / "analyst.ipynb"
US_STATES = "r.level = 'state' AND r.country_region = 'US' AND r.fips IS NOT NULL"


def _code_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_committed_notebook_has_no_outputs() -> None:
    """Outputs and execution counts change on every run: committed, they would make every
    diff noisy and could show numbers the code no longer produces."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    for cell in _code_cells(nb):
        assert cell.outputs == [], cell.source[:80]
        assert cell.execution_count is None, cell.source[:80]


def test_the_python3_kernel_is_this_interpreter() -> None:
    """The notebook must import the covidlake under test, i.e. run in this venv's Python.
    ipykernel's own "python3" kernelspec says `python`, which jupyter_client replaces with
    sys.executable; a stray user kernelspec pointing elsewhere would fail here."""
    cmd = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert cmd[0] == sys.executable, cmd


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[NotebookNode, Path]:
    """The notebook, executed once for this module's tests in a fresh working directory."""
    workdir = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    # The embedded defaults only: no COVIDLAKE_* setting from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVIDLAKE_")}
    client.execute(env=env)  # raises CellExecutionError on the first failing cell
    return nb, workdir


def test_the_notebook_runs_top_to_bottom(executed: tuple[NotebookNode, Path]) -> None:
    nb, workdir = executed
    cells = _code_cells(nb)
    assert cells
    for cell in cells:
        assert cell.execution_count is not None, cell.source[:80]
        assert all(out.output_type != "error" for out in cell.outputs), cell.source[:80]
    outputs = [out for cell in cells for out in cell.outputs]
    assert any(out.get("data", {}).get("image/svg+xml", "").startswith("<svg")
               for out in outputs), "no chart was displayed"
    assert (workdir / "report" / "index.html").is_file()
    assert (workdir / "top.parquet").is_file()
    assert (workdir / "covidlake.duckdb").is_file() and (workdir / "lake").is_dir()


def test_the_headline_numbers_match_the_star_tables(
        executed: tuple[NotebookNode, Path]) -> None:
    """The notebook reads the views; this reads fact_covid and dim_region, so a view that
    dropped, doubled or misdated rows would show as a difference."""
    nb, workdir = executed
    last = _code_cells(nb)[-1]
    headline = json.loads("".join(out.text for out in last.outputs
                                  if out.output_type == "stream" and out.name == "stdout"))
    with duckdb.connect(str(workdir / "covidlake.duckdb"), read_only=True) as con:
        day, cases, deaths, states = con.execute(f"""
            WITH s AS (
                SELECT d.date, f.nyt_cases, f.nyt_deaths
                FROM covid.fact_covid f
                JOIN covid.dim_region r ON r.region_key = f.region_key
                JOIN covid.dim_date d ON d.date_key = f.date_key
                WHERE {US_STATES})
            SELECT date, SUM(nyt_cases), SUM(nyt_deaths), COUNT(nyt_cases) FROM s
            WHERE date = (SELECT MAX(date) FROM s WHERE nyt_cases IS NOT NULL)
            GROUP BY date""").fetchone()
        (counties,) = con.execute("""
            SELECT COUNT(DISTINCT f.region_key)
            FROM covid.fact_covid f
            JOIN covid.dim_region r ON r.region_key = f.region_key
            WHERE r.level = 'county' AND r.country_region = 'US'
              AND f.nyt_cases IS NOT NULL""").fetchone()
    assert cases > 0 and counties > 0  # the sample has US data: the check below means something
    assert headline == {"date": day.isoformat(), "us_cases": cases, "us_deaths": deaths,
                        "states_reporting": states, "counties": counties}
