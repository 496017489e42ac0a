#!/usr/bin/env bash
# ensure-deps.sh: make this machine able to run the netns end-to-end tests and the demo.
#
# Installs, only when missing, the Debian packages the tests shell out to (wg, wireguard-go, ip, iptables,
# dig, kdig, ping, iperf3) and the toolchain for our NFQUEUE delay program, then builds that program
# (netns-tests/tools/nfqdelay.c -> netns-tests/tools/bin/nfqdelay) when it is missing or older than its source.
# Finally it checks that iptables really works inside a network namespace with the matches and targets the
# harness uses, because a broken nft/legacy backend otherwise shows up later as a baffling test failure.
#
# Idempotent and non-interactive: safe to run before every test run (npm run test:netns does), needs no stdin,
# runs `apt-get update` at most once and only when something is missing. Must run as root.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO/netns-tests/tools/nfqdelay.c"
BIN_DIR="$REPO/netns-tests/tools/bin"
BIN="$BIN_DIR/nfqdelay"

log() { printf 'ensure-deps: %s\n' "$*"; }
die() { printf 'ensure-deps: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, creates network namespaces); try: sudo bash $0"

# Package -> why we need it. Order is the install order; keep it in sync with the harness's needs.
PACKAGES=(
  iproute2              # ip netns / ip link / bridge
  iptables              # loss, cuts, NAT, NFQUEUE delay
  wireguard-tools       # wg
  wireguard-go          # userspace WireGuard (this kernel has no wireguard module)
  dnsutils              # dig
  knot-dnsutils         # kdig
  iputils-ping          # ping (RTT/loss measurements)
  iperf3                # throughput tests
  procps                # ps, used in failure diagnostics
  gcc                   # builds nfqdelay and the native addon (native-bindings/)
  make                  # node-gyp drives the addon's build with make
  python3               # node-gyp (gyp) is Python
  libc6-dev             # headers for nfqdelay
  libnetfilter-queue-dev  # NFQUEUE library for nfqdelay (pulls libnfnetlink-dev)
)

missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if [ "${#missing[@]}" -gt 0 ]; then
  log "missing packages: ${missing[*]}"
  # Other engineers or unattended jobs may hold the dpkg lock; wait for it rather than failing.
  log "running apt-get update"
  apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null ||
    die "apt-get update failed (no network to the Debian mirror?)"
  log "installing: ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
    die "apt-get install failed for: ${missing[*]}"
else
  log "all ${#PACKAGES[@]} packages already installed"
fi

for b in ip iptables ip6tables wg wireguard-go dig kdig ping iperf3 gcc make python3; do
  command -v "$b" >/dev/null 2>&1 || die "'$b' still not on PATH after installing packages"
done

# Build the delay program. Write to a temporary name and rename, so a concurrent test never runs a half-written
# binary and an interrupted build never leaves one behind.
[ -f "$SRC" ] || die "missing source $SRC"
if [ ! -x "$BIN" ] || [ "$SRC" -nt "$BIN" ]; then
  log "building $BIN"
  mkdir -p "$BIN_DIR"
  tmp="$BIN.tmp.$$"
  gcc -O2 -Wall -Wextra -o "$tmp" "$SRC" -lnetfilter_queue -lnfnetlink || { rm -f "$tmp"; die "gcc failed for $SRC"; }
  mv -f "$tmp" "$BIN"
else
  log "nfqdelay is up to date ($BIN)"
fi

# Check iptables inside a throwaway namespace: the tables, matches and targets the harness uses. The namespace
# name carries our prefix and PID so the harness's sweepStale() recognises it if this script is killed mid-check.
NS="brt-$$-deps"
cleanup_ns() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup_ns EXIT
ip netns add "$NS" || die "cannot create a network namespace (ip netns add $NS)"
in_ns() { ip netns exec "$NS" "$@"; }
backend="$(iptables --version 2>/dev/null | sed -n 's/.*(\(.*\)).*/\1/p')"
log "iptables backend: ${backend:-unknown} ($(iptables --version 2>/dev/null))"
check() {
  local what="$1"; shift
  if ! out="$("$@" 2>&1)"; then
    die "iptables check failed in a namespace ($what): $out
  hint: the harness needs iptables with nat, mangle, statistic, conntrack and NFQUEUE; with the nft backend the
  kernel needs nft_compat/xt_* modules; 'update-alternatives --set iptables /usr/sbin/iptables-legacy' is the
  usual fallback"
  fi
}
for ipt in iptables ip6tables; do
  check "$ipt filter DROP" in_ns "$ipt" -w -A INPUT -i lo -p udp --dport 9 -j DROP
  check "$ipt statistic" in_ns "$ipt" -w -A FORWARD -m statistic --mode random --probability 0.5 -j DROP
  check "$ipt conntrack" in_ns "$ipt" -w -A FORWARD -m conntrack --ctstate NEW -j DROP
  check "$ipt NFQUEUE" in_ns "$ipt" -w -t mangle -A POSTROUTING -o lo -p udp --dport 9 -j NFQUEUE --queue-num 7 --queue-bypass
done
check "iptables MASQUERADE" in_ns iptables -w -t nat -A POSTROUTING -s 10.231.0.0/16 -o lo -j MASQUERADE
check "iptables MASQUERADE --random-fully" in_ns iptables -w -t nat -A POSTROUTING -s 10.231.0.0/16 -o lo -j MASQUERADE --random-fully
log "iptables works in a namespace (filter, nat, mangle, statistic, conntrack, NFQUEUE)"
log "ok"
