#!/usr/bin/env bash
# Installs Debian's chromium unless a Chromium is already available.
set -euo pipefail
if [ -n "${SWITCHYARD_CHROMIUM:-}" ] && [ -x "${SWITCHYARD_CHROMIUM}" ]; then exit 0; fi
for c in /usr/lib/chromium/chromium /usr/bin/chromium; do
  if [ -x "$c" ]; then exit 0; fi
done
if command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing and apt-get is not available: install Chromium, then set SWITCHYARD_CHROMIUM to its binary." >&2
  exit 1
fi
echo "Chromium not found; installing Debian's chromium package..."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
/usr/lib/chromium/chromium --version
