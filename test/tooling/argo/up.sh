#!/usr/bin/env bash
# Starts Argo Workflows on the running local cluster (test/tooling/cluster), built from Go modules:
#
#   eval "$(bash test/tooling/argo/up.sh <namespace>)"     # stop with: bash test/tooling/argo/down.sh
#
# - builds the controller and argoexec (test/tooling/parts/argo, cached) and an argoexec image (an OCI archive
#   holding only the static binary, cached), imported into the cluster's containerd;
# - applies Argo's own CRDs (the "full" ones, with their OpenAPI schemas, from the module) server-side;
# - runs workflow-controller as a host process, namespaced to <namespace>, with the admin kubeconfig (as the
#   JobSet controller runs), executor image = the local argoexec image; prints ARGO_* exports.
# The workflow pods' service account needs the executor's rights (workflowtaskresults create/patch): the caller
# creates it (the test does, with the RBAC Argo documents).
set -euo pipefail
ns=${1:?usage: up.sh <namespace>}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${KUBESTEP_TOOLING_CACHE:-/var/cache/kubestep-tooling}
STATE=${LOCAL_CLUSTER_STATE:-/tmp/local-cluster}
ARGO_STATE=${ARGO_STATE:-/tmp/kubestep-argo}
log() { echo "[argo up] $*" >&2; }
export KUBECONFIG=${KUBECONFIG:-$STATE/admin.kubeconfig}
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi
K8S_BIN=$(sed -n 's/^K8S_BIN=//p' "$CACHE/cluster.env")
export PATH=$K8S_BIN:$PATH
kubectl get --raw=/readyz >/dev/null 2>&1 || { log "the local cluster is not running (start it with test/tooling/cluster/up.sh)"; exit 2; }

BIN=$(bash "$ROOT/test/tooling/parts/build.sh" argo)
VERSION=$(sed -n 's|^// version: *||p' "$ROOT/test/tooling/parts/argo/go.mod" | head -1)
IMAGE=localhost/argoexec:$VERSION-local
TAR=$CACHE/images/argoexec-$VERSION-$(sha256sum "$BIN/argoexec" | cut -c1-12).tar
if [[ ! -f $TAR ]]; then
  log "building the argoexec image $IMAGE"
  BUILDAH=(buildah --storage-driver vfs --root "$CACHE/buildah" --runroot "$CACHE/buildah-run")
  c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy "$c" "$BIN/argoexec" /bin/argoexec >/dev/null
  "${BUILDAH[@]}" config --entrypoint '["/bin/argoexec"]' --env PATH=/bin "$c"
  "${BUILDAH[@]}" commit -q "$c" "oci-archive:$TAR.tmp:$IMAGE" >/dev/null
  "${BUILDAH[@]}" rm "$c" >/dev/null
  rm -f "$CACHE"/images/argoexec-*.tar
  mv "$TAR.tmp" "$TAR"
fi
ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import --all-platforms "$TAR" >/dev/null

SRC=$(cd "$ROOT/test/tooling/parts/argo" && GOMODCACHE=$CACHE/go/mod GOFLAGS=-mod=mod GOTOOLCHAIN=local go list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v3)
for crd in workflows workflowtemplates clusterworkflowtemplates cronworkflows workfloweventbindings workflowtaskresults workflowtasksets workflowartifactgctasks; do
  kubectl apply --server-side --force-conflicts -f "$SRC/manifests/base/crds/full/argoproj.io_$crd.yaml" >/dev/null
done
kubectl wait --for=condition=Established --timeout=60s crd/workflows.argoproj.io crd/workflowtemplates.argoproj.io crd/cronworkflows.argoproj.io crd/workflowtaskresults.argoproj.io >/dev/null

mkdir -p "$ARGO_STATE"
if [[ -f $ARGO_STATE/controller.pid ]] && kill -0 "$(cat "$ARGO_STATE/controller.pid")" 2>/dev/null; then
  log "workflow-controller already runs (pid $(cat "$ARGO_STATE/controller.pid")); stopping it to serve namespace $ns"
  kill "$(cat "$ARGO_STATE/controller.pid")" || true
  sleep 1
fi
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# The controller's settings (an empty ConfigMap is valid; it must exist for the controller to start cleanly).
kubectl -n "$ns" create configmap workflow-controller-configmap --dry-run=client -o yaml | kubectl apply -f - >/dev/null
LEADER_ELECTION_DISABLE=true nohup "$BIN/workflow-controller" \
  --kubeconfig "$KUBECONFIG" --namespaced --managed-namespace "$ns" --namespace "$ns" \
  --configmap workflow-controller-configmap --executor-image "$IMAGE" --executor-image-pull-policy Never \
  --loglevel info >"$ARGO_STATE/controller.log" 2>&1 &
echo $! > "$ARGO_STATE/controller.pid"
for _ in $(seq 1 60); do
  if curl -sf http://127.0.0.1:6060/healthz >/dev/null 2>&1 || grep -q "Starting Workflow Controller\|Started informer\|Starting workflow" "$ARGO_STATE/controller.log"; then break; fi
  kill -0 "$(cat "$ARGO_STATE/controller.pid")" 2>/dev/null || { tail -20 "$ARGO_STATE/controller.log" >&2; log "workflow-controller exited"; exit 1; }
  sleep 1
done
log "Argo Workflows $VERSION: workflow-controller (pid $(cat "$ARGO_STATE/controller.pid")) for namespace $ns, executor image $IMAGE"
echo "export ARGO_NAMESPACE=$ns ARGO_EXECUTOR_IMAGE=$IMAGE ARGO_CONTROLLER_LOG=$ARGO_STATE/controller.log"
