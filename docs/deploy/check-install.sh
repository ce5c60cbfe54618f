#!/usr/bin/env bash
# The steps of docs/install.md that a container can run (marked "(CI)" there), after `npm ci` has
# installed and built the checkout: the build runs without the development packages (npm prune
# --omit=dev, in a copy), it checks the example configs, and the unit passes systemd-analyze verify
# (skipped, saying so, where systemd-analyze is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
copy=$(mktemp -d /tmp/vendomat-install.XXXXXX)
trap 'rm -rf "$copy"' EXIT
echo "install check: a copy pruned to the production packages in $copy"
tar -C "$root" --exclude=.git -cf - . | tar -C "$copy" -xf -
(cd "$copy" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
bin="$copy/dist/src/cli/bin.js"
node "$bin" --version
node "$bin" --help >/dev/null
for config in sim/machines/demo.yaml sim/machines/pi-mdb-gpio.yaml sim/machines/pi-cctalk.yaml; do
  node "$bin" config check "$copy/$config"
done
echo status | node "$bin" sim --plain >/dev/null
if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify --man=no docs/deploy/vendomat.service 2>&1) || { echo "$out"; exit 1; }
  # The unit names the paths docs/install.md installs to, which this checkout is not at.
  out=$(printf '%s\n' "$out" | grep -v -e '/opt/vendomat' -e '^$' || true)
  if [ -n "$out" ]; then echo "$out"; echo "systemd-analyze verify: warnings"; exit 1; fi
  echo "docs/deploy/vendomat.service: systemd-analyze verify ok"
else
  echo "SKIPPED: systemd-analyze verify (systemd-analyze is not installed here)"
fi
echo "install check: ok"
