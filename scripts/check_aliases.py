#!/usr/bin/env python3
"""Verify country_aliases.csv / province_aliases.csv against the JHU daily reports.

Usage:
    python check_aliases.py /path/to/enigma-jhu/csv [--verbose]

Stdlib only.  Applies the two maps to every row of every daily report exactly as
the pipeline does (trim every value -> country alias -> province alias) and checks:

  (a) every canonical Country_Region produced appears as a Country_Region in
      the last report (08-26-2020.csv) or is in ALLOWED_COUNTRIES (with a reason);
  (b) no file has two different raw (country, province, admin2) keys that
      collapse onto the same (country_region, province_state, county) target,
      unless the collision is listed in KNOWN_DUPLICATES (with a reason);
  (c) every US county target (state, county) in province_aliases.csv exists as
      (Province_State, Admin2) in some header-version-3/4 report.

plus consistency checks on the alias files themselves (format, sorting, no
identity rows, no chained aliases, untrimmed keys, province targets that exist
in the later reports).  Prints a summary; exits 1 on any violation.
"""
import collections
import csv
import os
import re
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "covidlake",
                    "transform", "reference")
COUNTRY_ALIASES = os.path.join(HERE, "country_aliases.csv")
PROVINCE_ALIASES = os.path.join(HERE, "province_aliases.csv")
LAST_FILE = "08-26-2020.csv"

# Canonical names that intentionally differ from the 08-26 spelling.
ALLOWED_COUNTRIES = {
    "South Korea": "canonical rename of 'Korea, South' (project convention)",
    "Taiwan": "canonical rename of 'Taiwan*' (project convention)",
}

# Non-US province targets that do not occur in any header-3/4 report.
ALLOWED_PROVINCES = {
    ("United Kingdom", "Guernsey"): "reported as a country 03-14..03-21 alongside Jersey and "
    "UK/'Channel Islands'; merging into 'Channel Islands' would collide",
    ("United Kingdom", "Jersey"): "as Guernsey",
}

# Collisions that are genuine duplicate reports of the same place in one file.
# key: target (country_region, province_state, county)
# value: (set of raw (country, province, admin2) keys allowed to collide, reason)
_TERRITORY = ("territory reported both as a country and as a province of its sovereign "
              "in the same file during the mid-March 2020 transition (duplicate report)")
_RENAMED = ("country renamed by JHU while the row under the old spelling was left in the same "
            "file (stale, mostly zero) during 03-16..03-21 (duplicate report)")
KNOWN_DUPLICATES = {
    ("China", "Gansu", ""): ({("Mainland China", "Gansu", ""), ("China", "Gansu", "")},
                             "03-11/03-12: stale zero 'Mainland China' row next to the new 'China' row"),
    ("China", "Hebei", ""): ({("Mainland China", "Hebei", ""), ("China", "Hebei", "")},
                             "03-11/03-12: stale zero 'Mainland China' row next to the new 'China' row"),
    ("France", "French Guiana", ""): ({("French Guiana", "", ""), ("France", "French Guiana", ""),
                                       ("France", "Fench Guiana", "")}, _TERRITORY),
    ("France", "Guadeloupe", ""): ({("Guadeloupe", "", ""), ("France", "Guadeloupe", "")}, _TERRITORY),
    ("France", "Mayotte", ""): ({("Mayotte", "", ""), ("France", "Mayotte", "")}, _TERRITORY),
    ("France", "Reunion", ""): ({("Reunion", "", ""), ("France", "Reunion", "")}, _TERRITORY),
    ("Netherlands", "Aruba", ""): ({("Aruba", "", ""), ("Netherlands", "Aruba", "")}, _TERRITORY),
    ("Denmark", "Greenland", ""): ({("Greenland", "", ""), ("Denmark", "Greenland", "")}, _TERRITORY),
    ("US", "Guam", ""): ({("Guam", "", ""), ("US", "Guam", "")}, _TERRITORY),
    ("US", "Puerto Rico", ""): ({("Puerto Rico", "", ""), ("US", "Puerto Rico", "")}, _TERRITORY),
    ("US", "Virgin Islands", ""): ({("US", "Virgin Islands", ""), ("US", "United States Virgin Islands", "")},
                                   "03-18/03-19: both spellings of the US Virgin Islands in one file"),
    ("Ireland", "", ""): ({("Ireland", "", ""), ("Republic of Ireland", "", "")},
                          "03-08: 'Republic of Ireland' (21) next to the previous day's 'Ireland' row (19)"),
    ("Congo (Brazzaville)", "", ""): ({("Congo (Brazzaville)", "", ""), ("Republic of the Congo", "", "")},
                                      _RENAMED),
    ("Gambia", "", ""): ({("Gambia, The", "", ""), ("The Gambia", "", "")}, _RENAMED),
    ("Bahamas", "", ""): ({("Bahamas, The", "", ""), ("The Bahamas", "", "")}, _RENAMED),
    ("Cabo Verde", "", ""): ({("Cabo Verde", "", ""), ("Cape Verde", "", "")}, _RENAMED),
}


def read_report(path):
    """Yield (header_version, country, province, admin2) with trimmed values."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        if "Country_Region" in header:
            version = 4 if "Incidence_Rate" in header else 3
            ic, ip, ia = header.index("Country_Region"), header.index("Province_State"), header.index("Admin2")
        else:
            version = 2 if "Latitude" in header else 1
            ic, ip, ia = header.index("Country/Region"), header.index("Province/State"), None
        for row in reader:
            if not any(v.strip() for v in row):
                continue
            row = [v.strip() for v in row]
            yield version, row[ic], row[ip], (row[ia] if ia is not None else "")


def load_alias_file(path, header, violations):
    with open(path, "rb") as f:
        raw = f.read()
    name = os.path.basename(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        violations.append(f"{name}: has a UTF-8 BOM")
    if b"\r" in raw:
        violations.append(f"{name}: contains CR characters (must be LF only)")
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    if rows[0] != header:
        violations.append(f"{name}: header {rows[0]} != {header}")
    body = rows[1:]
    if body != sorted(body):
        violations.append(f"{name}: rows are not sorted")
    for r in body:
        if len(r) != len(header):
            violations.append(f"{name}: bad row {r}")
        if any(v != v.strip() for v in r):
            violations.append(f"{name}: untrimmed value in {r}")
    return body


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in argv
    if len(args) != 1:
        print(__doc__)
        return 2
    data_dir = args[0]
    violations, warnings = [], []

    crows = load_alias_file(COUNTRY_ALIASES, ["raw_country_region", "country_region", "province_state"], violations)
    prows = load_alias_file(PROVINCE_ALIASES, ["country_region", "raw_province_state", "province_state", "county"],
                            violations)
    cmap, pmap = {}, {}
    for raw, country, prov in crows:
        if raw in cmap:
            violations.append(f"country_aliases: duplicate key {raw!r}")
        if raw == country and not prov:
            violations.append(f"country_aliases: identity row {raw!r}")
        cmap[raw] = (country, prov)
    for country, raw, prov, county in prows:
        if (country, raw) in pmap:
            violations.append(f"province_aliases: duplicate key {(country, raw)!r}")
        if raw == prov and not county:
            violations.append(f"province_aliases: identity row {(country, raw)!r}")
        pmap[(country, raw)] = (prov, county)
    for raw, (country, _) in cmap.items():
        if country in cmap:
            violations.append(f"country_aliases: chained alias {raw!r} -> {country!r} is itself an alias key")
    for (country, raw), (prov, _) in pmap.items():
        if country in cmap:
            violations.append(f"province_aliases: country {country!r} is not canonical (it is a raw alias key)")
        if (country, prov) in pmap and prov != raw:
            violations.append(f"province_aliases: chained alias {(country, raw)!r} -> {prov!r}")

    files = sorted((f for f in os.listdir(data_dir) if re.fullmatch(r"\d\d-\d\d-\d{4}\.csv", f)),
                   key=lambda f: (f[6:10], f[0:2], f[3:5]))
    if LAST_FILE not in files:
        print(f"ERROR: {LAST_FILE} not found in {data_dir}")
        return 2

    last_countries = {c for _, c, _, _ in read_report(os.path.join(data_dir, LAST_FILE))}
    versions = collections.Counter()
    n_rows = 0
    used_c, used_p = collections.Counter(), collections.Counter()
    produced_countries = collections.Counter()
    late_pairs = set()        # (country, province) after mapping, header versions 3/4
    us_counties = set()       # (Province_State, Admin2) raw, header versions 3/4
    us_states = set()
    dup_hits = collections.defaultdict(list)
    same_raw_repeats = collections.Counter()
    collisions = []

    for fname in files:
        targets = collections.defaultdict(list)
        for version, country, prov, admin2 in read_report(os.path.join(data_dir, fname)):
            versions[version] += 1
            n_rows += 1
            raw_key = (country, prov, admin2)
            if version >= 3 and country == "US":
                us_counties.add((prov, admin2))
                us_states.add(prov)
            if country in cmap:
                used_c[country] += 1
                country, cprov = cmap[country]
                if cprov:
                    prov = cprov
            county = admin2
            if (country, prov) in pmap:
                used_p[(country, prov)] += 1
                prov, pcounty = pmap[(country, prov)]
                if pcounty:
                    if admin2 and admin2 != pcounty:
                        violations.append(f"{fname}: alias county {pcounty!r} overrides Admin2 {admin2!r} "
                                          f"for {raw_key!r}")
                    county = pcounty
            produced_countries[country] += 1
            if version >= 3:
                late_pairs.add((country, prov))
            targets[(country, prov, county)].append(raw_key)
        for target, raws in targets.items():
            distinct = set(raws)
            if len(raws) > len(distinct):
                same_raw_repeats[fname] += len(raws) - len(distinct)
            if len(distinct) < 2:
                continue
            allowed = KNOWN_DUPLICATES.get(target)
            if allowed and distinct <= allowed[0]:
                dup_hits[target].append(fname[:5])
            else:
                collisions.append((fname, target, sorted(distinct)))

    # (a) canonical countries
    for country in sorted(produced_countries):
        if country not in last_countries and country not in ALLOWED_COUNTRIES:
            violations.append(f"(a) country {country!r} not in {LAST_FILE} and not allow-listed "
                              f"({produced_countries[country]} rows)")
    for raw, (country, _) in sorted(cmap.items()):
        if country not in last_countries and country not in ALLOWED_COUNTRIES:
            violations.append(f"(a) country alias target {country!r} (from {raw!r}) not in {LAST_FILE} "
                              f"and not allow-listed")
    for country in ALLOWED_COUNTRIES:
        if country in last_countries:
            warnings.append(f"(a) allow-listed country {country!r} is in {LAST_FILE} already")
    # (b) collisions
    for fname, target, raws in collisions:
        violations.append(f"(b) {fname}: {len(raws)} raw keys collapse onto {target!r}: {raws}")
    for target in KNOWN_DUPLICATES:
        if target not in dup_hits:
            warnings.append(f"(b) known duplicate {target!r} never occurred")
    # (c) US county targets
    for (country, raw), (prov, county) in sorted(pmap.items()):
        if country == "US":
            if prov == "" and not county:
                continue  # a national total (e.g. 'Recovered') mapped to the country level
            if prov not in us_states:
                violations.append(f"(c) US state target {prov!r} (from {raw!r}) is not a Province_State "
                                  f"in header versions 3-4")
            if county and (prov, county) not in us_counties:
                violations.append(f"(c) US county target {(prov, county)!r} (from {raw!r}) not found as "
                                  f"(Province_State, Admin2) in header versions 3-4")
        elif prov and (country, prov) not in late_pairs and (country, prov) not in ALLOWED_PROVINCES:
            violations.append(f"province target {(country, prov)!r} (from {raw!r}) never occurs in "
                              f"header versions 3-4 and is not allow-listed")
    for raw, (country, prov) in sorted(cmap.items()):
        if prov and (country, prov) not in late_pairs and (country, prov) not in ALLOWED_PROVINCES:
            violations.append(f"country alias {raw!r} -> {(country, prov)!r}: province never occurs in "
                              f"header versions 3-4 and is not allow-listed")
    # unused alias rows
    for raw in sorted(set(cmap) - set(used_c)):
        warnings.append(f"country alias {raw!r} never used")
    for key in sorted(set(pmap) - set(used_p)):
        warnings.append(f"province alias {key!r} never used")

    print(f"files: {len(files)} ({files[0]} .. {files[-1]}); rows: {n_rows}; "
          f"rows by header version: {dict(sorted(versions.items()))}")
    print(f"country aliases: {len(cmap)} rows, {len(used_c)} used, {sum(used_c.values())} data rows rewritten")
    print(f"province aliases: {len(pmap)} rows, {len(used_p)} used, {sum(used_p.values())} data rows rewritten")
    print(f"canonical countries produced: {len(produced_countries)} "
          f"({len(last_countries)} in {LAST_FILE}); allow-listed: {sorted(ALLOWED_COUNTRIES)}")
    print(f"US (Province_State, Admin2) pairs in header versions 3-4: {len(us_counties)}")
    print(f"known duplicate reports (allowed collisions): {sum(len(v) for v in dup_hits.values())} "
          f"file/target pairs")
    for target in sorted(dup_hits):
        days = dup_hits[target]
        print(f"  {target!r}: {len(days)} files ({days[0]}..{days[-1]})")
    if same_raw_repeats:
        print(f"note: identical raw keys repeated within a file (source duplicates, not caused by the maps): "
              f"{sum(same_raw_repeats.values())} in {len(same_raw_repeats)} files")
        if verbose:
            for fname, n in sorted(same_raw_repeats.items()):
                print(f"  {fname}: {n}")
    for w in warnings:
        print(f"WARNING: {w}")
    for v in violations:
        print(f"VIOLATION: {v}")
    print(f"result: {'FAIL' if violations else 'OK'} ({len(violations)} violations, {len(warnings)} warnings)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
