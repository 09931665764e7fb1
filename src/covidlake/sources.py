"""The data lake's source tables, as data: catalog name and key prefix in the lake.

Keys follow the AWS COVID-19 Data Lake (s3://covid19-lake); ingest copies them under raw/.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW = "raw/"


@dataclass(frozen=True)
class SourceTable:
    name: str  # the catalog name (what SQL uses)
    prefix: str  # key prefix in the source and, under raw/, in the lake
    description: str

    @property
    def lake_prefix(self) -> str:
        return RAW + self.prefix


SOURCES: tuple[SourceTable, ...] = (
    SourceTable("enigma_jhu", "enigma-jhu/csv/", "JHU CSSE daily reports, one file a day"),
    SourceTable("us_county", "enigma-nytimes-data-in-usa/csv/us_county/",
                "NYT cumulative cases and deaths by US county"),
    SourceTable("us_states", "enigma-nytimes-data-in-usa/csv/us_states/",
                "NYT cumulative cases and deaths by US state"),
    SourceTable("states_daily", "rearc-covid-19-testing-data/csv/states_daily/",
                "COVID Tracking Project: testing and hospitalisation by state and day"),
    SourceTable("us_daily", "rearc-covid-19-testing-data/csv/us_daily/",
                "COVID Tracking Project: US totals by day"),
    SourceTable("us_total_latest", "rearc-covid-19-testing-data/csv/us-total-latest/",
                "COVID Tracking Project: latest US totals"),
    SourceTable("hospital_beds", "rearc-usa-hospital-beds/json/",
                "Definitive Healthcare: US hospital beds (JSON lines)"),
    SourceTable("countrycode", "static-datasets/csv/countrycode/",
                "ISO country codes and average coordinates"),
    SourceTable("county_population", "static-datasets/csv/CountyPopulation/",
                "Census PEP 2018 county population estimates"),
    SourceTable("state_abv", "static-datasets/csv/state-abv/", "US state abbreviations"),
)

BY_NAME = {s.name: s for s in SOURCES}
