#!/usr/bin/env bash
# Run by ../build.sh in a copy of this folder before the build: `prepare.sh <build-dir> <src-dir>`.
#
# Argo Workflows keeps workflow/executor/osspecific/signal_linux.go as a symlink to signal_darwin.go in its
# repository; Go module zips cannot hold symlinks, so the module as served lacks the file and argoexec does not
# compile for Linux ("undefined: Setpgid"). This copies the module's sources, restores the file exactly as the
# symlink makes it (a copy of signal_darwin.go, whose code is for every Unix), and points the build at the copy.
set -euo pipefail
build=$1 src=$2
mod=github.com/argoproj/argo-workflows/v3
version=$(sed -n "s|^require $mod \(v[^ ]*\)|\1|p; s|^\t$mod \(v[^ ]*\).*|\1|p" "$build/go.mod" | head -1)
[[ -n $version ]] || { echo "no $mod version in go.mod" >&2; exit 1; }
dir=$(go mod download -json "$mod@$version" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).Dir)')
rm -rf "$src" && mkdir -p "$src" && cp -r "$dir"/. "$src"/ && chmod -R u+w "$src"
f=$src/workflow/executor/osspecific
[[ -f $f/signal_linux.go ]] || cp "$f/signal_darwin.go" "$f/signal_linux.go"
go mod edit -replace "$mod=$src" "$build/go.mod"
