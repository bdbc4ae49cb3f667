#!/usr/bin/env bash
# Installs Debian's `chromium` (headless browser of scripts/browser_check.sh) when missing.
# Idempotent: does nothing when `chromium` is already on PATH.
set -euo pipefail
if command -v chromium >/dev/null; then
  chromium --version
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
chromium --version
