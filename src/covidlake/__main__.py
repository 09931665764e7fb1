from covidlake.cli import entry

entry()
