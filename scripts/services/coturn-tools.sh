#!/usr/bin/env bash
# coturn's client tools (turnutils_uclient) for the relay tests: a TURN client nobody here wrote.
# Installs Debian's coturn package when missing (as root); its own turnserver is not started
# (Debian's policy-rc.d or the absence of systemd keeps it stopped, and the tests never use it).
# Prints the path of turnutils_uclient on stdout; progress on stderr.
set -euo pipefail
log() { echo "[coturn] $*" >&2; }

if ! command -v turnutils_uclient >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "turnutils_uclient is missing and this is not root, so coturn cannot be installed; its relay test is skipped"
    exit 1
  fi
  log "installing coturn from Debian packages (for turnutils_uclient)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq coturn >&2 || { apt-get update -qq >&2 && apt-get install -y -qq coturn >&2; }
fi
command -v turnutils_uclient
