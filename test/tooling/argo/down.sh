#!/usr/bin/env bash
# Stops the workflow-controller started by up.sh (the CRDs stay: removing them would delete every Argo object).
set -euo pipefail
ARGO_STATE=${ARGO_STATE:-/tmp/kubestep-argo}
if [[ -f $ARGO_STATE/controller.pid ]]; then
  pid=$(cat "$ARGO_STATE/controller.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$ARGO_STATE/controller.pid"
fi
