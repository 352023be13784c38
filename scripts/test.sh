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
# PostgreSQL is not optional: every storage suite must also pass on it (the scale-out backend).
if url=$(bash scripts/services/postgres.sh); then
  export POSTERN_TEST_DATABASE="$url"
else
  echo "PostgreSQL could not be found or started (see above); the storage suites must run on it too. Run this as root on Debian, or start PostgreSQL on 127.0.0.1:5432." >&2
  exit 1
fi
if url=$(bash scripts/services/nats.sh); then
  export POSTERN_TEST_NATS="$url"
else
  echo "NATS unavailable: the cluster tests (test/cluster, NatsBus) are skipped" >&2
fi
# Rotation targets (gateway/rotation/plugins, test/rotation): real servers on loopback.
if url=$(bash scripts/services/mariadb.sh); then
  export POSTERN_TEST_MYSQL="$url"
else
  echo "MariaDB unavailable: the MySQL/MariaDB rotation tests are skipped" >&2
fi
if address=$(bash scripts/services/sshd.sh); then
  export POSTERN_TEST_SSH="$address"
else
  echo "sshd unavailable: the SSH rotation tests are skipped" >&2
fi
if ldap=$(bash scripts/services/slapd.sh); then
  export POSTERN_TEST_LDAP="$ldap"
else
  echo "slapd unavailable: the LDAP rotation tests are skipped" >&2
fi
# The relay tests also run coturn's turnutils_uclient against Postern's TURN server.
bash scripts/services/coturn-tools.sh >/dev/null || echo "coturn tools unavailable: the turnutils_uclient relay test is skipped" >&2
# The relay's browser interop test drives Debian's Chromium (headless, loopback only).
if path=$(bash scripts/services/chromium.sh); then
  export POSTERN_TEST_CHROMIUM="$path"
else
  echo "Chromium unavailable: the browser relay test (test/relay) is skipped" >&2
fi
source scripts/services/runtimes.sh

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json

echo "== tests"
exec npx vitest run "$@"
