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
if url=$(bash scripts/services/postgres.sh); then
  export POSTERN_TEST_DATABASE="$url"
else
  echo "PostgreSQL unavailable: the PostgreSQL half of the storage suites is skipped" >&2
fi
if url=$(bash scripts/services/nats.sh); then
  export POSTERN_TEST_NATS="$url"
else
  echo "NATS unavailable: the cluster tests (test/cluster, NatsBus) are skipped" >&2
fi
source scripts/services/runtimes.sh

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json

echo "== tests"
exec npx vitest run "$@"
