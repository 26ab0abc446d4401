#!/usr/bin/env bash
# SIP proxy-mode flood against a PBX that never answers (issue 16, item 8):
# SIPp UAC → tollgate (sip.mode proxy) → a UDP socket that reads nothing.
# Every INVITE must still get a final answer from tollgate: 408 after
# Timer B (32 s), or 503 + Retry-After when its transaction table is full.
# A SIPp call without a final answer within 60 s fails: that INVITE was
# lost. The zero-loss rate is the highest rate with 0 failed calls.
#
#   bench/sip/silent.sh                                   # defaults below
#   RATES="500 1000 1500" DURATION=10 bench/sip/silent.sh
#   TOLLGATE_BIN=/tmp/tollgate-main bench/sip/silent.sh   # another build
#
# Reports per rate: calls sent, answered (final answer seen) and lost
# (SIPp failed calls), tollgate's CPU µs per call (utime+stime from /proc
# over the run, drained) and its resident memory at the end.
# Needs: go, sipp (sip-tester), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"500 1000 1500"}
DURATION=${DURATION:-10}
TG_PORT=${TG_PORT:-5172}
UAS_PORT=${UAS_PORT:-5192}
UAC_PORT=${UAC_PORT:-5194}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

bin=${TOLLGATE_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/tollgate
  go build -o "$bin" ./cmd/tollgate
fi
# MAX_TX sets sip.limits.max_transactions (builds before issue 16 lack the key).
limits="{requests_per_s: 0${MAX_TX:+, max_transactions: $MAX_TX}}"
cat >"$work/policy.yaml" <<YAML
server:
  listen: 127.0.0.1:7195
sip:
  mode: proxy
  listen: [udp:127.0.0.1:$TG_PORT]
  upstream: sip:127.0.0.1:$UAS_PORT
  map: {extension_header: X-Extension}
  limits: $limits
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: deny, countries: {"1": allow, "252": block}}
  hours: {after_hours_international: allow, night_international: allow}
YAML
# The silent PBX: binds the port, never reads, never answers.
python3 -c "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$UAS_PORT)); time.sleep(86400)" &
pids+=("$!")
"$bin" serve -config "$work/policy.yaml" -data "$work/data" >"$work/tollgate.log" 2>&1 &
tg=$!; pids+=("$tg")
sleep 2
kill -0 "$tg" 2>/dev/null || { echo "tollgate did not start:"; cat "$work/tollgate.log"; exit 1; }
kill -0 "${pids[0]}" 2>/dev/null || { echo "the silent PBX could not bind 127.0.0.1:$UAS_PORT"; exit 1; }
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;+1212555$(printf %04d $((i - 1000)))"; done; } >"$work/calls.csv"

cpu() { awk '{print $14 + $15}' "/proc/$tg/stat"; }
rss() { awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$tg/status"; }
col() { awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } END { print $c }' "$1"; }

printf '%-8s %-8s %-10s %-6s %-14s %s\n' rate sent answered lost "cpu µs/call" "rss after"
for r in $RATES; do
  n=$((r * DURATION))
  c0=$(cpu)
  sipp -sf sipfront/testdata/uac_silent.xml -inf "$work/calls.csv" -i 127.0.0.1 -p "$UAC_PORT" -r "$r" -m "$n" \
    -l $((r * 80)) -nostdin -timeout $((DURATION + 90))s -max_recv_loops 100000 -max_sched_loops 100000 \
    -trace_stat -stf "$work/stat-$r.csv" "127.0.0.1:$TG_PORT" >/dev/null 2>&1 || true
  # Let the finished transactions drain (keepDone, 32 s) before the next rate.
  sleep 35
  c1=$(cpu)
  ok=$(col "$work/stat-$r.csv" "SuccessfulCall(C)")
  failed=$(col "$work/stat-$r.csv" "FailedCall(C)")
  us=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$n" 'BEGIN{ printf "%.1f", (b - a) / hz * 1e6 / n }')
  printf '%-8s %-8s %-10s %-6s %-14s %s\n' "$r" "$n" "$ok" "$failed" "$us" "$(rss)"
done
