#!/usr/bin/env bash
# coturn (Debian package coturn) for the relay tests and benchmark: turnutils_uclient, a TURN
# client nobody here wrote, and turnserver, the reference server test/bench/relay runs against.
# Installs the package when missing (as root); Debian's policy-rc.d or the absence of systemd
# keeps its system service stopped, and nothing here starts it: the benchmark runs its own
# turnserver on 127.0.0.1 from a temporary directory.
# Prints the path of turnutils_uclient on stdout (scripts/test.sh exports it as
# POSTERN_TEST_UCLIENT); progress on stderr, its last line saying why when this fails.
set -euo pipefail
log() { echo "[coturn] $*" >&2; }

if ! command -v turnutils_uclient >/dev/null 2>&1 || ! command -v turnserver >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "coturn is not installed and this is not root, so it cannot be installed"
    exit 1
  fi
  log "installing coturn from Debian packages (turnutils_uclient, turnserver)"
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -qq -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y coturn >&2; then
    "${apt[@]}" update >&2 && "${apt[@]}" install -y coturn >&2 || { log "apt-get could not install coturn"; exit 1; }
  fi
fi
command -v turnutils_uclient || { log "turnutils_uclient is still missing after installing coturn"; exit 1; }
