#!/usr/bin/env bash
# Restarts the local cluster's kube-apiserver (started by up.sh) as a fault to survive: stops the process
# recorded in $LOCAL_CLUSTER_STATE/pids, keeps it down for DOWN_SECONDS (first argument, default 5), starts
# it again with the very same binary and command line (appending to its log), records the new pid in place
# of the old one (so down.sh still stops it) and waits for /readyz (at most 90 s).
# Used by the API-server-restart cluster test; every other client of the cluster sees a short outage.
set -euo pipefail
CACHE=${KUBESTEP_TOOLING_CACHE:-/var/cache/kubestep-tooling}
STATE=${LOCAL_CLUSTER_STATE:-/tmp/local-cluster}
DOWN_SECONDS=${1:-5}
log() { echo "[local-cluster restart-apiserver] $*" >&2; }
[[ -f $STATE/pids ]] || { log "no cluster is up ($STATE/pids is missing)"; exit 1; }
pid=$(awk '$1 == "kube-apiserver" {print $2}' "$STATE/pids" | tail -1)
[[ -n $pid && -r /proc/$pid/cmdline ]] || { log "kube-apiserver (pid ${pid:-?}) is not running"; exit 1; }
bin=$(readlink "/proc/$pid/exe")
mapfile -d '' args < "/proc/$pid/cmdline"
args=("${args[@]:1}")
kill "$pid"
for _ in $(seq 1 120); do [[ -e /proc/$pid ]] || break; sleep 0.25; done
if [[ -e /proc/$pid ]]; then kill -9 "$pid"; sleep 0.5; fi
log "kube-apiserver (pid $pid) stopped; down for ${DOWN_SECONDS}s"
sleep "$DOWN_SECONDS"
# Detached (own session), so it outlives whoever ran this script.
setsid "$bin" "${args[@]}" >>"$STATE/logs/kube-apiserver.log" 2>&1 < /dev/null &
new=$!
sed -i "s/^kube-apiserver $pid\$/kube-apiserver $new/" "$STATE/pids"
export KUBECONFIG=$STATE/admin.kubeconfig
if [[ -f $CACHE/cluster.env ]]; then
  # shellcheck disable=SC1091
  source "$CACHE/cluster.env"
  export PATH=$K8S_BIN:$PATH
fi
for _ in $(seq 1 360); do
  if kubectl get --raw=/readyz >/dev/null 2>&1; then log "kube-apiserver (pid $new) ready"; exit 0; fi
  sleep 0.25
done
log "kube-apiserver (pid $new) not ready within 90 s; see $STATE/logs/kube-apiserver.log"
exit 1
