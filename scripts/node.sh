# Sourced by scripts/test.sh and scripts/start.sh: puts a supported Node first on PATH and makes
# node_modules match it. Sourced under `set -euo pipefail`; progress goes to stderr.
#
#   postern_use_node MIN [MAX] keep the machine's `node` when its major version is MIN..MAX (no
#                              MAX: any newer), otherwise Node $POSTERN_NODE_VERSION from the npm
#                              registry
#   postern_dependencies       `npm ci` when node_modules is missing or older than the lockfile
#                              or than patches/ (werift's patch set, applied by npm ci),
#                              and rebuild the native addon when it was built for another Node
#
# The registry's node-linux-<arch> package is the official Node build (bin/node) with the headers
# (include/node) that node-gyp needs to compile better-sqlite3 without reaching nodejs.org. It is
# unpacked once per version into a cache outside the checkout, so a fresh clone reuses it.
# docs/decisions/0001-node-runtime.md says why.

# The Node the suite runs on and `npm start` falls back to. Bump it for security releases.
POSTERN_NODE_VERSION="${POSTERN_NODE_VERSION:-24.22.3}"

postern_node_cache() {
  if [ -n "${POSTERN_CACHE:-}" ]; then echo "$POSTERN_CACHE"
  elif [ "$(id -u)" = 0 ]; then echo /var/cache/postern
  else echo "${XDG_CACHE_HOME:-$HOME/.cache}/postern"; fi
}

postern_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# Downloads (once) and unpacks Node $POSTERN_NODE_VERSION; prints its directory.
postern_fetch_node() {
  local os arch dir tmp tarball
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "[node] no registry build of Node for $(uname -s)" >&2; return 1 ;; esac
  case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) echo "[node] no registry build of Node for $(uname -m)" >&2; return 1 ;; esac
  dir="$(postern_node_cache)/node/$POSTERN_NODE_VERSION-$os-$arch"
  if [ -x "$dir/bin/node" ] && [ -f "$dir/include/node/node.h" ]; then echo "$dir"; return 0; fi
  mkdir -p "$(dirname "$dir")"
  tmp=$(mktemp -d "$dir.partial.XXXXXX")
  echo "[node] downloading node-$os-$arch@$POSTERN_NODE_VERSION from the npm registry into $dir" >&2
  # npm checks the tarball against the registry's integrity hash.
  if ! tarball=$(cd "$tmp" && npm pack --silent "node-$os-$arch@$POSTERN_NODE_VERSION" | tail -1) || [ ! -s "$tmp/$tarball" ]; then
    rm -rf "$tmp"
    echo "[node] could not download node-$os-$arch@$POSTERN_NODE_VERSION from the npm registry (see above)" >&2
    return 1
  fi
  tar -xzf "$tmp/$tarball" -C "$tmp" --strip-components=1 && rm -f "$tmp/$tarball"
  if ! "$tmp/bin/node" --version >/dev/null 2>&1; then
    rm -rf "$tmp"
    echo "[node] the downloaded Node $POSTERN_NODE_VERSION does not run on this machine" >&2
    return 1
  fi
  # Another run may have finished the same download meanwhile: theirs is as good as ours.
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  echo "$dir"
}

postern_use_node() {
  local min=$1 max=${2:-999} major dir
  major=$(postern_node_major)
  if [ "$major" -ge "$min" ] && [ "$major" -le "$max" ]; then
    echo "[node] using $(command -v node) ($(node --version))" >&2
    return 0
  fi
  local wanted="Node $min"
  [ "$max" = "$min" ] || wanted="Node $min or newer"
  if [ "$major" = 0 ]; then echo "[node] no node on PATH; this needs $wanted" >&2
  else echo "[node] $(command -v node) is Node $major; this needs $wanted" >&2; fi
  dir=$(postern_fetch_node) || return 1
  export PATH="$dir/bin:$PATH"
  # node-gyp compiles against these headers instead of downloading them from nodejs.org.
  export npm_config_nodedir="$dir"
  hash -r
  echo "[node] using $dir/bin/node ($(node --version))" >&2
}

# What a native addon is built for: it must be rebuilt when any of this changes.
postern_node_abi() {
  node -p 'process.versions.modules + "-" + process.platform + "-" + process.arch'
}

postern_dependencies() {
  local stamp=node_modules/.postern-node-abi abi
  abi=$(postern_node_abi)
  # `npm ci` also applies patches/ (package.json postinstall: patch-package --error-on-fail), so a
  # patch added, changed or removed since the last install needs one too; a patch that does not
  # apply fails the install.
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
    [ -n "$(find patches -newer node_modules/.package-lock.json 2>/dev/null | head -1)" ]; then
    npm ci --no-audit --no-fund
    echo "$abi" >"$stamp"
    return 0
  fi
  [ "$(cat "$stamp" 2>/dev/null)" = "$abi" ] && return 0
  # No stamp (installed before it existed) yet the addon loads: it was built for this Node.
  if [ ! -f "$stamp" ] && node -e 'new (require("better-sqlite3"))(":memory:").close()' >/dev/null 2>&1; then
    echo "$abi" >"$stamp"
    return 0
  fi
  echo "[node] node_modules was built for another Node (ABI $(cat "$stamp" 2>/dev/null || echo unknown), now $abi): rebuilding better-sqlite3" >&2
  npm rebuild better-sqlite3 --no-audit --no-fund >&2
  echo "$abi" >"$stamp"
}
