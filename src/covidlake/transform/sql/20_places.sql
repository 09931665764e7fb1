-- Resolve every observation to one real place (a natural key, `nk`), so that no join fans out.
-- US places are keyed by FIPS wherever a source gives one or a unique name lookup finds one;
-- the lookups are built only from sources that carry names and codes together (NYT, the Census
-- file, the hospital file, CTP), never from guesses.

-- The (name, FIPS) pairs JHU's US state rows give, with those of the files an incremental
-- run did not read again (prev.*: empty on a full run; see transform/incremental.py).
CREATE OR REPLACE TABLE stage.jhu_state_pairs AS
SELECT DISTINCT province AS name, given_state_fips AS fips
FROM stage.place_codes WHERE source = 'enigma_jhu' AND country = 'US' AND level = 'state'
                       AND province IS NOT NULL AND given_state_fips IS NOT NULL
UNION
SELECT name, fips FROM prev.jhu_state_pairs;

-- US states: name <-> 2-digit FIPS <-> abbreviation.
CREATE OR REPLACE TABLE stage.us_state_pairs AS
SELECT DISTINCT trim(state) AS name, lpad(trim(fips), 2, '0') AS fips, 1 AS priority
FROM stage.us_states WHERE NULLIF(trim(state), '') IS NOT NULL AND regexp_full_match(trim(fips), '[0-9]{1,2}')
UNION ALL
SELECT DISTINCT trim(state_name), lpad(trim(state_fips), 2, '0'), 2
FROM stage.hospital_beds WHERE NULLIF(trim(state_name), '') IS NOT NULL AND regexp_full_match(trim(state_fips), '[0-9]{1,2}')
UNION ALL
SELECT DISTINCT trim(split_part(geo_display_label, ',', -1)), left(lpad(trim(geo_id2), 5, '0'), 2), 3
FROM stage.county_population WHERE regexp_full_match(trim(geo_id2), '[0-9]{4,5}') AND geo_display_label LIKE '%,%'
UNION ALL
SELECT name, fips, 4 FROM stage.jhu_state_pairs;

CREATE OR REPLACE TABLE stage.us_state_by_name AS
SELECT lower(strip_accents(name)) AS name_key, min(fips) AS fips
FROM stage.us_state_pairs GROUP BY lower(strip_accents(name)) HAVING count(DISTINCT fips) = 1;

CREATE OR REPLACE TABLE stage.us_state_abbr AS  -- abbreviation -> fips
SELECT abbr, min(fips) AS fips FROM (
    SELECT upper(trim(sa.abbreviation)) AS abbr, sn.fips
    FROM stage.state_abv sa JOIN stage.us_state_by_name sn ON sn.name_key = lower(trim(sa.state))
    UNION ALL
    SELECT DISTINCT upper(trim(state)), lpad(trim(fips), 2, '0')
    FROM stage.states_daily WHERE regexp_full_match(trim(fips), '[0-9]{1,2}') AND NULLIF(trim(state), '') IS NOT NULL
) GROUP BY abbr HAVING count(DISTINCT fips) = 1;

CREATE OR REPLACE TABLE stage.us_state_names AS  -- fips -> canonical name and abbreviation
SELECT f.fips, p.name, a.abbr
FROM (SELECT fips FROM stage.us_state_pairs UNION SELECT fips FROM stage.us_state_abbr) f
LEFT JOIN (SELECT fips, name FROM (
               SELECT fips, name, row_number() OVER (PARTITION BY fips ORDER BY priority, name)
                   AS rn
               FROM stage.us_state_pairs) WHERE rn = 1) p
       ON p.fips = f.fips
LEFT JOIN (SELECT fips, min(abbr) AS abbr FROM stage.us_state_abbr GROUP BY fips) a
       ON a.fips = f.fips;

-- US counties: (state FIPS, name) -> 5-digit FIPS, kept only where the name is unambiguous.
-- Census names come with and without their suffix ('Autauga County' and 'Autauga').
CREATE OR REPLACE TABLE stage.us_county_pairs AS
SELECT DISTINCT trim(county) AS name, lpad(trim(fips), 5, '0') AS fips, 1 AS priority
FROM stage.us_county WHERE regexp_full_match(trim(fips), '[0-9]{4,5}') AND NULLIF(trim(county), '') IS NOT NULL
UNION ALL
SELECT DISTINCT regexp_replace(trim(split_part(geo_display_label, ',', 1)),
                ' (County|Parish|Borough|Census Area|City and Borough|Municipality|Municipio)$', ''),
       lpad(trim(geo_id2), 5, '0'), 2
FROM stage.county_population WHERE regexp_full_match(trim(geo_id2), '[0-9]{4,5}')
UNION ALL
SELECT DISTINCT trim(split_part(geo_display_label, ',', 1)), lpad(trim(geo_id2), 5, '0'), 3
FROM stage.county_population WHERE regexp_full_match(trim(geo_id2), '[0-9]{4,5}')
UNION ALL
SELECT DISTINCT trim(county_name), lpad(trim(fips), 5, '0'), 4
FROM stage.hospital_beds WHERE regexp_full_match(trim(fips), '[0-9]{4,5}') AND NULLIF(trim(county_name), '') IS NOT NULL;

CREATE OR REPLACE TABLE stage.us_county_by_name AS
SELECT left(fips, 2) AS state_fips, lower(strip_accents(name)) AS name_key, min(fips) AS fips
FROM stage.us_county_pairs GROUP BY ALL HAVING count(DISTINCT fips) = 1;

-- Resolve every place description to one place (once per description): `place_id` numbers
-- the descriptions, `nk_id` the places. The reasons a description cannot be placed are
-- here too; stage.obs_checked says which reason a row gets first.
CREATE OR REPLACE TABLE stage.places AS
WITH o AS (
    SELECT *,
           CASE WHEN lower(county) IN ('unknown', 'unassigned') THEN 'Unassigned'
                ELSE county END AS county_name,
           CASE WHEN country = 'US' THEN lower(strip_accents(province)) END AS province_key
    FROM stage.place_codes
), s AS (
    SELECT o.*,
           CASE WHEN o.country <> 'US' THEN NULL
                ELSE coalesce(o.given_state_fips, left(o.given_county_fips, 2), ab.fips, sn.fips)
           END AS state_fips,
           CASE WHEN o.country = 'US' AND o.level = 'county' AND o.given_county_fips IS NULL
                THEN lower(strip_accents(o.county_name)) END AS county_key
    FROM o
    LEFT JOIN stage.us_state_abbr ab ON ab.abbr = o.state_abbr
    LEFT JOIN stage.us_state_by_name sn ON sn.name_key = o.province_key
), c AS (
    SELECT s.*, coalesce(s.given_county_fips, cn.fips) AS county_fips
    FROM s
    LEFT JOIN stage.us_county_by_name cn
           ON cn.state_fips = s.state_fips AND cn.name_key = s.county_key
), k AS (
    SELECT c.*,
           CASE
               WHEN c.country IS NULL THEN NULL
               WHEN c.country = 'US' AND c.level = 'country' THEN 'US|country'
               WHEN c.country = 'US' AND c.level = 'state' AND c.state_fips IS NOT NULL
                   THEN 'US|state|' || c.state_fips
               WHEN c.country = 'US' AND c.level = 'county' AND c.county_fips IS NOT NULL
                   THEN 'US|county|' || c.county_fips
               WHEN c.country = 'US' AND c.level = 'county' AND c.state_fips IS NOT NULL
                   THEN 'US|county|' || c.state_fips || '|' || c.county_key
               WHEN c.country = 'US' AND c.level = 'state' AND c.state_abbr IS NOT NULL
                   THEN NULL  -- an abbreviation nobody maps to a state
               ELSE c.country || '|' || c.level || '|' || lower(coalesce(c.province, ''))
                    || '|' || lower(coalesce(c.county_name, ''))
           END AS nk
    FROM c
)
SELECT CAST(row_number() OVER (ORDER BY source, raw_country NULLS FIRST,
                               raw_province NULLS FIRST, raw_county NULLS FIRST,
                               raw_fips NULLS FIRST, raw_abbr NULLS FIRST) AS INTEGER)
           AS place_id,
       CAST(dense_rank() OVER (ORDER BY nk NULLS FIRST) AS INTEGER) AS nk_id,
       source, raw_country, raw_province, raw_county, raw_fips, raw_abbr, country, level,
       province, county, county_name, fips, state_abbr, state_fips, county_fips, nk,
       CASE WHEN country IS NULL THEN 'no location: country missing'
            WHEN level = 'county' AND province IS NULL AND state_fips IS NULL
                THEN 'no location: county without a state'
       END AS where_missing,
       CASE WHEN nk IS NULL THEN 'no location: state ' || coalesce(state_abbr, province, fips, '?')
                                 || ' not found in any state list'
       END AS nk_missing
FROM k;

-- Every row with its place and why it is not used (NULL = used). First reason wins.
CREATE OR REPLACE VIEW stage.obs_checked AS  -- a view: read by stage.superseded and obs_final
SELECT o.source, o.file, o.src_row, o.obs_date, p.place_id, p.nk_id, o.last_update,
       o.latitude, o.longitude, o.confirmed, o.deaths, o.recovered, o.active, o.nyt_cases,
       o.nyt_deaths, o.positive, o.negative, o.hospitalized_currently, o.hospitalized,
       o.hospitalized_discharged,
       CASE
           WHEN o.bad <> '' THEN 'unparseable value in ' || o.bad
           WHEN o.obs_date IS NULL THEN 'no date (file name or date column)'
           WHEN p.where_missing IS NOT NULL THEN p.where_missing
           WHEN coalesce(o.confirmed, o.deaths, o.recovered, o.active, o.nyt_cases,
                         o.nyt_deaths, o.positive, o.negative, o.hospitalized_currently,
                         o.hospitalized, o.hospitalized_discharged) IS NULL
               THEN 'no figures in any measure'
           ELSE p.nk_missing
       END AS reject_reason
FROM stage.obs o
JOIN stage.places p
  ON p.source = o.source AND p.raw_country IS NOT DISTINCT FROM o.raw_country
 AND p.raw_province IS NOT DISTINCT FROM o.raw_province
 AND p.raw_county IS NOT DISTINCT FROM o.raw_county
 AND p.raw_fips IS NOT DISTINCT FROM o.raw_fips AND p.raw_abbr IS NOT DISTINCT FROM o.raw_abbr;

-- One row per source, place and day: the latest last_update wins; ties break on the figures
-- and the file, so the choice is deterministic. The others are counted, not summed. Only the
-- keys more than one usable row claims are ranked (a few hundred among millions of rows).
CREATE OR REPLACE TABLE stage.superseded AS
WITH dup AS (
    SELECT source, obs_date, nk_id FROM stage.obs_checked
    WHERE reject_reason IS NULL GROUP BY ALL HAVING count(*) > 1
)
SELECT source, file, src_row FROM (
    SELECT o.source, o.file, o.src_row, row_number() OVER (
        PARTITION BY o.source, o.obs_date, o.nk_id
        ORDER BY o.last_update DESC NULLS LAST, o.confirmed DESC NULLS LAST,
                 o.deaths DESC NULLS LAST, o.recovered DESC NULLS LAST,
                 o.active DESC NULLS LAST, o.nyt_cases DESC NULLS LAST,
                 o.nyt_deaths DESC NULLS LAST, o.positive DESC NULLS LAST,
                 o.negative DESC NULLS LAST, o.hospitalized_currently DESC NULLS LAST,
                 o.hospitalized DESC NULLS LAST, o.latitude DESC NULLS LAST,
                 o.longitude DESC NULLS LAST, o.file, p.province NULLS FIRST,
                 p.county NULLS FIRST, p.fips NULLS FIRST, o.src_row) AS rn
    FROM stage.obs_checked o
    JOIN dup d ON d.source = o.source AND d.obs_date = o.obs_date AND d.nk_id = o.nk_id
    JOIN stage.places p ON p.place_id = o.place_id
    WHERE o.reject_reason IS NULL)
WHERE rn > 1;

-- Every row with why it is not used (NULL = used): its place as a number (stage.places
-- has the rest), its day and its figures. A table: it has six readers.
CREATE OR REPLACE TABLE stage.obs_final AS
SELECT o.source, o.file, o.src_row, o.obs_date, o.place_id, o.nk_id, o.latitude, o.longitude,
       o.confirmed, o.deaths, o.recovered, o.active, o.nyt_cases, o.nyt_deaths, o.positive,
       o.negative, o.hospitalized_currently, o.hospitalized, o.hospitalized_discharged,
       CASE WHEN s.src_row IS NOT NULL THEN 'duplicate for place and day (superseded)'
            ELSE o.reject_reason END AS reason
FROM stage.obs_checked o
LEFT JOIN stage.superseded s
       ON s.source = o.source AND s.file = o.file AND s.src_row = o.src_row;
