#!/usr/bin/env bash
# SIP front-end benchmark on loopback: SIPp UAC → tollgate's redirect
# server (full screening) and the same scenario against Kamailio answering
# a plain stateless 302, side by side.
#
#   bench/sip/run.sh                 # defaults below
#   RATES="10000 20000" DURATION=20 RUNS=3 FIXED_RATE=20000 bench/sip/run.sh
#   TG_GOMAXPROCS=1 bench/sip/run.sh   # tollgate's Go runtime on one P
#
# Reports per server: the highest rate (of RATES) with zero failed calls
# over DURATION s (median of RUNS), CPU µs per call at FIXED_RATE (from
# /proc, all the server's processes), and p50/p99 round trips at RTT_RATE
# from bench/sip/rtt (microsecond timing; SIPp only reports whole ms).
# Needs: go, sipp (sip-tester), kamailio.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"5000 10000 15000 20000 25000"}
DURATION=${DURATION:-20}
RUNS=${RUNS:-3}
FIXED_RATE=${FIXED_RATE:-20000}
RTT_RATE=${RTT_RATE:-5000}
TG_PORT=${TG_PORT:-5070}
KAM_PORT=${KAM_PORT:-5080}
KAM_CHILDREN=${KAM_CHILDREN:-$(nproc)}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

go build -o "$work/tollgate" ./cmd/tollgate
go build -o "$work/rtt" ./bench/sip/rtt

cat >"$work/policy.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  tokens: [{name: bench, role: admin, sha256: "0000000000000000000000000000000000000000000000000000000000000000"}]
sip:
  listen: [udp:127.0.0.1:$TG_PORT]
  upstream: sip:127.0.0.1:5090
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

cat >"$work/kamailio.cfg" <<KAM
#!KAMAILIO
debug=-1
log_stderror=yes
children=$KAM_CHILDREN
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:$KAM_PORT
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
request_route {
	if (is_method("ACK")) { exit; }
	append_to_reply("Contact: <sip:\$rU@127.0.0.1:5090>\r\n");
	sl_send_reply("302", "Moved Temporarily");
	exit;
}
KAM
kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" -P "$work/kam.pid" >"$work/kamailio.log" 2>&1 &
kam=$!; pids+=("$kam")
sleep 2

# cpu_ticks PID: utime+stime of PID and its children processes.
cpu_ticks() {
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		[ -r "/proc/$p/stat" ] || continue
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}

# sipp_run PORT RATE SECONDS → prints "successful failed"
sipp_run() {
	local n=$(($2 * $3))
	sipp -sf bench/sip/uac_302.xml -r "$2" -m "$n" -l $(($2 * 2)) -i 127.0.0.1 -nostdin -timeout $(($3 + 15))s \
		-recv_timeout 5000 -trace_stat -stf "$work/stat.csv" "127.0.0.1:$1" >/dev/null 2>&1 || true
	[ -s "$work/stat.csv" ] || { echo "0 1"; return; }
	# SuccessfulCall(C) and FailedCall(C) columns of the last statistics row.
	awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $s, $f}' "$work/stat.csv"
	rm -f "$work/stat.csv"
}

report() { # name port pid
	local name=$1 port=$2 pid=$3 best=0
	for r in $RATES; do
		local oks=0
		for ((i = 0; i < RUNS; i++)); do
			read -r ok failed < <(sipp_run "$port" "$r" "$DURATION")
			[ "${failed:-1}" = 0 ] && [ "${ok:-0}" -ge $((r * DURATION)) ] && oks=$((oks + 1))
		done
		# median of RUNS: most runs must be clean
		if ((oks * 2 > RUNS)); then best=$r; else break; fi
	done
	local t0 t1 calls
	t0=$(cpu_ticks "$pid")
	read -r calls failed < <(sipp_run "$port" "$FIXED_RATE" "$DURATION")
	t1=$(cpu_ticks "$pid")
	local us
	us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v c="${calls:-0}" 'BEGIN{ if (c>0) printf "%.1f", d*1e6/hz/c; else print "n/a"}')
	local rtt
	rtt=$("$work/rtt" -target "127.0.0.1:$port" -rate "$RTT_RATE" -duration 5s)
	printf "%-28s max zero-failure rate %6s calls/s | %6s µs CPU/call at %s/s (%s ok, %s failed) | rtt@%s/s: %s\n" \
		"$name" "$best" "$us" "$FIXED_RATE" "${calls:-0}" "${failed:-?}" "$RTT_RATE" "$rtt"
}

echo "== $(nproc) CPUs, $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*'), $(kamailio -v | head -1), $(go version | cut -d' ' -f3)"
echo "== rates tried: $RATES; ${DURATION}s per run, median of $RUNS; tollgate GOMAXPROCS=${TG_GOMAXPROCS:-default}, Kamailio children=$KAM_CHILDREN; load $(cut -d' ' -f1-3 /proc/loadavg)"
report "tollgate redirect (screening)" "$TG_PORT" "$tg"
report "kamailio stateless 302" "$KAM_PORT" "$kam"
