#!/usr/bin/env bash
# Find a PostgreSQL server on 127.0.0.1:5432 that the tests may use, or install and start one
# (Debian package, loopback only). Prints the connection URL on stdout; progress on stderr.
set -euo pipefail

PG_TEST_PASSWORD="${PG_TEST_PASSWORD:-postern-test}"
log() { echo "[postgres] $*" >&2; }

try_url() {
  node -e '
    const pg = require("pg");
    const c = new pg.Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    c.connect().then(() => c.query("select 1")).then(() => c.end()).then(() => process.exit(0), () => process.exit(1));
  ' "$1" >/dev/null 2>&1
}

candidates=(
  "${POSTERN_TEST_DATABASE:-}"
  "postgres://postgres@127.0.0.1:5432/postgres"
  "postgres://postgres:${PG_TEST_PASSWORD}@127.0.0.1:5432/postgres"
)
for url in "${candidates[@]}"; do
  [ -n "$url" ] || continue
  if try_url "$url"; then log "using the server at ${url%%@*}@…"; echo "$url"; exit 0; fi
done

if [ "$(id -u)" != 0 ]; then
  log "no usable PostgreSQL on 127.0.0.1:5432 and not root, so it cannot be installed; PostgreSQL tests will be skipped"
  exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  log "starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '${PG_TEST_PASSWORD}'\"" >&2
for url in "${candidates[@]:1}"; do
  if try_url "$url"; then log "started; using ${url%%@*}@…"; echo "$url"; exit 0; fi
done
log "PostgreSQL is running but refuses the test connection"
exit 1
