-- Resolve every observation to one real place (a natural key, `nk`), so that no join fans out.
-- US places are keyed by FIPS wherever a source gives one or a unique name lookup finds one;
-- the lookups are built only from sources that carry names and codes together (NYT, the Census
-- file, the hospital file, CTP), never from guesses.

-- FIPS as sources write them, normalised once: a state's 2 digits ('6', '06', and JHU's
-- '60000' or '00072' for territories); a county's 5 digits. County FIPS 80000 and up are JHU's
-- pseudo-codes ('Out of AL', 'Unassigned'), not places: those are keyed by name like NYT's
-- 'Unknown'.
CREATE OR REPLACE TABLE stage.obs_codes AS
SELECT *,
       CASE WHEN level <> 'state' THEN NULL
            WHEN regexp_full_match(fips, '[0-9]{1,2}') THEN lpad(fips, 2, '0')
            WHEN regexp_full_match(fips, '[0-9]{2}000') THEN left(fips, 2)
            WHEN regexp_full_match(fips, '000[0-9]{2}') THEN right(fips, 2)
       END AS given_state_fips,
       CASE WHEN level = 'county' AND regexp_full_match(fips, '[0-9]{4,5}')
                 AND lpad(fips, 5, '0') < '80000' THEN lpad(fips, 5, '0') END AS given_county_fips
FROM stage.obs;

-- The (name, FIPS) pairs JHU's US state rows give, with those of the files an incremental
-- run did not read again (prev.*: empty on a full run; see transform/incremental.py).
CREATE OR REPLACE TABLE stage.jhu_state_pairs AS
SELECT DISTINCT province AS name, given_state_fips AS fips
FROM stage.obs_codes WHERE source = 'enigma_jhu' AND country = 'US' AND level = 'state'
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

-- Resolve every observation to its place.
CREATE OR REPLACE TABLE stage.obs_placed AS
WITH o AS (
    SELECT *,
           CASE WHEN lower(county) IN ('unknown', 'unassigned') THEN 'Unassigned'
                ELSE county END AS county_name,
           CASE WHEN country = 'US' THEN lower(strip_accents(province)) END AS province_key
    FROM stage.obs_codes
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
)
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
FROM c;

-- Why a row is not used (NULL = used). First reason wins.
CREATE OR REPLACE VIEW stage.obs_checked AS  -- a view: a projection, not worth writing out
SELECT *,
       CASE
           WHEN bad <> '' THEN 'unparseable value in ' || bad
           WHEN obs_date IS NULL THEN 'no date (file name or date column)'
           WHEN country IS NULL THEN 'no location: country missing'
           WHEN level = 'county' AND province IS NULL AND state_fips IS NULL
               THEN 'no location: county without a state'
           WHEN coalesce(confirmed, deaths, recovered, active, nyt_cases, nyt_deaths, positive,
                         negative, hospitalized_currently, hospitalized,
                         hospitalized_discharged) IS NULL THEN 'no figures in any measure'
           WHEN nk IS NULL THEN 'no location: state ' || coalesce(state_abbr, province, fips, '?')
                                || ' not found in any state list'
       END AS reject_reason
FROM stage.obs_placed;

-- One row per source, place and day: the latest last_update wins; ties break on the figures
-- and the file, so the choice is deterministic. The others are counted, not summed. Only the
-- keys more than one usable row claims are ranked (a few hundred among millions of rows).
CREATE OR REPLACE TABLE stage.superseded AS
WITH dup AS (
    SELECT source, obs_date, nk FROM stage.obs_checked
    WHERE reject_reason IS NULL GROUP BY ALL HAVING count(*) > 1
)
SELECT source, file, src_row FROM (
    SELECT o.source, o.file, o.src_row, row_number() OVER (
        PARTITION BY o.source, o.obs_date, o.nk
        ORDER BY o.last_update DESC NULLS LAST, o.confirmed DESC NULLS LAST,
                 o.deaths DESC NULLS LAST, o.recovered DESC NULLS LAST,
                 o.active DESC NULLS LAST, o.nyt_cases DESC NULLS LAST,
                 o.nyt_deaths DESC NULLS LAST, o.positive DESC NULLS LAST,
                 o.negative DESC NULLS LAST, o.hospitalized_currently DESC NULLS LAST,
                 o.hospitalized DESC NULLS LAST, o.latitude DESC NULLS LAST,
                 o.longitude DESC NULLS LAST, o.file, o.province NULLS FIRST,
                 o.county NULLS FIRST, o.fips NULLS FIRST, o.src_row) AS rn
    FROM stage.obs_checked o
    JOIN dup d ON d.source = o.source AND d.obs_date = o.obs_date AND d.nk = o.nk
    WHERE o.reject_reason IS NULL)
WHERE rn > 1;

-- Every row with why it is not used (NULL = used), in the columns the star, the checks and
-- the rejects read. A table: a view recomputed the reasons and the join for each of its six
-- readers, which cost more than writing it once (scale set: +3.4 s against -2.7 s).
CREATE OR REPLACE TABLE stage.obs_final AS
SELECT o.source, o.file, o.src_row, o.obs_date, o.country, o.level, o.province, o.county,
       o.county_name, o.fips, o.state_fips, o.county_fips, o.latitude, o.longitude, o.nk,
       o.confirmed, o.deaths, o.recovered, o.active, o.nyt_cases, o.nyt_deaths, o.positive,
       o.negative, o.hospitalized_currently, o.hospitalized, o.hospitalized_discharged,
       CASE WHEN s.src_row IS NOT NULL THEN 'duplicate for place and day (superseded)'
            ELSE o.reject_reason END AS reason
FROM stage.obs_checked o
LEFT JOIN stage.superseded s
       ON s.source = o.source AND s.file = o.file AND s.src_row = o.src_row;
