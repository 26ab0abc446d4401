#!/usr/bin/env bash
# SIP proxy-mode benchmark on loopback: SIPp UAC → tollgate (sip.mode
# proxy, full screening, Record-Route, answer/end events) → SIPp UAS.
# Each call is INVITE/100/180/200/ACK, 300 ms, BYE/200 through tollgate.
#
#   bench/sip/proxy.sh                       # defaults below
#   RATES="500 1000 2000" DURATION=20 bench/sip/proxy.sh
#   TG_GOMAXPROCS=1 bench/sip/proxy.sh       # tollgate's Go runtime on one P
#
# Reports per rate: calls ok / failed (SIPp), tollgate's CPU µs per call
# (utime+stime from /proc over the run) and the engine's live calls once
# the run has drained (must be 0: every end reached the engine). Then,
# in the same run and at the same rate, the same calls through Kamailio
# as a stateful proxy (tm + dialog, Record-Route) in front of the same
# SIPp UAS, its CPU counted over all its processes (KAMAILIO=0: skip).
# Needs: go, sipp (sip-tester), kamailio.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"250 500 1000 2000"}
DURATION=${DURATION:-10}
TG_PORT=${TG_PORT:-5072}
UAS_PORT=${UAS_PORT:-5092}
UAC_PORT=${UAC_PORT:-5094}
KAM_PORT=${KAM_PORT:-5082}
KAMAILIO=${KAMAILIO:-1}
KAM_CHILDREN=${KAM_CHILDREN:-$(nproc)}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

go build -o "$work/tollgate" ./cmd/tollgate
token=tg_bench-proxy-$$
export TOLLGATE_BENCH_TOKEN=$token
cat >"$work/policy.yaml" <<YAML
server:
  listen: 127.0.0.1:7095
  tokens: [{name: bench, role: admin, secret_env: TOLLGATE_BENCH_TOKEN}]
sip:
  mode: proxy
  listen: [udp:127.0.0.1:$TG_PORT]
  upstream: sip:127.0.0.1:$UAS_PORT
  map: {extension_header: X-Extension}
  limits: {requests_per_s: 0}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: deny, countries: {"1": allow, "252": block}}
YAML
GOMAXPROCS=${TG_GOMAXPROCS:-} "$work/tollgate" serve -config "$work/policy.yaml" -data "$work/data" >"$work/tollgate.log" 2>&1 &
tg=$!; pids+=("$tg")
sipp -sf test/testdata/sipp/uas.xml -i 127.0.0.1 -p "$UAS_PORT" -nostdin -bg >/dev/null 2>&1 || true
uas=$(pgrep -n -f "sipp -sf test/testdata/sipp/uas.xml -i 127.0.0.1 -p $UAS_PORT" || true)
[ -n "$uas" ] && pids+=("$uas")
kam=
if [ "$KAMAILIO" = 1 ]; then
cat >"$work/kamailio.cfg" <<KAM
#!KAMAILIO
debug=-1
log_stderror=yes
children=$KAM_CHILDREN
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:$KAM_PORT
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "dialog.so"
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	t_check_trans();
	if (is_method("INVITE")) { dlg_manage(); record_route(); }
	\$du = "sip:127.0.0.1:$UAS_PORT";
	if (!t_relay()) { sl_reply_error(); }
	exit;
}
KAM
kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" -P "$work/kam.pid" >"$work/kamailio.log" 2>&1 &
kam=$!; pids+=("$kam")
fi
sleep 2
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;+1212555$(printf %04d $((i - 1000)))"; done; } >"$work/calls.csv"

cpu() { awk '{print $14 + $15}' "/proc/$tg/stat"; }
# kam_cpu: utime+stime of Kamailio and its children processes.
kam_cpu() {
  local total=0 p
  for p in $kam $(pgrep -P "$kam" || true); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
live() { curl -s http://127.0.0.1:7095/healthz | sed -n 's/.*"live_calls":\([0-9]*\).*/\1/p'; }
col() { awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } END { print $c }' "$1"; }

# one NAME PORT CPUFN RATE: run the calls through one proxy, print a row.
one() {
  local name=$1 port=$2 cpufn=$3 r=$4 n=$(($4 * DURATION)) c0 c1 ok failed us
  c0=$($cpufn)
  sipp -sf test/testdata/sipp/uac_call.xml -inf "$work/calls.csv" -i 127.0.0.1 -p "$UAC_PORT" -r "$r" -m "$n" \
    -l $((r * 2)) -nostdin -timeout $((DURATION + 30))s -recv_timeout 5000 -trace_stat -stf "$work/stat-$name-$r.csv" -trace_err -error_file "$work/err-$name-$r.log" \
    "127.0.0.1:$port" >/dev/null 2>&1 || true
  c1=$($cpufn)
  sleep 2
  ok=$(col "$work/stat-$name-$r.csv" "SuccessfulCall(C)")
  failed=$(col "$work/stat-$name-$r.csv" "FailedCall(C)")
  us=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$ok" 'BEGIN{ if (n > 0) printf "%.1f", (b - a) / hz * 1e6 / n; else print "-" }')
  local after=-
  [ "$name" = tollgate ] && after=$(live)
  printf '%-9s %-8s %-10s %-8s %-14s %s\n' "$name" "$r" "$ok" "$failed" "$us" "$after"
  [ -n "${KEEP_ERRORS:-}" ] && cp "$work/err-$name-$r.log" "$KEEP_ERRORS-$name-$r.log" 2>/dev/null || true
}

echo "== $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${DURATION}s per rate"
printf '%-9s %-8s %-10s %-8s %-14s %s\n' proxy rate ok failed "cpu µs/call" "live calls after"
for r in $RATES; do
  one tollgate "$TG_PORT" cpu "$r"
  [ -n "$kam" ] && one kamailio "$KAM_PORT" kam_cpu "$r"
done
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
