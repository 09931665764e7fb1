-- Every source row that was not used, with why: exported to rejects/ beside the star.
-- stage.malformed holds the CSV lines the reader skipped (a wrong number of fields).
CREATE OR REPLACE TABLE stage.rejected_rows AS
SELECT o.source AS source_table, o.file, o.src_row, o.reason, o.obs_date, p.country, p.level,
       p.province, p.county, p.fips, CAST(NULL AS VARCHAR) AS raw_line
FROM stage.obs_final o JOIN stage.places p ON p.place_id = o.place_id
WHERE o.reason IS NOT NULL
UNION ALL
SELECT * FROM prev.rejects  -- rows rejected before, that an incremental run did not read
UNION ALL
SELECT 'hospital_beds', _file, CAST(NULL AS BIGINT), 'unparseable value in ' || bad,
       CAST(NULL AS DATE), 'US', 'county', state_name, county_name, fips, CAST(NULL AS VARCHAR)
FROM stage.hospital_beds WHERE bad <> ''
UNION ALL
SELECT source_table, file, line, reason, CAST(NULL AS DATE), CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR), raw_line
FROM stage.malformed;
