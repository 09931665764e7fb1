-- Every source row that was not used, with why: exported to quarantine/ beside the star.
CREATE OR REPLACE TABLE stage.rejected_rows AS
SELECT source AS source_table, file, src_row, reason, obs_date, country, level, province,
       county, fips
FROM stage.obs_final WHERE reason IS NOT NULL
UNION ALL
SELECT 'hospital_beds', _file, CAST(NULL AS BIGINT), 'unparseable value in ' || bad,
       CAST(NULL AS DATE), 'US', 'county', state_name, county_name, fips
FROM stage.hospital_beds WHERE bad <> '';
