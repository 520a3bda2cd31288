#!/usr/bin/env bash
# Debian's Chromium for the `kubestep ui` browser tests (driven by playwright-core, which never downloads a
# browser here: the tests launch /usr/bin/chromium). Installs it with apt when missing; needs root for that.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "[kubestep test] chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)" >&2
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "[kubestep test] /usr/bin/chromium is missing; install it as root: apt-get install -y chromium" >&2
  exit 1
fi
echo "[kubestep test] installing Debian's chromium (apt-get install -y chromium)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
/usr/bin/chromium --version >&2
