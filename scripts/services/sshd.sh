#!/usr/bin/env bash
# Find the OpenSSH server on 127.0.0.1:2222 that the SSH rotation tests may use, or install and
# start a dedicated one (Debian package openssh-server, loopback only). Prints `127.0.0.1:2222` on
# stdout; progress on stderr. Used for gateway/rotation/plugins/ssh.test.ts (POSTERN_TEST_SSH).
#
# The dedicated sshd has its own config, host keys, pid file and log in a state directory and
# never touches /etc/ssh or the system's sshd on port 22. UsePAM is on so password changes meet
# the machine's real PAM policy (pam_unix `obscure` on Debian). Root may log in with a key only,
# and only with a key listed in the state directory's root_authorized_keys (the tests put one
# there to exercise the root-admin path); root's own ~/.ssh is never consulted by this server.
# sudo is installed alongside so the non-root admin path (passwordless sudo) can be tested.
set -euo pipefail

SSHD_HOST=127.0.0.1
SSHD_PORT="${POSTERN_SSHD_PORT:-2222}"
STATE="${POSTERN_SSHD_STATE:-/var/lib/postern-test/sshd}"
CONF="$STATE/sshd_config"
LOGFILE="$STATE/sshd.log"
SSHD=/usr/sbin/sshd
log() { echo "[sshd] $*" >&2; }

# An SSH server greets every new connection with an `SSH-2.0-...` line before anything else.
is_ssh() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    case "$line" in SSH-2.0-*|SSH-1.99-*) exit 0 ;; *) exit 1 ;; esac
  ' _ "$SSHD_HOST" "$SSHD_PORT" >/dev/null 2>&1
}

# Something listens on the port at all (SSH or not).
is_listening() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$SSHD_HOST" "$SSHD_PORT" >/dev/null 2>&1
}

if is_ssh; then log "using the server at $SSHD_HOST:$SSHD_PORT"; echo "$SSHD_HOST:$SSHD_PORT"; exit 0; fi
if is_listening; then
  log "something that is not an SSH server listens on $SSHD_HOST:$SSHD_PORT; SSH rotation tests will be skipped"
  exit 1
fi

if [ "$(id -u)" != 0 ]; then
  log "no SSH server on $SSHD_HOST:$SSHD_PORT and not root, so sshd cannot be installed or started; SSH rotation tests will be skipped"
  exit 1
fi

install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq "$@" >&2
}
# openssh-server is required; sudo only serves the non-root admin tests, so failing to install it
# is a warning (those tests are then skipped).
if [ ! -x "$SSHD" ]; then
  packages=(openssh-server)
  command -v sudo >/dev/null 2>&1 || packages+=(sudo)
  log "installing ${packages[*]} from Debian packages"
  install_packages "${packages[@]}" || { log "apt-get could not install ${packages[*]}"; exit 1; }
  if [ ! -x "$SSHD" ]; then log "$SSHD is still missing after installing openssh-server"; exit 1; fi
elif ! command -v sudo >/dev/null 2>&1; then
  log "installing sudo from Debian packages (for the non-root admin tests)"
  install_packages sudo || log "could not install sudo; the sudo-admin SSH tests will be skipped"
fi

# A stale pid file from a previous run whose process is gone is simply replaced; a live sshd from
# this state directory that does not answer on the port is a problem to report, not to paper over
# (and its config must not be rewritten under it).
if [ -s "$STATE/sshd.pid" ] && kill -0 "$(cat "$STATE/sshd.pid")" 2>/dev/null; then
  log "an sshd from $STATE/sshd.pid (pid $(cat "$STATE/sshd.pid")) is running but does not answer on $SSHD_HOST:$SSHD_PORT; stop it or use another POSTERN_SSHD_STATE"
  exit 1
fi
rm -f "$STATE/sshd.pid"

# sshd refuses to start without its privilege separation directory (normally made by systemd).
mkdir -p /run/sshd
chmod 755 /run/sshd
# StrictModes checks every directory on the way to root's authorized keys file: root-owned and
# not group/world writable. Host keys and config are root's alone.
mkdir -p "$STATE"
chmod 700 "$STATE"

for type in ed25519 ecdsa rsa; do
  key="$STATE/ssh_host_${type}_key"
  if [ ! -s "$key" ]; then
    log "generating host key $key"
    rm -f "$key" "$key.pub"
    ssh-keygen -q -t "$type" -N '' -C "postern-test-sshd" -f "$key" >&2
  fi
done
touch "$STATE/root_authorized_keys"
chmod 600 "$STATE/root_authorized_keys"

write_config() {
  # $1: extra lines for OpenSSH versions that know them (empty for older ones).
  cat >"$CONF.tmp" <<EOF
# Written by scripts/services/sshd.sh: the dedicated sshd of the Postern SSH rotation tests.
ListenAddress $SSHD_HOST
Port $SSHD_PORT
HostKey $STATE/ssh_host_ed25519_key
HostKey $STATE/ssh_host_ecdsa_key
HostKey $STATE/ssh_host_rsa_key
PidFile $STATE/sshd.pid
LogLevel VERBOSE
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
UsePAM yes
PermitEmptyPasswords no
PermitRootLogin prohibit-password
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
AcceptEnv LANG LC_*
$1
# Root logs in only with a key the tests put here; root's own ~/.ssh is not consulted.
Match User root
    AuthorizedKeysFile $STATE/root_authorized_keys
EOF
}

# OpenSSH 9.8+ delays or blocks a source address after failed logins (PerSourcePenalties); the
# tests fail logins on purpose, so turn it off where the option exists. Older versions reject the
# keyword, so validate with it first and fall back without.
write_config 'PerSourcePenalties no'
if ! "$SSHD" -t -f "$CONF.tmp" >/dev/null 2>&1; then
  write_config ''
fi
if ! "$SSHD" -t -f "$CONF.tmp" >&2; then
  log "the generated config $CONF.tmp is invalid (see above)"
  exit 1
fi
mv -f "$CONF.tmp" "$CONF"

log "starting $SSHD on $SSHD_HOST:$SSHD_PORT (loopback only; config $CONF, log $LOGFILE)"
# sshd daemonises itself (and must be started by absolute path for re-exec); -E appends its log.
"$SSHD" -f "$CONF" -E "$LOGFILE"
for _ in $(seq 1 50); do
  if is_ssh; then log "started; using $SSHD_HOST:$SSHD_PORT"; echo "$SSHD_HOST:$SSHD_PORT"; exit 0; fi
  sleep 0.2
done
log "sshd did not come up on $SSHD_HOST:$SSHD_PORT; see $LOGFILE"
exit 1
