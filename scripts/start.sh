#!/usr/bin/env bash
# `npm start`: make sure of Node 22 or newer (Node 24 from the npm registry when the machine's
# node is older), install dependencies if needed, then run the embedded Router (SQLite,
# everything on 127.0.0.1) in the foreground. Extra arguments go to `postern server start`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node.sh
postern_use_node 22
postern_dependencies
exec npx tsx vault/cli/bin.ts server start "$@"
