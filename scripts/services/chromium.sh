#!/usr/bin/env bash
# Debian's Chromium for the relay's browser test (test/relay/chromium-relay.test.ts): a WebRTC
# stack nobody here wrote, driven headless through playwright-core and forced through the Relay
# with iceTransportPolicy "relay". Installs Debian's chromium package when missing (as root,
# non-interactive); starts nothing. Prints the path of the Chromium executable on stdout;
# progress on stderr, its last line saying why when this fails. scripts/test.sh exports it as
# POSTERN_TEST_CHROMIUM.
#
# POSTERN_CHROMIUM, when set, names the executable to use instead (it must exist and run).
set -euo pipefail
log() { echo "[chromium] $*" >&2; }

# Runs and says which Chromium it is: a broken install (missing libraries) fails here, not in
# the test. --version never opens a window or the network.
works() {
  local version
  version=$(timeout 20 "$1" --version 2>/dev/null) || return 1
  case "$version" in *Chromium*|*Chrome*) log "using $1 ($version)"; return 0 ;; *) return 1 ;; esac
}

# The real binary, not Debian's /usr/bin/chromium wrapper script, when it is there: the wrapper
# only adds flags from /etc/chromium.d (none we need), and playwright passes its own.
find_chromium() {
  local c
  for c in /usr/lib/chromium/chromium /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$c" ] && works "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

if [ -n "${POSTERN_CHROMIUM:-}" ]; then
  if [ -x "$POSTERN_CHROMIUM" ] && works "$POSTERN_CHROMIUM"; then echo "$POSTERN_CHROMIUM"; exit 0; fi
  log "POSTERN_CHROMIUM=$POSTERN_CHROMIUM is not a working Chromium executable"
  exit 1
fi

if find_chromium; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  log "Chromium is not installed and this is not root, so it cannot be installed"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "Chromium is not installed and there is no apt-get to install it with"
  exit 1
fi

log "installing chromium from Debian packages (for the relay's browser test)"
export DEBIAN_FRONTEND=noninteractive
# Other setup scripts may be running apt-get at the same time: wait for the dpkg lock (up to
# 10 minutes) rather than fail on it.
apt=(apt-get -qq -o DPkg::Lock::Timeout=600)
# Try the package lists we have first; refresh them only if that fails (stale or missing lists).
if ! "${apt[@]}" install -y --no-install-recommends chromium >&2; then
  "${apt[@]}" update >&2 && "${apt[@]}" install -y --no-install-recommends chromium >&2 || {
    log "apt-get could not install chromium"
    exit 1
  }
fi
if find_chromium; then exit 0; fi
log "chromium was installed but no working executable was found (tried /usr/lib/chromium/chromium, /usr/bin/chromium)"
exit 1
