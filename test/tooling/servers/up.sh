#!/usr/bin/env bash
# Starts the object-store servers the cluster tests use, in the background, listening on 0.0.0.0 so
# pods reach them at the host IP:
#   s3rver  (S3 protocol)  port ${KUBESTEP_S3RVER_PORT:-4568}, data in /tmp/kubestep-servers/s3rver, bucket kubestep-test
#   azurite (Azure Blob)   port ${KUBESTEP_AZURITE_PORT:-10000}, in memory, loose mode, container kubestep-test
# Usage: eval "$(bash test/tooling/servers/up.sh [s3|azure|all])"     (default all)
# Prints `export ...` lines (endpoint, credentials, sysroots) on stdout; progress goes to stderr.
# Idempotent: a server whose pid file points at a live process is left running.
# Stop with: bash test/tooling/servers/down.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
STATE="${KUBESTEP_SERVERS_STATE:-/tmp/kubestep-servers}"
S3_PORT="${KUBESTEP_S3RVER_PORT:-4568}"
AZ_PORT="${KUBESTEP_AZURITE_PORT:-10000}"
WHICH="${1:-all}"
mkdir -p "$STATE"

host_ip() {
  local f="${LOCAL_CLUSTER_STATE:-/tmp/local-cluster}/host-ip"
  if [[ -s "$f" ]]; then tr -d '[:space:]' <"$f"; return; fi
  local ip
  ip="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1 || true)"
  echo "${ip:-127.0.0.1}"
}
HOST_IP="$(host_ip)"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_port() { # name port log
  for _ in $(seq 1 150); do
    if (echo >"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not start listening on port $2; its log ($3):" >&2
  cat "$3" >&2 || true
  return 1
}

if [[ "$WHICH" == all || "$WHICH" == s3 ]]; then
  if alive "$STATE/s3rver.pid"; then
    echo "s3rver already running (pid $(cat "$STATE/s3rver.pid"))" >&2
  else
    mkdir -p "$STATE/s3rver"
    # --openssl-legacy-provider: s3rver's list continuation tokens use DES (see s3rver.mjs).
    nohup node --openssl-legacy-provider "$HERE/s3rver.mjs" --port "$S3_PORT" --address 0.0.0.0 \
      --directory "$STATE/s3rver" --bucket kubestep-test >"$STATE/s3rver.log" 2>&1 </dev/null &
    echo $! >"$STATE/s3rver.pid"
    wait_port s3rver "$S3_PORT" "$STATE/s3rver.log"
    echo "s3rver listening on 0.0.0.0:$S3_PORT (pid $(cat "$STATE/s3rver.pid"))" >&2
  fi
  echo "export KUBESTEP_S3_ENDPOINT_URL=http://$HOST_IP:$S3_PORT AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 KUBESTEP_DATASTORE_SYSROOT_S3=s3://kubestep-test/kubestep"
fi

if [[ "$WHICH" == all || "$WHICH" == azure ]]; then
  if alive "$STATE/azurite.pid"; then
    echo "azurite already running (pid $(cat "$STATE/azurite.pid"))" >&2
  else
    mkdir -p "$STATE/azurite"
    cd "$STATE/azurite"
    nohup node "$ROOT/node_modules/azurite/dist/src/blob/main.js" --blobHost 0.0.0.0 --blobPort "$AZ_PORT" \
      --inMemoryPersistence --loose --skipApiVersionCheck --disableTelemetry --silent >"$STATE/azurite.log" 2>&1 </dev/null &
    echo $! >"$STATE/azurite.pid"
    cd "$ROOT"
    wait_port azurite "$AZ_PORT" "$STATE/azurite.log"
    echo "azurite blob listening on 0.0.0.0:$AZ_PORT (pid $(cat "$STATE/azurite.pid"))" >&2
  fi
  CONN="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://$HOST_IP:$AZ_PORT/devstoreaccount1;"
  # Create the test container (idempotent) with the project's own SDK.
  (cd "$ROOT" && AZURE_STORAGE_CONNECTION_STRING="$CONN" node -e '
    const { BlobServiceClient } = require("@azure/storage-blob");
    BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING)
      .getContainerClient("kubestep-test").createIfNotExists()
      .then(() => {}, (e) => { console.error("creating container kubestep-test failed:", e.message); process.exit(1); });') >&2
  echo "export AZURE_STORAGE_CONNECTION_STRING='$CONN' KUBESTEP_DATASTORE_SYSROOT_AZURE=azure://devstoreaccount1/kubestep-test/kubestep"
fi
