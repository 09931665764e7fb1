-- Every source row that can become a fact, in one shape: where (country, level, province,
-- county, fips), when (obs_date) and what (the measures this source carries).
-- Inputs: stage.<source> views made by transform/__init__.py (columns guaranteed, `bad` = used
-- columns whose text did not parse), ref.country_aliases and ref.province_aliases.

CREATE OR REPLACE VIEW stage.jhu_named AS  -- a view: read once, by stage.obs
WITH base AS (
    SELECT
        row_number() OVER (PARTITION BY _file ORDER BY _file) AS src_row,
        _file,
        bad,
        CAST(try_strptime(regexp_extract(_file, '([0-9]{2}-[0-9]{2}-[0-9]{4})\.csv$', 1),
                          '%m-%d-%Y') AS DATE) AS obs_date,
        NULLIF(trim(country_region), '') AS raw_country,
        NULLIF(trim(province_state), '') AS raw_province,
        NULLIF(trim(admin2), '') AS raw_admin2,
        NULLIF(regexp_replace(trim(fips), '\.0+$', ''), '') AS raw_fips,
        last_update, latitude, longitude, confirmed, deaths, recovered, active
    FROM stage.enigma_jhu
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
-- src_row numbers the rows of a file (in no set order: a number, with the file, that tells
-- one run's rows apart), for the rejects only: no result depends on it. Numbering within
-- the file, not the source, needs no global sort (-40% of the JHU staging on 4M rows).
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
SELECT 'us_county' AS source, row_number() OVER (PARTITION BY _file ORDER BY _file) AS src_row, _file AS file,
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
FROM stage.us_county
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_states' AS source, row_number() OVER (PARTITION BY _file ORDER BY _file) AS src_row, _file AS file,
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
FROM stage.us_states
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'states_daily' AS source, row_number() OVER (PARTITION BY _file ORDER BY _file) AS src_row, _file AS file,
       bad, date AS obs_date, 'US' AS country, 'state' AS level,
       CAST(NULL AS VARCHAR) AS province, CAST(NULL AS VARCHAR) AS county,
       NULLIF(trim(fips), '') AS fips, upper(NULLIF(trim(state), '')) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, CAST(NULL AS BIGINT) AS nyt_cases,
       CAST(NULL AS BIGINT) AS nyt_deaths, positive, negative, hospitalized_currently,
       hospitalized, hospitalized_discharged
FROM stage.states_daily
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_daily' AS source, row_number() OVER (PARTITION BY _file ORDER BY _file) AS src_row, _file AS file, bad,
       date AS obs_date, 'US' AS country, 'country' AS level,
       CAST(NULL AS VARCHAR) AS province, CAST(NULL AS VARCHAR) AS county,
       CAST(NULL AS VARCHAR) AS fips, CAST(NULL AS VARCHAR) AS state_abbr,
       CAST(NULL AS TIMESTAMP) AS last_update, CAST(NULL AS DOUBLE) AS latitude,
       CAST(NULL AS DOUBLE) AS longitude, CAST(NULL AS BIGINT) AS confirmed,
       CAST(NULL AS BIGINT) AS deaths, CAST(NULL AS BIGINT) AS recovered,
       CAST(NULL AS BIGINT) AS active, CAST(NULL AS BIGINT) AS nyt_cases,
       CAST(NULL AS BIGINT) AS nyt_deaths, positive, negative, hospitalized_currently,
       hospitalized, hospitalized_discharged
FROM stage.us_daily
WHERE NOT EXISTS (SELECT 1 FROM prev.days);
