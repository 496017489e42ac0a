#!/usr/bin/env bash
# The local mesh demo: builds, installs what the namespaces need, then runs netns-tests/demo.ts (three
# daemons in three network namespaces) until Ctrl-C. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 77; }
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
bash scripts/ensure-deps.sh >/dev/null
exec node dist/netns-tests/demo.js
