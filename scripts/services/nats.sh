#!/usr/bin/env bash
# Find a NATS server on 127.0.0.1:4222 that the tests may use, or install and start one
# (Debian package nats-server, loopback only). Prints the URL on stdout; progress on stderr.
# Used by scripts/test.sh for the cluster tests (test/cluster, router/adapters/node/nats-bus).
set -euo pipefail

NATS_HOST=127.0.0.1
NATS_PORT="${POSTERN_NATS_PORT:-4222}"
NATS_URL="nats://${NATS_HOST}:${NATS_PORT}"
NATS_LOG="${POSTERN_NATS_LOG:-${TMPDIR:-/tmp}/postern-nats-server.log}"
log() { echo "[nats] $*" >&2; }

# A NATS server greets every new connection with an `INFO {...}` line before anything else.
is_nats() {
  node -e '
    const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
    let buf = "";
    const done = (ok) => { s.destroy(); process.exit(ok ? 0 : 1); };
    s.setTimeout(2000, () => done(false));
    s.on("error", () => done(false));
    s.on("data", (d) => { buf += d; if (buf.includes("\n")) done(buf.startsWith("INFO ")); });
  ' "$NATS_HOST" "$NATS_PORT" >/dev/null 2>&1
}

if is_nats; then log "using the server at $NATS_URL"; echo "$NATS_URL"; exit 0; fi

bin=$(command -v nats-server || true)
[ -z "$bin" ] && [ -x /usr/sbin/nats-server ] && bin=/usr/sbin/nats-server
if [ -z "$bin" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "no NATS server on $NATS_URL and not root, so nats-server cannot be installed; cluster tests will be skipped"
    exit 1
  fi
  log "installing nats-server from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nats-server >&2
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
fi

log "starting $bin on $NATS_URL (loopback only; log $NATS_LOG)"
# setsid + nohup: the broker outlives this script and the test run, like the PostgreSQL cluster.
setsid nohup "$bin" -a "$NATS_HOST" -p "$NATS_PORT" >>"$NATS_LOG" 2>&1 </dev/null &
for _ in $(seq 1 50); do
  if is_nats; then log "started; using $NATS_URL"; echo "$NATS_URL"; exit 0; fi
  sleep 0.2
done
log "nats-server did not come up on $NATS_URL; see $NATS_LOG"
exit 1
