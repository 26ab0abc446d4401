#!/bin/sh
# ab.sh runs the restart benchmark on two revisions in one go: BASE (a git
# revision, built from 'git archive') and the working tree, each with its
# own bench/restart and tollgate binaries, same flags, one after the
# other. Output goes to OUT/base.txt and OUT/new.txt.
#
#	bench/restart/ab.sh BASE OUT [flags for bench/restart...]
set -eu
base=$1
out=$2
shift 2
mkdir -p "$out/base-src"
git archive "$base" | tar -x -C "$out/base-src"
(cd "$out/base-src" && go build -o "$out/base-tollgate" ./cmd/tollgate && go build -o "$out/base-restart" ./bench/restart)
go build -o "$out/new-tollgate" ./cmd/tollgate
go build -o "$out/new-restart" ./bench/restart
"$out/base-restart" -bin "$out/base-tollgate" -dir "$out/base-day" "$@" > "$out/base.txt" 2>&1
"$out/new-restart" -bin "$out/new-tollgate" -dir "$out/new-day" "$@" > "$out/new.txt" 2>&1
cat "$out/base.txt" "$out/new.txt"
