#!/usr/bin/env bash
# Builds one "real part" of the test tooling from Go modules and caches it.
#
#   test/tooling/parts/build.sh <part>     # prints the part's bin directory
#
# Each part is a small Go module in test/tooling/parts/<part>/ (go.mod + go.sum pin every version; the
# binaries are its `tool` directives). The result goes to $KUBESTEP_TOOLING_CACHE/<part>-<key>/bin, where
# <key> is the part's version plus a hash of its go.mod and go.sum: a part is rebuilt only when
# one of them changes. Go's module and build caches are kept under the same folder, so a rebuild after a
# version bump only compiles what changed.
set -euo pipefail
part=${1:?usage: build.sh <part>}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$HERE/$part
[[ -f $DIR/go.mod ]] || { echo "[tooling] unknown part '$part' (no $DIR/go.mod)" >&2; exit 2; }
CACHE=${KUBESTEP_TOOLING_CACHE:-/var/cache/kubestep-tooling}
log() { echo "[tooling $part] $*" >&2; }

command -v go >/dev/null 2>&1 || { log "Go is needed to build the test tooling (Go >= 1.26 on PATH; e.g. /usr/local/go/bin)"; exit 2; }

# The Go the part's modules need (its go.mod's `go` line): GOTOOLCHAIN=local never downloads another one.
need_go=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$DIR/go.mod")
have_go=$(go env GOVERSION | sed 's/^go//')
if [[ -n $need_go && $(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1) != "$need_go" ]]; then
  log "needs Go >= $need_go (its modules require it; this machine has go$have_go): install a newer Go on PATH"; exit 2
fi

# The part's version: the `// version:` line of its go.mod (the version of the module it builds).
version=$(sed -n 's|^// version: *||p' "$DIR/go.mod" | head -1)
[[ -n $version ]] || { log "$DIR/go.mod has no '// version:' line"; exit 2; }
hash=$(shopt -s nullglob; cat "$DIR/go.mod" "$DIR/go.sum" "$DIR"/*.go "$DIR"/prepare.s[h] | sha256sum | cut -c1-12)
OUT=$CACHE/$part-$version-$hash
if [[ -f $OUT/.done ]]; then echo "$OUT/bin"; exit 0; fi

# One build of a part at a time (a second caller waits, then finds it built).
mkdir -p "$CACHE"
exec 9>"$CACHE/.$part.lock"
flock 9
if [[ -f $OUT/.done ]]; then echo "$OUT/bin"; exit 0; fi
rm -rf "$OUT.tmp"
mkdir -p "$CACHE/go/mod" "$CACHE/go/build" "$OUT.tmp/bin"
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=${CGO_ENABLED:-0}
ldflags="-s -w $(sed -n 's|^// ldflags: *||p' "$DIR/go.mod" | head -1)"
tools=$(cd "$DIR" && go mod edit -json | node -e 'for (const t of JSON.parse(require("fs").readFileSync(0, "utf8")).Tool ?? []) console.log(t.Path)')
[[ -n $tools ]] || { log "$DIR/go.mod lists no tool"; exit 2; }
start=$(date +%s)
# Go names a binary after its package's last path element, skipping a major-version suffix (/v3).
names=$(echo "$tools" | awk -F/ '{n = $NF; if (n ~ /^v[0-9]+$/) n = $(NF - 1); print n}' | tr '\n' ' ')
for r in $(sed -n 's|^// rename: *||p' "$DIR/go.mod"); do names=${names//${r%%=*}/${r#*=}}; done
log "building $version: ${names}(cold: several minutes)"
# A part may need its module sources fixed before the build (its `prepare.sh`, e.g. a file a module zip cannot
# hold): the build then runs in a copy of the part's folder, after `prepare.sh <copy> <fixed-sources-dir>`.
BUILD_DIR=$DIR
if [[ -f $DIR/prepare.sh ]]; then
  BUILD_DIR=$OUT.tmp/part
  mkdir -p "$BUILD_DIR" && cp "$DIR"/go.mod "$DIR"/go.sum "$BUILD_DIR"/
  (cd "$BUILD_DIR" && bash "$DIR/prepare.sh" "$BUILD_DIR" "$OUT.tmp/src") >"$OUT.tmp/prepare.log" 2>&1 \
    || { tail -20 "$OUT.tmp/prepare.log" >&2; log "prepare.sh failed (log: $OUT.tmp/prepare.log)"; exit 1; }
fi
# shellcheck disable=SC2086
(cd "$BUILD_DIR" && go build -trimpath -ldflags "$ldflags" -o "$OUT.tmp/bin/" $tools) >"$OUT.tmp/build.log" 2>&1 \
  || { tail -40 "$OUT.tmp/build.log" >&2; log "build failed (log: $OUT.tmp/build.log)"; exit 1; }
# Binaries named after their package directory; a part may rename them (`// rename: from=to ...`).
for r in $(sed -n 's|^// rename: *||p' "$DIR/go.mod"); do mv "$OUT.tmp/bin/${r%%=*}" "$OUT.tmp/bin/${r#*=}"; done
echo "$(( $(date +%s) - start ))" > "$OUT.tmp/build-seconds"
rm -rf "$OUT.tmp/part" "$OUT.tmp/src"
touch "$OUT.tmp/.done"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
# Older builds of this part are dropped (their module and build caches stay shared).
for old in "$CACHE/$part"-*; do [[ $old == "$OUT" || ! -d $old ]] || rm -rf "$old"; done
log "built in $(cat "$OUT/build-seconds") s -> $OUT/bin"
echo "$OUT/bin"
