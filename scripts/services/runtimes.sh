# Sourced by scripts/test.sh: make the Deno and workerd runtimes available for the
# runtime tests (test/runtimes/). Both come from the npm registry as project devDependencies
# (`deno`, and `wrangler`, which brings `workerd`); their install scripts only link the
# platform binary that npm already unpacked, and package.json allowScripts approves them.
# This checks, in well under a second, that both binaries run, and keeps them offline.
# Sourced under `set -euo pipefail`: nothing here may fail the caller or leak variables.

export DENO_NO_UPDATE_CHECK=1
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false

postern_check_runtime() {
  local name=$1 bin=$2 version
  if version=$("$bin" --version 2>/dev/null | head -1) && [ -n "$version" ]; then
    echo "[runtimes] $name: $version" >&2
  else
    echo "[runtimes] $name does not run ($bin); reinstall with \`npm ci\` (install scripts for deno/workerd must be allowed); test/runtimes will fail" >&2
  fi
}
postern_check_runtime deno node_modules/.bin/deno
postern_check_runtime workerd node_modules/.bin/workerd
unset -f postern_check_runtime
