#!/usr/bin/env bash
# Headless Chromium for tests/test_html_report.py: prints the browser's path, installing
# Debian's `chromium` package first if no Chromium is on the PATH.
#
#   bash scripts/browser.sh     # -> /usr/bin/chromium
#
# Installing needs root and apt-get. Prints one line saying why when it cannot and exits 3,
# so a test can skip with that reason (CI fails instead).
set -euo pipefail

cannot() { echo "cannot get a headless Chromium: $*" >&2; exit 3; }

for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null; then command -v "$name"; exit 0; fi
done
[ "$(id -u)" = 0 ] || cannot "needs root to apt-get install chromium"
command -v apt-get >/dev/null || cannot "no apt-get to install chromium"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
  >/tmp/ramen-chromium-apt.log 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install \
         -y -q --no-install-recommends chromium >/tmp/ramen-chromium-apt.log 2>&1; } \
  || cannot "apt-get install chromium failed (see /tmp/ramen-chromium-apt.log)"
command -v chromium || cannot "chromium installed but not on the PATH"
