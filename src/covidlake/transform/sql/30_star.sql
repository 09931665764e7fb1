-- The star schema. Grain of fact_covid: one row per (date_key, region_key).

-- Every place any source names, plus the parents of each (county -> state -> country) and
-- every Census county, so that dim_region is complete even where a place has no facts.
-- The rankings below only need each distinct place description's last day (with those of
-- the rows an incremental run did not read again).
CREATE OR REPLACE TABLE stage.used AS
SELECT nk, country, level, province, county_name, state_fips, county_fips, source,
       latitude, longitude, max(obs_date) AS obs_date
FROM (SELECT p.nk, p.country, p.level, p.province, p.county_name, p.state_fips,
             p.county_fips, p.source, u.latitude, u.longitude, u.obs_date
      FROM (SELECT place_id, latitude, longitude, max(obs_date) AS obs_date
            FROM stage.obs_final WHERE reason IS NULL GROUP BY ALL) u
      JOIN stage.places p ON p.place_id = u.place_id
      UNION ALL
      SELECT nk, country, level, province, county_name, state_fips, county_fips, source,
             latitude, longitude, obs_date
      FROM prev.used)
GROUP BY ALL;

CREATE OR REPLACE TABLE stage.region_candidates AS
WITH used AS (SELECT * FROM stage.used),
direct AS (
    SELECT nk, country, level, province, county_name AS county, state_fips, county_fips,
           CASE WHEN source IN ('us_county', 'us_states') THEN 1 ELSE 5 END AS priority,
           obs_date,
           CASE WHEN source = 'enigma_jhu' AND NOT (latitude = 0 AND longitude = 0)
                THEN latitude END AS latitude,
           CASE WHEN source = 'enigma_jhu' AND NOT (latitude = 0 AND longitude = 0)
                THEN longitude END AS longitude
    FROM used
    UNION ALL
    SELECT 'US|county|' || fips, 'US', 'county', CAST(NULL AS VARCHAR), name, left(fips, 2),
           fips, priority + 1, CAST(NULL AS DATE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
    FROM stage.us_county_pairs WHERE priority IN (2, 4)
    UNION ALL
    SELECT 'US|state|' || fips, 'US', 'state', name, CAST(NULL AS VARCHAR), fips,
           CAST(NULL AS VARCHAR), 1, CAST(NULL AS DATE), CAST(NULL AS DOUBLE),
           CAST(NULL AS DOUBLE)
    FROM stage.us_state_names
    UNION ALL
    SELECT DISTINCT 'US|country', 'US', 'country', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
           CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), 9, CAST(NULL AS DATE),
           CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
    FROM stage.us_state_names
), parents AS (  -- the state of every county, the country of every state or county
    SELECT DISTINCT
           CASE WHEN country = 'US' AND state_fips IS NOT NULL THEN 'US|state|' || state_fips
                ELSE country || '|state|' || lower(province) || '|' END AS nk,
           country, 'state' AS level, province, CAST(NULL AS VARCHAR) AS county, state_fips,
           CAST(NULL AS VARCHAR) AS county_fips
    FROM direct WHERE level = 'county' AND province IS NOT NULL
    UNION
    SELECT DISTINCT CASE WHEN country = 'US' THEN 'US|country' ELSE country || '|country||' END,
           country, 'country', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
           CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR)
    FROM direct WHERE level <> 'country'
)
SELECT * FROM direct
UNION ALL
SELECT nk, country, level, province, county, state_fips, county_fips, 9, CAST(NULL AS DATE),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM parents;

CREATE OR REPLACE TABLE stage.regions AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY nk ORDER BY priority, obs_date DESC NULLS LAST,
                                 province NULLS FIRST, county NULLS FIRST,
                                 state_fips NULLS FIRST, county_fips NULLS FIRST) AS rn
    FROM stage.region_candidates
), coords AS (  -- the newest coordinates a source gave for the place
    SELECT nk, latitude, longitude FROM (
        SELECT nk, latitude, longitude, row_number() OVER (
            PARTITION BY nk ORDER BY obs_date DESC NULLS LAST, latitude DESC, longitude DESC
        ) AS rn
        FROM stage.region_candidates WHERE latitude IS NOT NULL AND longitude IS NOT NULL)
    WHERE rn = 1
), county_pop AS (
    SELECT lpad(trim(geo_id2), 5, '0') AS fips, respop72018 AS population
    FROM stage.county_population WHERE regexp_full_match(trim(geo_id2), '[0-9]{4,5}')
), country_coords AS (
    SELECT trim(country) AS name, min(latitude_average) AS latitude,
           min(longitude_average) AS longitude
    FROM stage.countrycode GROUP BY trim(country)
)
SELECT r.nk, r.level, r.country AS country_region,
       CASE WHEN r.level = 'country' THEN NULL
            ELSE coalesce(sn.name, r.province) END AS province_state,
       CASE WHEN r.level = 'county' THEN r.county END AS county,
       CASE WHEN r.level = 'county' THEN r.county_fips
            WHEN r.level = 'state' THEN r.state_fips END AS fips,
       CASE WHEN r.level <> 'country' THEN sn.abbr END AS state_abbr,
       coalesce(c.latitude, CASE WHEN r.level = 'country' THEN cc.latitude END) AS latitude,
       coalesce(c.longitude, CASE WHEN r.level = 'country' THEN cc.longitude END) AS longitude,
       CASE WHEN r.level = 'county' THEN cp.population
            WHEN r.level = 'state' AND r.state_fips IS NOT NULL
                THEN (SELECT sum(population) FROM county_pop WHERE left(fips, 2) = r.state_fips)
       END AS population
FROM ranked r
LEFT JOIN coords c ON c.nk = r.nk
LEFT JOIN stage.us_state_names sn ON sn.fips = r.state_fips AND r.country = 'US'
LEFT JOIN county_pop cp ON cp.fips = r.county_fips
LEFT JOIN country_coords cc ON cc.name = r.country
WHERE r.rn = 1;

-- Surrogate keys: dense and deterministic (same input, same keys), in a reading order.
CREATE OR REPLACE TABLE stage.region_keys AS
SELECT CAST(row_number() OVER (
           ORDER BY CASE level WHEN 'country' THEN 1 WHEN 'state' THEN 2 ELSE 3 END,
                    country_region, province_state NULLS FIRST, county NULLS FIRST, nk)
       AS INTEGER) AS region_key, *
FROM stage.regions;

CREATE OR REPLACE TABLE star.dim_region AS
SELECT region_key, level, country_region, province_state, county, fips, state_abbr,
       CAST(latitude AS DOUBLE) AS latitude, CAST(longitude AS DOUBLE) AS longitude,
       CAST(population AS BIGINT) AS population
FROM stage.region_keys
ORDER BY region_key;

-- The rows used, keyed as the fact is: a view, read once by each side of the join below.
CREATE OR REPLACE VIEW stage.obs_keyed AS
SELECT CAST(year(o.obs_date) * 10000 + month(o.obs_date) * 100 + day(o.obs_date) AS INTEGER)
           AS date_key, k.region_key, o.source, o.confirmed, o.deaths, o.recovered, o.active,
       o.nyt_cases, o.nyt_deaths, o.positive, o.negative, o.hospitalized_currently,
       o.hospitalized, o.hospitalized_discharged
FROM stage.obs_final o
JOIN (SELECT p.place_id, k.region_key
      FROM stage.places p JOIN stage.region_keys k ON k.nk = p.nk) k
  ON k.place_id = o.place_id
WHERE o.reason IS NULL;

-- An incremental run recomputes the new days (prev.days) from the new JHU rows and the facts
-- the other sources gave those days before; the other days are added from the previous star
-- afterwards (incremental.keep_facts). On a full run prev.fact and prev.days are empty.
-- Unordered: the export sorts what it writes.
-- A source gives a (day, place) one row at most (stage.superseded): so JHU's rows (nearly all
-- of them) are joined to the other sources' rows, merged by day and place, instead of
-- grouping every row. greatest() skips NULLs as max() does: the same result as one GROUP BY
-- over all rows, which took 43 s instead of 23 s on 43M rows (bench x10).
CREATE OR REPLACE TABLE star.fact_covid AS
SELECT coalesce(j.date_key, o.date_key) AS date_key,
       coalesce(j.region_key, o.region_key) AS region_key,
       greatest(j.confirmed, o.confirmed) AS confirmed,
       greatest(j.deaths, o.deaths) AS deaths,
       greatest(j.recovered, o.recovered) AS recovered,
       greatest(j.active, o.active) AS active,
       greatest(j.nyt_cases, o.nyt_cases) AS nyt_cases,
       greatest(j.nyt_deaths, o.nyt_deaths) AS nyt_deaths,
       greatest(j.positive, o.positive) AS positive,
       greatest(j.negative, o.negative) AS negative,
       greatest(j.hospitalized_currently, o.hospitalized_currently) AS hospitalized_currently,
       greatest(j.hospitalized, o.hospitalized) AS hospitalized,
       greatest(j.hospitalized_discharged, o.hospitalized_discharged) AS hospitalized_discharged
FROM (SELECT * FROM stage.obs_keyed WHERE source = 'enigma_jhu') j
FULL JOIN (
    SELECT date_key, region_key,
           max(confirmed) AS confirmed, max(deaths) AS deaths, max(recovered) AS recovered,
           max(active) AS active, max(nyt_cases) AS nyt_cases, max(nyt_deaths) AS nyt_deaths,
           max(positive) AS positive, max(negative) AS negative,
           max(hospitalized_currently) AS hospitalized_currently,
           max(hospitalized) AS hospitalized,
           max(hospitalized_discharged) AS hospitalized_discharged
    FROM (
        SELECT date_key, region_key, confirmed, deaths, recovered, active, nyt_cases,
               nyt_deaths, positive, negative, hospitalized_currently, hospitalized,
               hospitalized_discharged
        FROM stage.obs_keyed WHERE source <> 'enigma_jhu'
        UNION ALL
        SELECT p.date_key, k.region_key, p.confirmed, p.deaths, p.recovered, p.active,
               p.nyt_cases, p.nyt_deaths, p.positive, p.negative, p.hospitalized_currently,
               p.hospitalized, p.hospitalized_discharged
        FROM prev.fact p JOIN stage.region_keys k ON k.nk = p.nk
        WHERE p.date_key IN (SELECT date_key FROM prev.days))
    GROUP BY date_key, region_key
) o ON o.date_key = j.date_key AND o.region_key = j.region_key;

-- A full calendar. ISO weekday from the distance to a known Monday (2000-01-03), which
-- every engine computes alike; names from the date format, not locale-dependent functions.
CREATE OR REPLACE TABLE stage.calendar AS
WITH bounds AS (  -- the days of the observations used, and of the facts kept (integer keys)
    SELECT min(obs_date) AS lo, max(obs_date) AS hi FROM stage.obs_final WHERE reason IS NULL
    UNION ALL
    SELECT make_date(min(date_key) // 10000, min(date_key) // 100 % 100, min(date_key) % 100),
           make_date(max(date_key) // 10000, max(date_key) // 100 % 100, max(date_key) % 100)
    FROM prev.fact_keyed)
SELECT CAST(d AS DATE) AS d
FROM (SELECT unnest(generate_series((SELECT min(lo) FROM bounds), (SELECT max(hi) FROM bounds),
                                    INTERVAL 1 DAY)) AS d);

CREATE OR REPLACE TABLE star.dim_date AS
SELECT CAST(strftime(d, '%Y%m%d') AS INTEGER) AS date_key,
       d AS date,
       CAST(year(d) AS INTEGER) AS year,
       CAST(quarter(d) AS INTEGER) AS quarter,
       CAST(month(d) AS INTEGER) AS month,
       strftime(d, '%B') AS month_name,
       CAST(day(d) AS INTEGER) AS day_of_month,
       CAST(((date_diff('day', DATE '2000-01-03', d) % 7) + 7) % 7 + 1 AS INTEGER) AS day_of_week,
       strftime(d, '%A') AS day_name,
       CAST(weekofyear(d) AS INTEGER) AS iso_week,
       ((date_diff('day', DATE '2000-01-03', d) % 7) + 7) % 7 >= 5 AS is_weekend
FROM stage.calendar
ORDER BY date_key;

CREATE OR REPLACE TABLE star.dim_hospital AS
SELECT CAST(row_number() OVER (ORDER BY h.objectid, h.hospital_name, h.hq_address) AS INTEGER)
           AS hospital_key,
       h.objectid, h.hospital_name, h.hospital_type, h.hq_address, h.hq_address1, h.hq_city,
       h.hq_state, h.hq_zip_code, h.county_name, h.state_name, h.state_fips, h.cnty_fips,
       CASE WHEN regexp_full_match(trim(h.fips), '[0-9]{4,5}') THEN lpad(trim(h.fips), 5, '0')
       END AS fips,
       h.num_licensed_beds, h.num_staffed_beds, h.num_icu_beds, h.adult_icu_beds,
       h.pedi_icu_beds, h.bed_utilization, h.avg_ventilator_usage,
       h.potential_increase_in_bed_capac, h.latitude, h.longtitude AS longitude,
       k.region_key
FROM (SELECT *, CASE WHEN regexp_full_match(trim(fips), '[0-9]{4,5}')
                      THEN 'US|county|' || lpad(trim(fips), 5, '0') END AS nk
      FROM stage.hospital_beds) h
LEFT JOIN stage.region_keys k ON k.nk = h.nk
WHERE h.bad = ''
ORDER BY hospital_key;
