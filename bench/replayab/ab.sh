#!/bin/sh
# A/B of replay CPU per CDR: a base commit and the working tree, built from
# the same bench/replayab, run alternately on the same generated files so
# both meet the same machine load. Each run prints µs CPU per CDR (every
# thread: getrusage), wall-clock CDRs/s and the report digest, which must
# be the same for both builds.
#
#	bench/replayab/ab.sh BASE_COMMIT [ROUNDS] [DIR]
#
# Files and binaries go to DIR (default /tmp/replayab); the base is built
# from a temporary worktree, removed at the end.
set -eu
base=${1:?base commit}
rounds=${2:-5}
dir=${3:-/tmp/replayab}
mkdir -p "$dir"
top=$(git rev-parse --show-toplevel)
cd "$top"
[ -f "$dir/rp/Master.csv" ] || go run ./bench/replayab -gen -dir "$dir/rp"
go build -o "$dir/ab_new" ./bench/replayab
wt="$dir/base-tree"
rm -rf "$wt"
git worktree add -q --detach "$wt" "$base"
trap 'git worktree remove --force "$wt"' EXIT
# The base gets this build's bench/replayab, so both print the same lines.
cp bench/replayab/main.go "$wt/bench/replayab/main.go"
(cd "$wt" && go build -o "$dir/ab_base" ./bench/replayab)
for i in $(seq "$rounds"); do
	for fmt in csv json; do
		flag=""
		[ "$fmt" = json ] && flag=-json
		for b in base new; do
			"$dir/ab_$b" -dir "$dir/rp" -n 2 $flag | grep '^run' | sed "s/^/$b $fmt /"
		done
	done
done
