#!/usr/bin/env bash
# The one test command (README, .ci/run): take Node 24 (from the npm registry when the machine's
# node is another version), install dependencies, find or start the real servers the suite
# needs, type-check, then run vitest on Node 24.
#
# Under CI (CI set, and not "false" or "0") every server is required: one that cannot be
# installed or started fails the run here, named with its reason, and the tests themselves
# refuse to skip (test/support/services.ts). Elsewhere its tests skip, and the run ends with one
# line saying what was skipped and why.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=false
case "${CI:-}" in ''|false|0) ;; *) ci=true ;; esac

echo "== node"
source scripts/node.sh
postern_use_node 24 24
# test/node-runtime.test.ts checks that the tests, and what they spawn, run on this one.
export POSTERN_TEST_NODE=$(node --version)

echo "== dependencies"
postern_dependencies

echo "== services"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
skipped=()  # "server (what needs it) — why"
missing=()  # the same, under CI

# service SCRIPT VAR SERVER WHAT: runs scripts/services/SCRIPT, which finds or installs and
# starts a server on loopback and prints where it is; exports that as VAR for the tests. Its
# progress still reaches the terminal; its last line there is the reason when it fails. A server
# it starts must not keep the script's stdout or stderr open (they redirect to their own logs), or
# this would wait for that server to exit.
service() {
  local script=$1 var=$2 server=$3 what=$4 value reason
  if value=$( { bash "scripts/services/$script" 2>&1 1>&3 3>&- | tee "$work/$script.log" >&2; exit "${PIPESTATUS[0]}"; } 3>&1 ); then
    export "$var=$value"
    return 0
  fi
  # The scripts end with a line saying what failed, and add what they think happens next
  # ("…; the tests are skipped"), which under CI is no longer true: keep only the cause.
  reason=$( (grep -v '^[[:space:]]*$' "$work/$script.log" || true) | tail -1 | sed -E 's/^\[[^]]*\] //; s/[;,]? *(the |its |and )?[^;,]*(are|is|will be) skipped.*$//')
  [ -n "$reason" ] || reason="scripts/services/$script failed without saying why"
  if [ "$ci" = true ]; then missing+=("$server ($what) — $reason")
  else skipped+=("$server ($what) — $reason"); fi
  return 1
}

# PostgreSQL is never optional: every storage suite must also pass on it (the scale-out backend).
if ! service postgres.sh POSTERN_TEST_DATABASE PostgreSQL "every storage suite, the scale-out backend"; then
  echo "npm test: PostgreSQL is required and could not be found or started: ${skipped[*]:-${missing[*]}}. Run this as root on Debian, or start PostgreSQL on 127.0.0.1:5432." >&2
  exit 1
fi
service nats.sh POSTERN_TEST_NATS NATS "cluster tests and NatsBus" || true
# Rotation targets (gateway/rotation/plugins, test/rotation): real servers on loopback.
service mariadb.sh POSTERN_TEST_MYSQL MariaDB "MySQL/MariaDB rotation tests" || true
service sshd.sh POSTERN_TEST_SSH sshd "SSH rotation tests" || true
service slapd.sh POSTERN_TEST_LDAP slapd "LDAP rotation tests" || true
# coturn's turnutils_uclient, a TURN client nobody here wrote, against Postern's TURN server.
service coturn-tools.sh POSTERN_TEST_UCLIENT "coturn's turnutils_uclient" "relay interop tests" || true
# The relay's browser interop test drives Debian's Chromium (headless, loopback only).
service chromium.sh POSTERN_TEST_CHROMIUM Chromium "browser interop tests in test/relay and node/webrtc" || true
if [ "${#missing[@]}" -gt 0 ]; then
  echo >&2
  echo "npm test: CI=$CI requires every server the suite uses, and these could not be installed or started:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "Fix the machine (the scripts in scripts/services/ say what they tried, above), or run without CI to let those tests skip." >&2
  exit 1
fi
source scripts/services/runtimes.sh

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json

# Lint and format with the rules in biome.json; `npx biome check --write .` fixes what it can.
echo "== lint"
npx biome ci --reporter=summary .

echo "== tests on Node $(node --version)"
# The JSON report only feeds the skip count below; people read the default reporter, or theirs.
reporters=(--reporter=default)
case " $* " in *" --reporter"*) reporters=() ;; esac
status=0
npx vitest run "${reporters[@]}" --reporter=json --outputFile.json="$work/vitest.json" "$@" || status=$?

# One line at the end, where it is seen: the servers whose tests were skipped, and how many tests
# vitest skipped in all (the servers' suites and tests that skip for other stated reasons).
vitest_skipped=$(node -e '
  try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log((r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)); }
  catch { console.log("?"); }' "$work/vitest.json")
line=""
[ "${#skipped[@]}" -gt 0 ] && line=$(printf '%s; ' "${skipped[@]}")
case "$vitest_skipped" in
  0) [ -n "$line" ] || line="nothing; every server the suite uses ran" ;;
  '?') line="${line}vitest wrote no report" ;;
  *) line="${line}vitest skipped $vitest_skipped tests in all" ;;
esac
echo "skipped: ${line%; }"
exit "$status"
