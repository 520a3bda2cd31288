#!/usr/bin/env bash
# Starts the object-store servers the cluster tests use, in the background, listening on 0.0.0.0 so pods
# reach them at the host IP (never on any other address):
#   versitygw       (S3, verifies SigV4)  port ${KUBESTEP_S3_PORT:-4568}, posix backend in $STATE/versitygw, bucket kubestep-test
#   fake-gcs-server (GCS JSON/XML API)    port ${KUBESTEP_GCS_PORT:-4443}, filesystem backend in $STATE/fake-gcs-server, bucket kubestep-test
#   azurite         (Azure Blob)          port ${KUBESTEP_AZURITE_PORT:-10000}, in memory, loose mode, container kubestep-test
# versitygw and fake-gcs-server are built from their pinned Go modules by test/tooling/parts/build.sh (cached).
# Usage: eval "$(bash test/tooling/servers/up.sh [s3|gs|azure|all])"     (default all)
# Prints `export ...` lines (endpoints, credentials, sysroots) on stdout; progress goes to stderr.
# Idempotent: a server whose pid file points at a live process is left running.
# Stop with: bash test/tooling/servers/down.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
STATE="${KUBESTEP_SERVERS_STATE:-/tmp/kubestep-servers}"
S3_PORT="${KUBESTEP_S3_PORT:-4568}"
GCS_PORT="${KUBESTEP_GCS_PORT:-4443}"
AZ_PORT="${KUBESTEP_AZURITE_PORT:-10000}"
WHICH="${1:-all}"
case "$WHICH" in all|s3|gs|azure) ;; *) echo "up.sh: unknown server set '$WHICH'; use s3, gs, azure or all" >&2; exit 2 ;; esac
# The S3 root user's keys: the same test-only values as S3_ACCESS_KEY / S3_SECRET_KEY in servers.ts.
S3_ACCESS_KEY=KUBESTEPTESTROOT
S3_SECRET_KEY=kubestep-test-secret-key-0123456789abcdef
BUCKET=kubestep-test
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

wait_http() { # name url pid log: until the URL answers 2xx
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "$1 did not answer $2; its log ($4):" >&2
  cat "$4" >&2 || true
  return 1
}

# A server's process runs with only PATH and HOME, so no VGW_* / FAKE_GCS_* setting of the caller leaks in.
start_bg() { # pidfile log cmd...
  local pidfile=$1 log=$2; shift 2
  nohup env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$@" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

if [[ "$WHICH" == all || "$WHICH" == s3 ]]; then
  if alive "$STATE/versitygw.pid"; then
    echo "versitygw already running (pid $(cat "$STATE/versitygw.pid"))" >&2
  else
    BIN="$(bash "$ROOT/test/tooling/parts/build.sh" versitygw)"
    mkdir -p "$STATE/versitygw"
    start_bg "$STATE/versitygw.pid" "$STATE/versitygw.log" "$BIN/versitygw" --port "0.0.0.0:$S3_PORT" \
      --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --region us-east-1 --health /_health --quiet posix "$STATE/versitygw"
    wait_http versitygw "http://127.0.0.1:$S3_PORT/_health" "$(cat "$STATE/versitygw.pid")" "$STATE/versitygw.log"
    echo "versitygw listening on 0.0.0.0:$S3_PORT (pid $(cat "$STATE/versitygw.pid"))" >&2
  fi
  # Create the test bucket (idempotent) with the project's own SDK: a SigV4-signed request.
  (cd "$ROOT" && AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node -e '
    const { S3Client, CreateBucketCommand } = require("@aws-sdk/client-s3");
    const [endpoint, accessKeyId, secretAccessKey, Bucket] = process.argv.slice(1);
    new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } })
      .send(new CreateBucketCommand({ Bucket }))
      .then(() => {}, (e) => { if (e.name !== "BucketAlreadyOwnedByYou") { console.error(`creating bucket ${Bucket} failed:`, e.message); process.exit(1); } });' \
    "http://127.0.0.1:$S3_PORT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$BUCKET") >&2
  echo "export KUBESTEP_S3_ENDPOINT_URL=http://$HOST_IP:$S3_PORT AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_REGION=us-east-1 KUBESTEP_DATASTORE_SYSROOT_S3=s3://$BUCKET/kubestep"
fi

if [[ "$WHICH" == all || "$WHICH" == gs ]]; then
  GCS_DIR="$STATE/fake-gcs-server"
  if alive "$STATE/fake-gcs-server.pid"; then
    echo "fake-gcs-server already running (pid $(cat "$STATE/fake-gcs-server.pid"))" >&2
  else
    BIN="$(bash "$ROOT/test/tooling/parts/build.sh" fake-gcs-server)"
    mkdir -p "$GCS_DIR/data"
    # -public-host: path-style URLs (/bucket/object, as signed URLs use) are served for this Host header;
    # -external-url: resumable uploads continue at the address clients and pods use.
    start_bg "$STATE/fake-gcs-server.pid" "$STATE/fake-gcs-server.log" "$BIN/fake-gcs-server" -scheme http -host 0.0.0.0 -port "$GCS_PORT" \
      -backend filesystem -filesystem-root "$GCS_DIR/data" -public-host "$HOST_IP:$GCS_PORT" -external-url "http://$HOST_IP:$GCS_PORT" -log-level warn
    wait_http fake-gcs-server "http://127.0.0.1:$GCS_PORT/_internal/healthcheck" "$(cat "$STATE/fake-gcs-server.pid")" "$STATE/fake-gcs-server.log"
    echo "fake-gcs-server listening on 0.0.0.0:$GCS_PORT (pid $(cat "$STATE/fake-gcs-server.pid"))" >&2
  fi
  # Create the test bucket (idempotent: 409 when it exists).
  status="$(curl -sS -o "$STATE/fake-gcs-server.bucket.json" -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data "{\"name\":\"$BUCKET\"}" "http://127.0.0.1:$GCS_PORT/storage/v1/b?project=kubestep-test")"
  if [[ "$status" != 200 && "$status" != 409 ]]; then
    echo "creating bucket $BUCKET on fake-gcs-server failed ($status): $(cat "$STATE/fake-gcs-server.bucket.json")" >&2
    exit 1
  fi
  # A throw-away service account key (known to no Google service) to sign URLs with; fake-gcs-server does not
  # check signatures or credentials, the SDK needs a key to sign.
  KEY="$GCS_DIR/service-account.json"
  if [[ ! -s "$KEY" ]]; then
    pem="$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)"
    jq -n --arg pem "$pem" --arg id "$(openssl rand -hex 20)" '{type: "service_account", project_id: "kubestep-test",
      private_key_id: $id, private_key: ($pem + "\n"), client_email: "kubestep-test@kubestep-test.iam.gserviceaccount.com",
      client_id: "100000000000000000001", token_uri: "https://oauth2.googleapis.com/token"}' >"$KEY.tmp"
    chmod 600 "$KEY.tmp" && mv "$KEY.tmp" "$KEY"
  fi
  echo "export KUBESTEP_GCS_ENDPOINT_URL=http://$HOST_IP:$GCS_PORT GOOGLE_APPLICATION_CREDENTIALS=$KEY KUBESTEP_DATASTORE_SYSROOT_GS=gs://$BUCKET/kubestep"
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
