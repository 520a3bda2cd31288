#!/usr/bin/env bash
# Stops the servers test/tooling/servers/up.sh started (versitygw, fake-gcs-server, azurite; by their pid
# files) and removes their data.
# Usage: bash test/tooling/servers/down.sh
set -uo pipefail
STATE="${KUBESTEP_SERVERS_STATE:-/tmp/kubestep-servers}"
for name in versitygw fake-gcs-server azurite; do
  pidfile="$STATE/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    echo "stopped $name (pid $pid)" >&2
  fi
  rm -f "$pidfile"
done
rm -rf "$STATE/versitygw" "$STATE/fake-gcs-server" "$STATE/fake-gcs-server.bucket.json" "$STATE/azurite"
