-- Every source row that can become a fact, in one shape: where (country, level, province,
-- county, fips), when (obs_date) and what (the measures this source carries).
-- Inputs: stage.<source> tables made by transform/__init__.py (columns guaranteed, `bad` = used
-- columns whose text did not parse, `rowid` in file order), ref.country_aliases and
-- ref.province_aliases.

-- Each source file's first staged row, and for JHU the day its name gives. The stage keeps
-- each file's rows in their order (runner.stage), so a row's position in its file is
-- rowid - first_rowid + 1. Per file, not per row: a window numbering the rows, and a regular
-- expression on every row's file name, were 40% of stage.obs_codes on the scale set.
CREATE OR REPLACE TABLE stage.source_files AS
SELECT _file, min(rowid) AS first_rowid,
       CAST(try_strptime(regexp_extract(_file, '([0-9]{2}-[0-9]{2}-[0-9]{4})\.csv$', 1),
                         '%m-%d-%Y') AS DATE) AS jhu_date
FROM stage.enigma_jhu GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_county GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_states GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.states_daily GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_daily GROUP BY _file;

CREATE OR REPLACE VIEW stage.jhu_named AS  -- a view: read once, by stage.obs
WITH base AS (
    SELECT
        j.rowid - f.first_rowid + 1 AS src_row,
        j._file,
        bad,
        f.jhu_date AS obs_date,
        NULLIF(trim(country_region), '') AS raw_country,
        NULLIF(trim(province_state), '') AS raw_province,
        NULLIF(trim(admin2), '') AS raw_admin2,
        NULLIF(regexp_replace(trim(fips), '\.0+$', ''), '') AS raw_fips,
        last_update, latitude, longitude, confirmed, deaths, recovered, active
    FROM stage.enigma_jhu j JOIN stage.source_files f ON f._file = j._file
), countries AS (
    SELECT b.*,
           coalesce(ca.country_region, b.raw_country) AS country,
           coalesce(ca.province_state, b.raw_province) AS province0
    FROM base b LEFT JOIN ref.country_aliases ca ON ca.raw_country_region = b.raw_country
)
SELECT c.*,
       CASE WHEN pa.raw_province_state IS NOT NULL THEN pa.province_state
            ELSE c.province0 END AS province,
       CASE WHEN pa.raw_province_state IS NOT NULL THEN pa.county
            ELSE c.raw_admin2 END AS county
FROM countries c
LEFT JOIN ref.province_aliases pa
       ON pa.country_region = c.country AND pa.raw_province_state = c.province0;

-- One shape for every source (explicit columns, so that every engine reads it alike);
-- src_row is the row's position among the rows read from its file (1 = the first after the
-- header; lines the reader skipped as malformed are in stage.malformed, with their line
-- numbers), for the rejects: with the file, it says which row. No result depends on it.
-- An incremental run (prev.days holds the new days) reads only the new JHU files: the other
-- sources did not change, and what they gave is in prev.* (see transform/incremental.py).
CREATE OR REPLACE VIEW stage.obs AS  -- a view: read once, by stage.obs_codes
SELECT 'enigma_jhu' AS source, src_row, _file AS file, bad, obs_date, country,
       CASE WHEN county IS NOT NULL THEN 'county' WHEN province IS NOT NULL THEN 'state' ELSE 'country' END AS level,
       province, county, raw_fips AS fips, CAST(NULL AS VARCHAR) AS state_abbr, last_update,
       latitude, longitude, confirmed, deaths, recovered, active,
       CAST(NULL AS BIGINT) AS nyt_cases, CAST(NULL AS BIGINT) AS nyt_deaths,
       CAST(NULL AS BIGINT) AS positive, CAST(NULL AS BIGINT) AS negative,
       CAST(NULL AS BIGINT) AS hospitalized_currently, CAST(NULL AS BIGINT) AS hospitalized,
       CAST(NULL AS BIGINT) AS hospitalized_discharged
FROM stage.jhu_named
UNION ALL
SELECT 'us_county' AS source, s.rowid - f.first_rowid + 1 AS src_row, s._file AS file,
       bad, date AS obs_date, 'US' AS country, 'county' AS level,
       NULLIF(trim(state), '') AS province, NULLIF(trim(county), '') AS county,
       NULLIF(trim(fips), '') AS fips, CAST(NULL AS VARCHAR) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, cases AS nyt_cases, deaths AS nyt_deaths,
       CAST(NULL AS BIGINT) AS positive, CAST(NULL AS BIGINT) AS negative,
       CAST(NULL AS BIGINT) AS hospitalized_currently, CAST(NULL AS BIGINT) AS hospitalized,
       CAST(NULL AS BIGINT) AS hospitalized_discharged
FROM stage.us_county s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_states' AS source, s.rowid - f.first_rowid + 1 AS src_row, s._file AS file,
       bad, date AS obs_date, 'US' AS country, 'state' AS level,
       NULLIF(trim(state), '') AS province, CAST(NULL AS VARCHAR) AS county,
       NULLIF(trim(fips), '') AS fips, CAST(NULL AS VARCHAR) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, cases AS nyt_cases, deaths AS nyt_deaths,
       CAST(NULL AS BIGINT) AS positive, CAST(NULL AS BIGINT) AS negative,
       CAST(NULL AS BIGINT) AS hospitalized_currently, CAST(NULL AS BIGINT) AS hospitalized,
       CAST(NULL AS BIGINT) AS hospitalized_discharged
FROM stage.us_states s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'states_daily' AS source, s.rowid - f.first_rowid + 1 AS src_row, s._file AS file,
       bad, date AS obs_date, 'US' AS country, 'state' AS level,
       CAST(NULL AS VARCHAR) AS province, CAST(NULL AS VARCHAR) AS county,
       NULLIF(trim(fips), '') AS fips, upper(NULLIF(trim(state), '')) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, CAST(NULL AS BIGINT) AS nyt_cases,
       CAST(NULL AS BIGINT) AS nyt_deaths, positive, negative, hospitalized_currently,
       hospitalized, hospitalized_discharged
FROM stage.states_daily s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_daily' AS source, s.rowid - f.first_rowid + 1 AS src_row, s._file AS file, bad,
       date AS obs_date, 'US' AS country, 'country' AS level,
       CAST(NULL AS VARCHAR) AS province, CAST(NULL AS VARCHAR) AS county,
       CAST(NULL AS VARCHAR) AS fips, CAST(NULL AS VARCHAR) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, CAST(NULL AS BIGINT) AS nyt_cases,
       CAST(NULL AS BIGINT) AS nyt_deaths, positive, negative, hospitalized_currently,
       hospitalized, hospitalized_discharged
FROM stage.us_daily s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days);
