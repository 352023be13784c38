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
# Rotation tests (test/rotation, gateway/rotation/plugins) need PostgreSQL to check passwords,
# which a server configured with `trust` for 127.0.0.1 does not do. Members of the group role
# postern_password_login get a scram-sha-256 rule ahead of everything else in pg_hba.conf; no
# other role's access changes. Only on a local cluster this script can manage (root).
require_passwords_for_test_roles() {
  [ "$(id -u)" = 0 ] || return 0
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  local hba
  hba=$(su postgres -c "psql -qAtc 'show hba_file'" 2>/dev/null) || return 0
  [ -f "$hba" ] || return 0
  su postgres -c "psql -qAtc \"DO \\\$\\\$BEGIN CREATE ROLE postern_password_login NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\\\$\\\$\"" >/dev/null
  if ! grep -q '+postern_password_login' "$hba"; then
    log "requiring passwords for members of postern_password_login in $hba"
    local tmp
    tmp=$(mktemp)
    {
      echo "# Added by Postern's test script: rotation tests need real password checks for these roles."
      echo "host all +postern_password_login 127.0.0.1/32 scram-sha-256"
      echo "host all +postern_password_login ::1/128 scram-sha-256"
      cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba"
    rm -f "$tmp"
    su postgres -c "psql -qAtc 'select pg_reload_conf()'" >/dev/null
  fi
}

# Rotation tests check that the gateway uses TLS when the server offers it and verifies the
# certificate against a CA set on the resource. On a local cluster this script manages (root),
# turn TLS on with a test CA (kept in $PG_TLS_DIR; ca.crt is what tests verify against) and a
# server certificate for 127.0.0.1/localhost. A reload is enough (PostgreSQL 10+); clients that
# do not ask for TLS keep connecting in plaintext.
PG_TLS_DIR="${POSTERN_PG_TLS_DIR:-/var/lib/postern-test/postgres-tls}"
enable_tls_for_tests() {
  [ "$(id -u)" = 0 ] || return 0
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  command -v openssl >/dev/null 2>&1 || return 0
  [ "$(su postgres -c "psql -qAtc 'show ssl'" 2>/dev/null)" = off ] || return 0
  log "turning TLS on with a test CA in $PG_TLS_DIR"
  mkdir -p "$PG_TLS_DIR"
  chmod 755 "$PG_TLS_DIR"
  (
    cd "$PG_TLS_DIR"
    if [ ! -s ca.crt ] || [ ! -s server.crt ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Postern test CA" -keyout ca.key -out ca.crt 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.crt 2>/dev/null
      rm -f server.csr server.ext
    fi
    chmod 600 ca.key server.key
    chmod 644 ca.crt server.crt
    chown postgres server.key server.crt
  ) || { log "could not make the test TLS certificates"; return 0; }
  su postgres -c "psql -qAtc \"ALTER SYSTEM SET ssl_cert_file = '$PG_TLS_DIR/server.crt'\"" >/dev/null
  su postgres -c "psql -qAtc \"ALTER SYSTEM SET ssl_key_file = '$PG_TLS_DIR/server.key'\"" >/dev/null
  su postgres -c "psql -qAtc \"ALTER SYSTEM SET ssl = on\"" >/dev/null
  su postgres -c "psql -qAtc 'select pg_reload_conf()'" >/dev/null
}

# The tests also drive the client tools (psql through a tunnel, pg_dump for the zero-knowledge
# check); a server that runs elsewhere (a container) may come without them.
if ! command -v psql >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing postgresql-client from Debian packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >&2 || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >&2; } || log "postgresql-client could not be installed"
  else
    log "psql/pg_dump missing and not root: tests that use them will fail"
  fi
fi

for url in "${candidates[@]}"; do
  [ -n "$url" ] || continue
  if try_url "$url"; then require_passwords_for_test_roles; enable_tls_for_tests; log "using the server at ${url%%@*}@…"; echo "$url"; exit 0; fi
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
require_passwords_for_test_roles
enable_tls_for_tests
for url in "${candidates[@]:1}"; do
  if try_url "$url"; then log "started; using ${url%%@*}@…"; echo "$url"; exit 0; fi
done
log "PostgreSQL is running but refuses the test connection"
exit 1
