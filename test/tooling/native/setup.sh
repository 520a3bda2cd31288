#!/usr/bin/env bash
# The native-addon fixture (test/fixtures/native): installs its locked npm packages (bufferutil, which ships
# prebuilt N-API binaries, and node-gyp-build) into test/fixtures/native/node_modules, from the npm registry.
# Nothing is compiled. Skipped when the installed tree already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../../fixtures/native"
if [[ -f node_modules/.package-lock.json ]] && [[ -f node_modules/bufferutil/prebuilds/linux-x64/bufferutil.node ]] \
  && cmp -s <(sed -n '/"node_modules\//,$p' package-lock.json) <(sed -n '/"node_modules\//,$p' node_modules/.package-lock.json); then
  echo "[kubestep test] native-addon fixture: installed" >&2
  exit 0
fi
echo "[kubestep test] installing the native-addon fixture (npm ci in test/fixtures/native)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
