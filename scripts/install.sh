#!/usr/bin/env bash
# Installs blackroad on this machine as a systemd service: the compiled daemon and its production
# dependencies in /usr/lib/blackroad, the command at /usr/bin/blackroad, the unit file, the blackroad group,
# and an example config in /etc/blackroad/config.yaml if none is there. Run as root from a checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

role=${1:-primary-node}   # control-plane | primary-node | edge-pi
[ -f "config/$role.yaml" ] || { echo "install.sh: no example config/$role.yaml" >&2; exit 1; }

need=()
for pkg in wireguard-tools wireguard-go iproute2; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build

dest=/usr/lib/blackroad
rm -rf "$dest.new"
mkdir -p "$dest.new"
cp -r dist package.json package-lock.json README.md "$dest.new/"
# The native addon's sources and build script: `npm ci` below runs our "install" script, which builds it there.
mkdir -p "$dest.new/scripts" "$dest.new/native-bindings"
cp scripts/build-native.mjs "$dest.new/scripts/"
cp -r native-bindings/binding.gyp native-bindings/src "$dest.new/native-bindings/"
(cd "$dest.new" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts=false >/dev/null)
# The unit is Type=notify: without the addon systemd would never hear READY=1 and would stop the daemon.
node "$dest.new/scripts/build-native.mjs" --require ||
  { echo "install.sh: the native addon is required under systemd; install gcc, make and python3" >&2; exit 1; }
rm -rf "$dest.old"; [ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$dest.new" "$dest"; rm -rf "$dest.old"
chmod 0755 "$dest/dist/bin/blackroad-cli.cjs"
ln -sf "$dest/dist/bin/blackroad-cli.cjs" /usr/bin/blackroad

getent group blackroad >/dev/null || groupadd --system blackroad
install -d -m 0755 /etc/blackroad
[ -f /etc/blackroad/config.yaml ] || install -m 0644 "config/$role.yaml" /etc/blackroad/config.yaml
install -m 0644 systemd/blackroad.service /etc/systemd/system/blackroad.service
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "installed; start with: systemctl enable --now blackroad"
else
  echo "installed; systemd is not running here, start with: blackroad daemon --config /etc/blackroad/config.yaml"
fi
