#!/usr/bin/env bash
# Runs every test: build (tsc, strict, then the bundle), lint, unit + property tests, simulator tests, then the
# network-namespace suite with real daemons. The namespace suite needs root; under CI (CI=true) it is
# never skipped: not being root fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

# As root, install the toolchain and tools first, so the native addon is built even when `npm ci` ran on a machine
# without a compiler (its install script then only printed why); the unit suite tests the addon.
if [ "$(id -u)" -eq 0 ]; then
  echo "== dependencies"
  bash scripts/ensure-deps.sh
fi
echo "== native addon"
node scripts/build-native.mjs

echo "== build"
rm -rf dist
npm run build --silent

echo "== lint"
npx biome lint src test netns-tests bench

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

run_suite() { # name, concurrency, dirs...
  local name=$1 conc=$2; shift 2
  echo "== $name"
  # --test-force-exit: a test file that failed half-way may leave timers or sockets open; it must not hang the run.
  # The summary is read back from the spec output: with --test-force-exit a file reporter may not be flushed.
  node --test --test-force-exit --test-concurrency="$conc" \
    --test-reporter=spec --test-reporter-destination=stdout \
    "$@" | tee "$results/$name.out" || status=1
}

run_suite unit 2 dist/test/unit
run_suite sim 2 dist/test/sim

if [ "$(id -u)" -eq 0 ]; then
  run_suite netns 1 dist/netns-tests
elif [ "${CI:-}" = "true" ]; then
  echo "netns: the network-namespace suite needs root and CI must run it" >&2
  status=1
else
  echo "== netns: SKIPPED (not root; run as root to include the network-namespace suite)"
fi

# One closing line over all suites.
pass=0 fail=0 skip=0
for f in "$results"/*.out; do
  [ -f "$f" ] || continue
  p=$({ grep -E '^ℹ pass ' "$f" || true; } | tail -1 | awk '{print $3}')
  x=$({ grep -E '^ℹ fail ' "$f" || true; } | tail -1 | awk '{print $3}')
  s=$({ grep -E '^ℹ skipped ' "$f" || true; } | tail -1 | awk '{print $3}')
  # A suite that printed no summary at all (crashed runner) counts as a failure.
  [ -z "$p$x" ] && { echo "no test summary in $f" >&2; x=1; }
  pass=$((pass + ${p:-0})); fail=$((fail + ${x:-0})); skip=$((skip + ${s:-0}))
done
[ "$fail" -gt 0 ] && status=1
echo "tests: $pass passed, $fail failed, $skip skipped"
exit $status
