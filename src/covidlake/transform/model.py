"""The star schema as data: tables, grain, keys; and the source columns the SQL reads.

Load turns `STAR_TABLES` into DDL for each warehouse; quality checks read the keys from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "covid"


@dataclass(frozen=True)
class Need:
    """A source column the model reads; `kind` is text | int | float | date | timestamp."""

    column: str
    kind: str = "text"
    required: bool = True


def _needs(*specs: str, optional: tuple[str, ...] = ()) -> tuple[Need, ...]:
    """Needs from 'name:kind' strings; `optional` names may be absent (read as NULL)."""
    out = []
    for spec in specs:
        name, _, kind = spec.partition(":")
        out.append(Need(name, kind or "text", name not in optional))
    return tuple(out)


NEEDS: dict[str, tuple[Need, ...]] = {
    "enigma_jhu": _needs(
        "fips", "admin2", "province_state", "country_region", "last_update:timestamp",
        "latitude:float", "longitude:float", "confirmed:int", "deaths:int", "recovered:int",
        "active:int",
        optional=("fips", "admin2", "latitude", "longitude", "active"),
    ),
    "us_county": _needs("date:date", "county", "state", "fips", "cases:int", "deaths:int"),
    "us_states": _needs("date:date", "state", "fips", "cases:int", "deaths:int"),
    "states_daily": _needs(
        "date:date", "state", "fips", "positive:int", "negative:int",
        "hospitalized_currently:int", "hospitalized:int", "hospitalized_discharged:int",
        optional=("fips", "hospitalized_currently", "hospitalized", "hospitalized_discharged"),
    ),
    "us_daily": _needs(
        "date:date", "positive:int", "negative:int", "hospitalized_currently:int",
        "hospitalized:int", "hospitalized_discharged:int",
        optional=("hospitalized_currently", "hospitalized", "hospitalized_discharged"),
    ),
    "hospital_beds": _needs(
        "objectid:int", "hospital_name", "hospital_type", "hq_address", "hq_address1", "hq_city",
        "hq_state", "hq_zip_code", "county_name", "state_name", "state_fips", "cnty_fips", "fips",
        "num_licensed_beds:int", "num_staffed_beds:int", "num_icu_beds:int",
        "adult_icu_beds:int", "pedi_icu_beds:float", "bed_utilization:float",
        "avg_ventilator_usage:float", "potential_increase_in_bed_capac:int", "latitude:float",
        "longtitude:float",
        optional=("objectid", "hq_address1", "state_fips", "cnty_fips", "pedi_icu_beds",
                  "bed_utilization", "avg_ventilator_usage", "potential_increase_in_bed_capac"),
    ),
    "county_population": _needs("geo_id2", "geo_display_label", "respop72018:int"),
    "state_abv": _needs("state", "abbreviation"),
    "countrycode": _needs("country", "latitude_average:float", "longitude_average:float"),
}
# source -> the columns the model reads: the engines report parse failures in these only
READS: dict[str, frozenset[str]] = {
    name: frozenset(n.column for n in needs) for name, needs in NEEDS.items()}

MEASURES = ("confirmed", "deaths", "recovered", "active", "nyt_cases", "nyt_deaths", "positive",
            "negative", "hospitalized_currently", "hospitalized", "hospitalized_discharged")
# Cumulative series: a day-over-day decrease is flagged (corrections upstream), not dropped.
CUMULATIVE = ("confirmed", "deaths", "recovered", "nyt_cases", "nyt_deaths", "positive",
              "negative", "hospitalized")


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class StarTable:
    name: str
    grain: str
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    load_order: int = 0  # dimensions before facts
    # a YYYYMMDD key: the lake holds one file per month of it (<name>-YYYY-MM.parquet), so a
    # new day rewrites one month
    partition_by_month: str | None = None


STAR_TABLES: tuple[StarTable, ...] = (
    StarTable("dim_date", "one row per calendar day from the first to the last fact date",
              ("date_key",), load_order=0),
    StarTable("dim_region", "one row per real place (country, state or county)",
              ("region_key",), load_order=0),
    StarTable("dim_hospital", "one row per hospital of the hospital-beds source",
              ("hospital_key",),
              (ForeignKey(("region_key",), "dim_region", ("region_key",)),), load_order=1),
    StarTable("fact_covid", "one row per (date_key, region_key)", ("date_key", "region_key"),
              (ForeignKey(("date_key",), "dim_date", ("date_key",)),
               ForeignKey(("region_key",), "dim_region", ("region_key",))), load_order=2,
              partition_by_month="date_key"),
    StarTable("dq_results", "one row per data-quality check and table", ("check_name",
              "table_name"), load_order=3),
)
BY_NAME = {t.name: t for t in STAR_TABLES}
FACT = "fact_covid"  # the table an incremental load replaces by day (date_key)
