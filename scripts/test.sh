#!/usr/bin/env bash
# The one test command (README, .ci/run): install dependencies, find or start the real servers
# the suite needs, then run vitest. Works on a fresh Debian machine with Node 20.19+.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "== services"
# service SCRIPT VAR WHAT WHY: runs scripts/services/SCRIPT, which finds or installs and starts a
# server on loopback and prints where it is; exports that as VAR for the tests. When it cannot,
# the tests that need it skip themselves, and this says which (WHY).
service() {
  local value
  if value=$(bash "scripts/services/$1"); then
    export "$2=$value"
  else
    echo "$3 unavailable: $4" >&2
    return 1
  fi
}
# PostgreSQL is not optional: every storage suite must also pass on it (the scale-out backend).
service postgres.sh POSTERN_TEST_DATABASE PostgreSQL "the storage suites must run on it too (see above); run this as root on Debian, or start PostgreSQL on 127.0.0.1:5432." || exit 1
service nats.sh POSTERN_TEST_NATS NATS "the cluster tests (test/cluster, NatsBus) are skipped" || true
# Rotation targets (gateway/rotation/plugins, test/rotation): real servers on loopback.
service mariadb.sh POSTERN_TEST_MYSQL MariaDB "the MySQL/MariaDB rotation tests are skipped" || true
service sshd.sh POSTERN_TEST_SSH sshd "the SSH rotation tests are skipped" || true
service slapd.sh POSTERN_TEST_LDAP slapd "the LDAP rotation tests are skipped" || true
# The relay tests also run coturn's turnutils_uclient against Postern's TURN server.
bash scripts/services/coturn-tools.sh >/dev/null || echo "coturn tools unavailable: the turnutils_uclient relay test is skipped" >&2
# The relay's browser interop test drives Debian's Chromium (headless, loopback only).
service chromium.sh POSTERN_TEST_CHROMIUM Chromium "the browser interop tests (test/relay, core/webrtc) are skipped" || true
source scripts/services/runtimes.sh

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json

echo "== tests"
exec npx vitest run "$@"
