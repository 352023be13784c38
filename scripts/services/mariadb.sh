#!/usr/bin/env bash
# Find a MariaDB (or MySQL) server on 127.0.0.1:3306 that the tests may use, or install and start
# one (Debian package mariadb-server, loopback only). Prints the connection URL on stdout;
# progress on stderr. Used for gateway/rotation/plugins/mysql.test.ts (POSTERN_TEST_MYSQL).
#
# The tests log in as root over TCP with an empty password. On a fresh Debian install root can
# only log in through the unix socket as the OS root, so this script (as root, through that socket)
# adds 'root'@'127.0.0.1' with an empty password and all privileges. That leaves 'root'@'localhost'
# and socket logins as Debian made them; only if the server still matches TCP logins from
# 127.0.0.1 to 'root'@'localhost' (it resolves names) does root@localhost get an empty password as
# a second way in. Loopback only either way.
#
# POSTERN_MYSQL_PORT, POSTERN_MARIADB_DATADIR, _SOCKET and _PIDFILE pick another port and data
# directory (a second, private server); the defaults are Debian's.
set -euo pipefail

MYSQL_HOST=127.0.0.1
MYSQL_PORT="${POSTERN_MYSQL_PORT:-3306}"
MYSQL_URL="mysql://root@${MYSQL_HOST}:${MYSQL_PORT}/"
DATADIR="${POSTERN_MARIADB_DATADIR:-/var/lib/mysql}"
SOCKET="${POSTERN_MARIADB_SOCKET:-/run/mysqld/mysqld.sock}"
PIDFILE="${POSTERN_MARIADB_PIDFILE:-/run/mysqld/mysqld.pid}"
LOGFILE="${POSTERN_MARIADB_LOG:-${TMPDIR:-/tmp}/postern-mariadb.log}"
MARIADBD=/usr/sbin/mariadbd
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
log() { echo "[mariadb] $*" >&2; }

# Log in with the URL over TCP and run `SELECT 1` (node + mysql2 from the repository, like
# postgres.sh does with pg).
try_url() {
  (cd "$REPO" && node -e '
    const mysql = require("mysql2/promise");
    mysql.createConnection({ uri: process.argv[1], connectTimeout: 3000 })
      .then((c) => c.query("SELECT 1").then(() => c.end()))
      .then(() => process.exit(0), () => process.exit(1));
  ' "$1") >/dev/null 2>&1
}

# Something listens on the port at all (a server that refuses us, or not MySQL).
is_listening() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$MYSQL_HOST" "$MYSQL_PORT" >/dev/null 2>&1
}

# SQL as root through the unix socket (unix_socket authentication as the OS root).
as_socket_root() {
  mariadb --protocol=socket --socket="$SOCKET" -uroot -e "$1" >&2
}

candidates=("${POSTERN_TEST_MYSQL:-}" "$MYSQL_URL")
for url in "${candidates[@]}"; do
  [ -n "$url" ] || continue
  if try_url "$url"; then log "using the server at $url"; echo "$url"; exit 0; fi
done

if [ "$(id -u)" != 0 ]; then
  log "no usable MariaDB/MySQL on $MYSQL_HOST:$MYSQL_PORT and not root, so it cannot be installed or set up; MySQL rotation tests will be skipped"
  exit 1
fi

if ! is_listening; then
  if [ ! -x "$MARIADBD" ]; then
    log "installing mariadb-server from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq mariadb-server >&2
  fi
  # The package's own start may have worked (a machine with an init system).
  if try_url "$MYSQL_URL"; then log "using the server at $MYSQL_URL"; echo "$MYSQL_URL"; exit 0; fi
fi

if ! is_listening; then
  # Without systemd nobody makes the runtime directory, and a new data directory needs its
  # system tables first (the package does that for the default one).
  install -d -o mysql -g mysql "$(dirname "$SOCKET")" "$(dirname "$PIDFILE")"
  if [ ! -d "$DATADIR/mysql" ]; then
    log "creating the system tables in $DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket --skip-test-db >&2
  fi
  log "starting $MARIADBD on $MYSQL_HOST:$MYSQL_PORT (loopback only; data $DATADIR; log $LOGFILE)"
  # --pidfile makes --oknodo's "already running" check about this instance, not any mariadbd.
  start-stop-daemon --start --oknodo --background --pidfile "$PIDFILE" --output "$LOGFILE" --exec "$MARIADBD" -- \
    --user=mysql --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" \
    --datadir="$DATADIR" --socket="$SOCKET" --pid-file="$PIDFILE" >&2
fi

up=""
for _ in $(seq 1 60); do
  # `ping` answers 0 as soon as the server runs, even when it refuses this login.
  if mariadb-admin --protocol=socket --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
if [ -z "$up" ]; then
  log "MariaDB did not come up within 30 s on $SOCKET; see $LOGFILE"
  exit 1
fi

if try_url "$MYSQL_URL"; then log "started; using $MYSQL_URL"; echo "$MYSQL_URL"; exit 0; fi

log "letting root log in over TCP from $MYSQL_HOST with an empty password ('root'@'$MYSQL_HOST')"
if ! as_socket_root "CREATE USER IF NOT EXISTS 'root'@'$MYSQL_HOST'; ALTER USER 'root'@'$MYSQL_HOST' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'$MYSQL_HOST' WITH GRANT OPTION;"; then
  log "cannot log in as root through $SOCKET to set that up; MySQL rotation tests will be skipped"
  exit 1
fi
if try_url "$MYSQL_URL"; then log "using $MYSQL_URL"; echo "$MYSQL_URL"; exit 0; fi

# The server resolved 127.0.0.1 to localhost and matched 'root'@'localhost' first: keep its
# socket login and add an empty password as the other way in.
log "the server matches 127.0.0.1 to 'root'@'localhost'; giving it an empty password as well (unix_socket stays)"
as_socket_root "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" || true
if try_url "$MYSQL_URL"; then log "using $MYSQL_URL"; echo "$MYSQL_URL"; exit 0; fi
log "MariaDB is running but refuses the test connection $MYSQL_URL"
exit 1
