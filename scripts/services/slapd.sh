#!/usr/bin/env bash
# Start a dedicated OpenLDAP slapd for the LDAP rotation tests (gateway/rotation/plugins/ldap.test.ts),
# or reuse the one a previous run started. Loopback only: ldap://127.0.0.1:3389 and
# ldaps://127.0.0.1:3636 (self-signed certificate). It is not the system slapd: its own cn=config,
# database, certificate, pid and log live in one state directory, so the Debian package's
# /etc/ldap and :389 are never touched or relied on.
#
# Prints one JSON line on stdout, the value of POSTERN_TEST_LDAP:
#   {"url":"ldap://127.0.0.1:3389","ldapsUrl":"ldaps://127.0.0.1:3636","baseDn":"dc=postern,dc=test",
#    "adminDn":"cn=admin,dc=postern,dc=test","adminPassword":"..."}
# Progress on stderr; exit 1 when no usable server can be had.
#
# What the directory holds (built once with slapadd from the LDIF below):
#  - dc=postern,dc=test in an mdb database; rootDN cn=admin,dc=postern,dc=test (a fixed test password).
#  - ou=people, ou=groups, ou=policies, and cn=pam-admins,ou=groups: its members may write the
#    userPassword (and unicodePwd) of anything under ou=people. The tests make their own admin entry a member, so
#    admin rotation runs under ACLs like a real deployment instead of as the all-powerful rootDN.
#  - A stand-in schema for AD's unicodePwd and sAMAccountName (see the LDIF), under the same ACLs
#    as userPassword, so the AD code path runs against a real server too (bytes, not AD semantics).
#  - olcPasswordHash {SSHA} (Password Modify extended operation) and the ppolicy overlay with
#    ppolicy_hash_cleartext (a plain modify of userPassword is hashed too), and a default policy
#    with pwdMinLength 12 and pwdCheckQuality 2, so "password refused by policy" is a real refusal.
set -euo pipefail

HOST=127.0.0.1
LDAP_PORT="${POSTERN_SLAPD_PORT:-3389}"
LDAPS_PORT="${POSTERN_SLAPDS_PORT:-3636}"
LDAP_URL="ldap://${HOST}:${LDAP_PORT}"
LDAPS_URL="ldaps://${HOST}:${LDAPS_PORT}"
SUFFIX="dc=postern,dc=test"
ROOT_DN="cn=admin,${SUFFIX}"
# A fixed value: this server holds nothing but test entries and listens on loopback only.
ROOT_PW="${POSTERN_SLAPD_ADMIN_PASSWORD:-postern-test-ldap-admin}"
if [ "$(id -u)" = 0 ]; then
  STATE="${POSTERN_SLAPD_STATE:-/var/lib/postern-test/slapd}"
else
  STATE="${POSTERN_SLAPD_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/postern-test/slapd}"
fi
# Bump when the configuration below changes: a state directory built from another version (or
# for another rootDN password) is stopped and rebuilt instead of being reused with stale ACLs,
# policies or credentials.
CONFIG_VERSION="2 $(printf '%s' "$ROOT_PW" | sha256sum | cut -c1-16)"
MARKER="$STATE/postern-slapd-version"
LOG="$STATE/slapd.log"
PIDFILE="$STATE/run/slapd.pid"

log() { echo "[slapd] $*" >&2; }

# ldap-utils read /etc/ldap/ldap.conf and ~/.ldaprc; the probes must not depend on either.
# (Not LDAPNOINIT: it would also ignore LDAPTLS_REQCERT, which the ldaps probe needs.)
export LDAPCONF=/dev/null LDAPRC=.postern-no-ldaprc
probe_anon() { ldapsearch -x -H "$LDAP_URL" -o nettimeout=3 -b "" -s base namingContexts >/dev/null 2>&1; }
probe_root() {
  ldapwhoami -x -H "$LDAP_URL" -o nettimeout=3 -D "$ROOT_DN" -w "$ROOT_PW" >/dev/null 2>&1 &&
    LDAPTLS_REQCERT=never ldapwhoami -x -H "$LDAPS_URL" -o nettimeout=3 -D "$ROOT_DN" -w "$ROOT_PW" >/dev/null 2>&1
}
print_json() {
  printf '{"url":"%s","ldapsUrl":"%s","baseDn":"%s","adminDn":"%s","adminPassword":"%s"}\n' \
    "$LDAP_URL" "$LDAPS_URL" "$SUFFIX" "$ROOT_DN" "$ROOT_PW"
}
# The pid of the slapd this state directory started, if it still runs.
own_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q slapd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}
stop_own() {
  local pid
  pid=$(own_pid) || return 0
  log "stopping the slapd this state directory started (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "slapd (pid $pid) did not stop"
  return 1
}

# 1. Reuse: our state directory, the current configuration version, and both ports answer.
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$CONFIG_VERSION" ] && probe_root; then
  log "using the test slapd at $LDAP_URL and $LDAPS_URL (state $STATE)"
  print_json
  exit 0
fi

# 2. Something answers on the port that is not (a current) us: leave it alone and say so.
if probe_anon && ! own_pid >/dev/null; then
  log "$LDAP_URL answers but is not the test slapd of $STATE (or refuses its rootDN); stop it or set POSTERN_SLAPD_PORT"
  exit 1
fi

# 3. Install the packages if needed (a fresh machine). The Debian postinst may configure and start
#    the system slapd on :389; this script neither needs nor touches it.
if ! command -v slapd >/dev/null 2>&1 && [ ! -x /usr/sbin/slapd ]; then
  if [ "$(id -u)" != 0 ]; then
    log "slapd is not installed and not root, so it cannot be installed; LDAP tests will be skipped"
    exit 1
  fi
  log "installing slapd and ldap-utils from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq slapd ldap-utils >&2
fi
SLAPD=$(command -v slapd || echo /usr/sbin/slapd)
SLAPADD=$(command -v slapadd || echo /usr/sbin/slapadd)
SLAPPASSWD=$(command -v slappasswd || echo /usr/sbin/slappasswd)
for tool in ldapsearch ldapwhoami openssl; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing (packages ldap-utils, openssl)"; exit 1; }
done
MODULE_PATH=/usr/lib/ldap
[ -f "$MODULE_PATH/back_mdb.la" ] || MODULE_PATH=$(dirname "$(find /usr/lib -name 'back_mdb.la' -print -quit 2>/dev/null || echo /usr/lib/ldap/x)")
SCHEMA_DIR=/etc/ldap/schema

# Run as the openldap user when we are root and it exists; otherwise as whoever runs this.
RUN_AS=()
if [ "$(id -u)" = 0 ] && id openldap >/dev/null 2>&1; then RUN_AS=(-u openldap -g openldap); fi

# 4. Build the state directory when it is missing, incomplete (no marker: an interrupted first
#    run) or from another configuration version.
if [ ! -f "$MARKER" ] || [ "$(cat "$MARKER")" != "$CONFIG_VERSION" ]; then
  stop_own || exit 1
  log "building a fresh test directory in $STATE"
  rm -rf "$STATE"
  mkdir -p "$STATE/slapd.d" "$STATE/data" "$STATE/tls" "$STATE/run"
  chmod 700 "$STATE"

  # Self-signed certificate for ldaps://127.0.0.1 (tests connect with verifyTls false, and one test
  # checks that verifyTls true refuses it).
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=${HOST}" \
    -addext "subjectAltName=IP:${HOST},DNS:localhost" \
    -keyout "$STATE/tls/server.key" -out "$STATE/tls/server.crt" >/dev/null 2>&1
  chmod 600 "$STATE/tls/server.key"

  root_hash=$("$SLAPPASSWD" -h '{SSHA}' -s "$ROOT_PW")
  cat >"$STATE/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $PIDFILE
olcArgsFile: $STATE/run/slapd.args
olcLogLevel: stats
olcToolThreads: 1
olcTLSCertificateFile: $STATE/tls/server.crt
olcTLSCertificateKeyFile: $STATE/tls/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $MODULE_PATH
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$SCHEMA_DIR/core.ldif
include: file://$SCHEMA_DIR/cosine.ldif
include: file://$SCHEMA_DIR/nis.ldif
include: file://$SCHEMA_DIR/inetorgperson.ldif

# Stand-ins for two Active Directory attributes (their real AD OIDs), so the AD code path can run
# against this server at the protocol level: unicodePwd is stored byte for byte and compared with
# octetStringMatch, which makes a self-change (delete the old encoded value, add the new one) fail
# unless the old value is encoded exactly as stored. slapd does not interpret it (no AD policy,
# no binds with it): binds still check userPassword. The auxiliary class has a UUID-derived OID
# (2.25, X.667), which needs no registration.
dn: cn=postern-ad,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: postern-ad
olcAttributeTypes: ( 1.2.840.113556.1.4.90 NAME 'unicodePwd'
  DESC 'Active Directory password, test stand-in: stored, never interpreted'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( 2.25.319963067806404116698439194553915215210 NAME 'posternAdAccount'
  DESC 'Postern tests: an entry with Active Directory password attributes'
  AUXILIARY MAY ( unicodePwd $ sAMAccountName ) )

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcPasswordHash: {SSHA}
olcAccess: {0}to dn.exact="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $STATE/data
olcDbMaxSize: 268435456
olcSuffix: $SUFFIX
olcRootDN: $ROOT_DN
olcRootPW: $root_hash
olcLastMod: TRUE
olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: member eq
olcAccess: {0}to dn.subtree="ou=people,$SUFFIX" attrs=userPassword,unicodePwd
  by group.exact="cn=pam-admins,ou=groups,$SUFFIX" write
  by self write
  by anonymous auth
  by * none
olcAccess: {1}to attrs=userPassword,unicodePwd
  by self write
  by anonymous auth
  by * none
olcAccess: {2}to attrs=shadowLastChange
  by self write
  by * read
olcAccess: {3}to *
  by * read

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$SUFFIX
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: FALSE
EOF

  # The policy is the database-wide default (ppolicy_default): OpenLDAP 2.5 has no per-subtree
  # default, and ou=people is where every entry with a password lives anyway.
  cat >"$STATE/base.ldif" <<EOF
dn: $SUFFIX
objectClass: top
objectClass: dcObject
objectClass: organization
o: Postern test directory
dc: postern

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=pam-admins,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: pam-admins
description: May reset the userPassword of entries under ou=people (rotation admins)
# groupOfNames needs a member; the rootDN is one anyway. Tests add and remove their own admins.
member: $ROOT_DN

dn: cn=default,ou=policies,$SUFFIX
objectClass: top
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 12
pwdCheckQuality: 2
pwdInHistory: 0
pwdLockout: FALSE
pwdAllowUserChange: TRUE
pwdMustChange: FALSE
pwdSafeModify: FALSE
EOF

  if ! "$SLAPADD" -n0 -F "$STATE/slapd.d" -l "$STATE/config.ldif" >>"$LOG" 2>&1; then
    log "slapadd of cn=config failed; see $LOG"
    exit 1
  fi
  if ! "$SLAPADD" -b "$SUFFIX" -F "$STATE/slapd.d" -l "$STATE/base.ldif" >>"$LOG" 2>&1; then
    log "slapadd of the base entries failed; see $LOG"
    exit 1
  fi
  if [ ${#RUN_AS[@]} -gt 0 ]; then chown -R openldap:openldap "$STATE"; fi
  echo "$CONFIG_VERSION" >"$MARKER"
fi

# 5. Start it unless our own slapd already runs (then the ports just were not ready yet).
if ! own_pid >/dev/null; then
  log "starting $SLAPD on $LDAP_URL and $LDAPS_URL (loopback only; log $LOG)"
  # -d keeps slapd in the foreground (its stats lines go to the log: operations and result codes,
  # never attribute values); setsid + nohup let it outlive this script and the test run, like the
  # PostgreSQL cluster and the NATS server.
  setsid nohup "$SLAPD" -d stats -h "${LDAP_URL}/ ${LDAPS_URL}/" -F "$STATE/slapd.d" "${RUN_AS[@]}" \
    >>"$LOG" 2>&1 </dev/null &
fi
for _ in $(seq 1 75); do
  if probe_anon && probe_root; then
    log "started; using $LDAP_URL and $LDAPS_URL"
    print_json
    exit 0
  fi
  sleep 0.2
done
log "slapd did not come up on $LDAP_URL and $LDAPS_URL; see $LOG"
exit 1
