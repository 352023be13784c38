#!/usr/bin/env bash
# `npm start`: install dependencies if needed, then run the embedded Router (SQLite,
# everything on 127.0.0.1) in the foreground. Extra arguments go to `postern server start`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
exec npx tsx vault/cli/bin.ts server start "$@"
