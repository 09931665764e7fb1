-- Every source row that can become a fact, in one shape (stage.obs), and every distinct
-- place description those rows give (stage.place_codes).
-- Inputs: stage.<source> tables made by transform/__init__.py (columns guaranteed, `bad` = used
-- columns whose text did not parse, `rowid` in file order), ref.country_aliases and
-- ref.province_aliases.

-- Each source file's first staged row, and for JHU the day its name gives. The stage keeps
-- each file's rows in their order (runner.stage), so a row's position in its file is
-- rowid - first_rowid + 1. Per file, not per row: a window numbering the rows, and a regular
-- expression on every row's file name, were 40% of the rows' staging on the scale set.
CREATE OR REPLACE TABLE stage.source_files AS
SELECT _file, min(rowid) AS first_rowid,
       CAST(try_strptime(regexp_extract(_file, '([0-9]{2}-[0-9]{2}-[0-9]{4})\.csv$', 1),
                         '%m-%d-%Y') AS DATE) AS jhu_date
FROM stage.enigma_jhu GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_county GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_states GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.states_daily GROUP BY _file
UNION ALL SELECT _file, min(rowid), NULL FROM stage.us_daily GROUP BY _file;

-- One shape for every source (explicit columns, so that every engine reads it alike): the
-- place as the source wrote it (raw_*: untrimmed text, resolved once per distinct description
-- in stage.place_codes and stage.places, not once per row: on the scale set, 4.3M JHU rows
-- give 4,622 descriptions), when (obs_date) and what (the measures it carries).
-- src_row is the row's position among the rows read from its file (1 = the first after the
-- header; lines the reader skipped as malformed are in stage.malformed, with their line
-- numbers), for the rejects: with the file, it says which row. No result depends on it.
-- An incremental run (prev.days holds the new days) reads only the new JHU files: the other
-- sources did not change, and what they gave is in prev.* (see transform/incremental.py).
CREATE OR REPLACE VIEW stage.obs AS  -- a view: read by stage.place_codes and stage.obs_checked
SELECT 'enigma_jhu' AS source, s.rowid - f.first_rowid + 1 AS src_row, s._file AS file, bad,
       f.jhu_date AS obs_date, country_region AS raw_country, province_state AS raw_province,
       admin2 AS raw_county, fips AS raw_fips, CAST(NULL AS VARCHAR) AS raw_abbr, last_update,
       latitude, longitude, confirmed, deaths, recovered, active,
       CAST(NULL AS BIGINT) AS nyt_cases, CAST(NULL AS BIGINT) AS nyt_deaths,
       CAST(NULL AS BIGINT) AS positive, CAST(NULL AS BIGINT) AS negative,
       CAST(NULL AS BIGINT) AS hospitalized_currently, CAST(NULL AS BIGINT) AS hospitalized,
       CAST(NULL AS BIGINT) AS hospitalized_discharged
FROM stage.enigma_jhu s JOIN stage.source_files f ON f._file = s._file
UNION ALL
SELECT 'us_county', s.rowid - f.first_rowid + 1, s._file, bad, date, CAST(NULL AS VARCHAR),
       state, county, fips, CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), cases, deaths, CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
FROM stage.us_county s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_states', s.rowid - f.first_rowid + 1, s._file, bad, date, CAST(NULL AS VARCHAR),
       state, CAST(NULL AS VARCHAR), fips, CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), cases, deaths, CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
FROM stage.us_states s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'states_daily', s.rowid - f.first_rowid + 1, s._file, bad, date, CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), fips, state, CAST(NULL AS TIMESTAMP),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       positive, negative, hospitalized_currently, hospitalized, hospitalized_discharged
FROM stage.states_daily s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days)
UNION ALL
SELECT 'us_daily', s.rowid - f.first_rowid + 1, s._file, bad, date, CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP), CAST(NULL AS DOUBLE),
       CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), positive, negative,
       hospitalized_currently, hospitalized, hospitalized_discharged
FROM stage.us_daily s JOIN stage.source_files f ON f._file = s._file
WHERE NOT EXISTS (SELECT 1 FROM prev.days);

-- Every distinct place description a source gave, as it wrote it (raw_*), with what it says
-- once trimmed and normalised: country, level, province and county (JHU's through the alias
-- lists), FIPS as written (JHU's '6037.0' as '6037') and the state or county FIPS it gives: a
-- state's 2 digits ('6', '06', and JHU's '60000' or '00072' for territories); a county's 5
-- digits. County FIPS 80000 and up are JHU's pseudo-codes ('Out of AL', 'Unassigned'), not
-- places: those are keyed by name like NYT's 'Unknown'. A few thousand descriptions among
-- millions of rows: the string work here is done once per description.
CREATE OR REPLACE TABLE stage.place_codes AS
WITH raw AS (
    SELECT DISTINCT source, raw_country, raw_province, raw_county, raw_fips, raw_abbr
    FROM stage.obs
), trimmed AS (
    SELECT r.*,
           CASE WHEN source = 'enigma_jhu' THEN NULLIF(trim(raw_country), '') ELSE 'US' END
               AS country0,
           NULLIF(trim(raw_province), '') AS province0,
           NULLIF(trim(raw_county), '') AS county0,
           CASE WHEN source = 'enigma_jhu'
                THEN NULLIF(regexp_replace(trim(raw_fips), '\.0+$', ''), '')
                ELSE NULLIF(trim(raw_fips), '') END AS fips,
           upper(NULLIF(trim(raw_abbr), '')) AS state_abbr
    FROM raw r
), countries AS (  -- JHU's names through the alias lists
    SELECT t.*,
           coalesce(ca.country_region, t.country0) AS country,
           coalesce(ca.province_state, t.province0) AS province1
    FROM trimmed t
    LEFT JOIN ref.country_aliases ca
           ON t.source = 'enigma_jhu' AND ca.raw_country_region = t.country0
), named AS (
    SELECT c.*,
           CASE WHEN pa.raw_province_state IS NOT NULL THEN pa.province_state
                ELSE c.province1 END AS province,
           CASE WHEN pa.raw_province_state IS NOT NULL THEN pa.county
                ELSE c.county0 END AS county
    FROM countries c
    LEFT JOIN ref.province_aliases pa
           ON c.source = 'enigma_jhu' AND pa.country_region = c.country
          AND pa.raw_province_state = c.province1
), leveled AS (
    SELECT *,
           CASE source WHEN 'us_county' THEN 'county'
                       WHEN 'us_states' THEN 'state' WHEN 'states_daily' THEN 'state'
                       WHEN 'us_daily' THEN 'country'
                       ELSE CASE WHEN county IS NOT NULL THEN 'county'
                                 WHEN province IS NOT NULL THEN 'state' ELSE 'country' END
           END AS level
    FROM named
)
SELECT source, raw_country, raw_province, raw_county, raw_fips, raw_abbr, country, level,
       province, county, fips, state_abbr,
       CASE WHEN level <> 'state' THEN NULL
            WHEN regexp_full_match(fips, '[0-9]{1,2}') THEN lpad(fips, 2, '0')
            WHEN regexp_full_match(fips, '[0-9]{2}000') THEN left(fips, 2)
            WHEN regexp_full_match(fips, '000[0-9]{2}') THEN right(fips, 2)
       END AS given_state_fips,
       CASE WHEN level = 'county' AND regexp_full_match(fips, '[0-9]{4,5}')
                 AND lpad(fips, 5, '0') < '80000' THEN lpad(fips, 5, '0') END AS given_county_fips
FROM leveled;
