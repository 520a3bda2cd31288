#!/usr/bin/env bash
# The Pulumi engine for the tests: builds (or finds cached) the Pulumi CLI from Go modules and prints the
# environment that runs it locally, offline, against a file backend.
#
#   eval "$(bash test/tooling/pulumi/setup.sh)"      # export lines for a shell
#   bash test/tooling/pulumi/setup.sh --json          # the same as one JSON object (used by the tests)
#
# What the environment holds:
#   PATH                      the CLI's bin dir (test/tooling/parts/build.sh pulumi) and ./bin, which holds our
#                             pulumi-resource-pulumi-nodejs (the Node.js dynamic provider plugin)
#   KUBESTEP_PULUMI_CLI       the CLI itself
#   PULUMI_HOME               $STATE/home (plugins, credentials, workspaces: nothing in ~/.pulumi is used)
#   PULUMI_BACKEND_URL        file://$STATE/backend (also `pulumi login`-ed into PULUMI_HOME)
#   PULUMI_CONFIG_PASSPHRASE  the passphrase secrets provider's passphrase (a test-only default)
#   PULUMI_SKIP_UPDATE_CHECK, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, PULUMI_DISABLE_REGISTRY_RESOLVE:
#                             no version check, no plugin downloads, no registry look-ups
#   HTTP(S)_PROXY             a closed local port, NO_PROXY = loopback and the cluster's API server: any other
#                             HTTP request the engine makes fails at once instead of reaching the network
# $STATE is $KUBESTEP_PULUMI_STATE, default ${TMPDIR:-/tmp}/kubestep-pulumi.
#
# Needs Node 20 with `npm ci` done, and, the first time (the build is cached), Go >= 1.26 and the Go module
# proxy: test/tooling/parts/build.sh says so when Go is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
log() { echo "[tooling pulumi] $*" >&2; }
format=export
[[ ${1:-} == --json ]] && format=json

for f in node_modules/@pulumi/pulumi/automation/index.js node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js node_modules/tsx/dist/loader.mjs; do
  [[ -f $ROOT/$f ]] || { log "$ROOT/$f is missing: run npm ci in $ROOT first"; exit 2; }
done
command -v node >/dev/null || { log "node (>= 20) is needed on PATH"; exit 2; }

# The CLI, from Go modules (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi, pinned in ../parts/pulumi/go.mod).
# Go's default install location counts as on PATH.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then export PATH=/usr/local/go/bin:$PATH; fi
if ! bin=$(bash "$ROOT/test/tooling/parts/build.sh" pulumi); then
  log "the Pulumi CLI could not be built. The engine tests need it: it is built once from Go modules"
  log "(Go >= 1.26 on PATH and access to the Go module proxy), then cached under \${KUBESTEP_TOOLING_CACHE:-/var/cache/kubestep-tooling}."
  exit 2
fi
CLI=$bin/pulumi
[[ -x $CLI ]] || { log "$CLI is missing after the build"; exit 2; }

STATE=${KUBESTEP_PULUMI_STATE:-${TMPDIR:-/tmp}/kubestep-pulumi}
mkdir -p "$STATE/home" "$STATE/backend"

no_proxy_hosts=localhost,127.0.0.1,::1
if [[ -n ${KUBECONFIG:-} && -f ${KUBECONFIG%%:*} ]]; then
  # The dynamic provider talks to the cluster: keep its API server off the closed proxy.
  server=$(sed -n 's|^ *server: *||p' "${KUBECONFIG%%:*}" | head -1)
  host=${server#*://}; host=${host%%/*}; host=${host%:*}; host=${host#[}; host=${host%]}
  [[ -n $host ]] && no_proxy_hosts=$no_proxy_hosts,$host
fi

vars=(
  "PATH=$bin:$HERE/bin:$PATH"
  "KUBESTEP_PULUMI_CLI=$CLI"
  "PULUMI_HOME=$STATE/home"
  "PULUMI_BACKEND_URL=file://$STATE/backend"
  "PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-kubestep-test-passphrase}"
  "PULUMI_SKIP_UPDATE_CHECK=true"
  "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
  "PULUMI_DISABLE_REGISTRY_RESOLVE=true"
  "HTTP_PROXY=http://127.0.0.1:9"
  "HTTPS_PROXY=http://127.0.0.1:9"
  "http_proxy=http://127.0.0.1:9"
  "https_proxy=http://127.0.0.1:9"
  "NO_PROXY=$no_proxy_hosts"
  "no_proxy=$no_proxy_hosts"
)

# Log in to the file backend with exactly that environment, and check that the CLI reports its version
# (the Automation API refuses a CLI without one).
version=$(env "${vars[@]}" "$CLI" version 2>&1) || { log "$CLI version failed: $version"; exit 2; }
[[ $version == v3.* ]] || { log "$CLI reports version '$version' (expected v3.x: is the part built with its // ldflags: line?)"; exit 2; }
out=$(env "${vars[@]}" "$CLI" login --non-interactive "file://$STATE/backend" 2>&1) || { log "pulumi login file://$STATE/backend failed: $out"; exit 2; }

if [[ $format == json ]]; then
  printf '%s\0' "${vars[@]}" | node -e '
    const out = {};
    for (const kv of require("fs").readFileSync(0, "utf8").split("\0").filter(Boolean)) {
      const i = kv.indexOf("=");
      out[kv.slice(0, i)] = kv.slice(i + 1);
    }
    console.log(JSON.stringify(out));'
else
  for kv in "${vars[@]}"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
fi
