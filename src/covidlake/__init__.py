"""covidlake: the COVID-19 Data Lake, from raw files to an analyst-ready star schema."""

__version__ = "0.1.0"
