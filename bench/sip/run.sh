#!/usr/bin/env bash
# SIP front-end benchmark on loopback: SIPp UAC → tollgate's redirect
# server (full screening, every decision recorded) and the same scenario
# against Kamailio answering a plain stateless 302, side by side.
#
#   bench/sip/run.sh                 # defaults below
#   ROUNDS=9 FIXED_RATE=2000 RATES="2000 4000" bench/sip/run.sh
#   TG_BIN=/tmp/tollgate bench/sip/run.sh   # a built binary instead of ./cmd/tollgate
#   TG_GOMAXPROCS=1 bench/sip/run.sh        # tollgate's Go runtime on one P
#
# The machine this runs on may be busy with other work, so every figure
# comes from rounds that alternate the two servers:
#
#  1. CPU per call: ROUNDS rounds at FIXED_RATE for DURATION s, each round
#     one SIPp run against tollgate and one against Kamailio, the order
#     swapped every round (T K, K T, T K …) so a load change during a round
#     falls on both. CPU is utime+stime from /proc over all the server's
#     processes (threads included), read just before and after its SIPp
#     run, divided by the calls SIPp completed. Each round prints the
#     1-minute load average at its start, both figures, ok/failed calls
#     and the ratio tollgate ÷ Kamailio (per completed call, and per
#     attempted call: CPU ÷ (ok + failed)); the summary gives the median,
#     lowest and highest ratio over all rounds and over the clean rounds
#     (no failed call on either side). When one server loses calls its
#     figure per completed call includes the retransmissions of the lost
#     ones: compare clean rounds, or both ratios.
#  2. Zero-failure rate: for each of RATES, RUNS runs per server,
#     interleaved the same way; a server passes a rate when most of its
#     runs there completed every call. The rate a server passes is
#     reported with its clean-run count per rate, so a rate lost to one
#     busy moment shows as 1 of 3, not as a cliff.
#  3. p50/p99 round trip at RTT_RATE from bench/sip/rtt (µs timing).
#
# CPU rounds run first, on a fresh tollgate: in redirect mode tollgate
# holds every allowed call for server.call_setup_s (300 s), and a sweep to
# high rates first would grow that table for the CPU rounds.
# Needs: go, sipp (sip-tester), kamailio.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"2000 4000 6000 8000"}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-7}
FIXED_RATE=${FIXED_RATE:-2000}
RTT_RATE=${RTT_RATE:-1000}
TG_PORT=${TG_PORT:-5070}
KAM_PORT=${KAM_PORT:-5080}
KAM_CHILDREN=${KAM_CHILDREN:-$(nproc)}
SKIP_SWEEP=${SKIP_SWEEP:-}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

if [ -n "${TG_BIN:-}" ]; then
	cp "$TG_BIN" "$work/tollgate"
else
	go build -o "$work/tollgate" ./cmd/tollgate
fi
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
tg=$!
pids+=("$tg")

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
kam=$!
pids+=("$kam")
# tollgate runs on one P once it has used under a quarter of a CPU for
# 10 s (internal/procs): SETTLE s lets the rounds see that steady state.
sleep "${SETTLE:-12}"

# cpu_ticks PID: utime+stime of PID (all its threads) and its children.
cpu_ticks() {
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		[ -r "/proc/$p/stat" ] || continue
		# fields after the ")" that ends the command name: utime is the 12th, stime the 13th
		total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$total"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# sipp_run PORT RATE SECONDS → prints "successful failed"
sipp_run() {
	local n=$(($2 * $3))
	sipp -sf bench/sip/uac_302.xml -r "$2" -m "$n" -l $(($2 * 2)) -i 127.0.0.1 -nostdin -timeout $(($3 + 15))s \
		-recv_timeout 5000 -trace_stat -stf "$work/stat.csv" "127.0.0.1:$1" >/dev/null 2>&1 || true
	[ -s "$work/stat.csv" ] || { echo "0 1"; return; }
	# SuccessfulCall(C) and FailedCall(C) columns of the last statistics row.
	awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $s+0, $f+0}' "$work/stat.csv"
	rm -f "$work/stat.csv"
}

# cpu_run PORT PID → prints "us_per_ok_call ok failed us_per_attempted_call"
# for one SIPp run at FIXED_RATE
cpu_run() {
	local t0 t1 ok failed
	t0=$(cpu_ticks "$2")
	read -r ok failed < <(sipp_run "$1" "$FIXED_RATE" "$DURATION")
	t1=$(cpu_ticks "$2")
	awk -v d=$((t1 - t0)) -v hz="$hz" -v c="$ok" -v f="$failed" \
		'BEGIN{ if (c>0) printf "%.1f %d %d %.1f\n", d*1e6/hz/c, c, f, d*1e6/hz/(c+f); else printf "nan %d %d nan\n", c, f }'
}

# stats: reads one number a line, prints "median min max n"
stats() { sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a n/a n/a 0"; exit}
	m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f %.2f %d\n", m, v[1], v[NR], NR }'; }

echo "== $(nproc) CPUs, $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1), $(kamailio -v | head -1), $(go version | cut -d' ' -f3)"
echo "== tollgate GOMAXPROCS=${TG_GOMAXPROCS:-default}, Kamailio children=$KAM_CHILDREN; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== CPU per call: $ROUNDS interleaved rounds at $FIXED_RATE calls/s, ${DURATION}s per server per round"
# warm-up, not counted: the first calls after start build lazily filled
# tables and grow the runtime's heap.
sipp_run "$TG_PORT" "$FIXED_RATE" 3 >/dev/null
sipp_run "$KAM_PORT" "$FIXED_RATE" 3 >/dev/null
printf "%-5s %6s %-5s %12s %14s %12s %14s %7s %9s\n" round load order "tollgate µs" "ok/failed" "kamailio µs" "ok/failed" ratio "ratio/att"
: >"$work/ratios.all"
: >"$work/ratios.att"
: >"$work/ratios.clean"
: >"$work/tg.us"
: >"$work/kam.us"
tg_fail_rounds=0 kam_fail_rounds=0
for ((r = 1; r <= ROUNDS; r++)); do
	l=$(load1)
	if ((r % 2)); then
		order=TK
		read -r tu tok tf ta < <(cpu_run "$TG_PORT" "$tg")
		read -r ku kok kf ka < <(cpu_run "$KAM_PORT" "$kam")
	else
		order=KT
		read -r ku kok kf ka < <(cpu_run "$KAM_PORT" "$kam")
		read -r tu tok tf ta < <(cpu_run "$TG_PORT" "$tg")
	fi
	ratio=$(awk -v a="$tu" -v b="$ku" 'BEGIN{ if (a=="nan" || b=="nan" || b==0) print "nan"; else printf "%.2f", a/b }')
	aratio=$(awk -v a="$ta" -v b="$ka" 'BEGIN{ if (a=="nan" || b=="nan" || b==0) print "nan"; else printf "%.2f", a/b }')
	printf "%-5s %6s %-5s %12s %14s %12s %14s %7s %9s\n" "$r" "$l" "$order" "$tu" "$tok/$tf" "$ku" "$kok/$kf" "$ratio" "$aratio"
	[ "$aratio" = nan ] || echo "$aratio" >>"$work/ratios.att"
	[ "$tf" = 0 ] || tg_fail_rounds=$((tg_fail_rounds + 1))
	[ "$kf" = 0 ] || kam_fail_rounds=$((kam_fail_rounds + 1))
	[ "$ratio" = nan ] && continue
	echo "$ratio" >>"$work/ratios.all"
	echo "$tu" >>"$work/tg.us"
	echo "$ku" >>"$work/kam.us"
	[ "$tf" = 0 ] && [ "$kf" = 0 ] && echo "$ratio" >>"$work/ratios.clean"
done
read -r tm tmin tmax _ < <(stats <"$work/tg.us")
read -r km kmin kmax _ < <(stats <"$work/kam.us")
read -r am amin amax an < <(stats <"$work/ratios.all")
read -r cm cmin cmax cn < <(stats <"$work/ratios.clean")
read -r pm pmin pmax pn < <(stats <"$work/ratios.att")
echo "== tollgate µs/call median $tm ($tmin–$tmax), Kamailio median $km ($kmin–$kmax)"
echo "== ratio tollgate ÷ Kamailio: median $am (lowest $amin, highest $amax) over $an rounds; clean rounds: median $cm ($cmin–$cmax) over $cn"
echo "== ratio per attempted call (CPU ÷ (ok + failed), what a server spends on calls it lost too): median $pm ($pmin–$pmax) over $pn"
echo "== rounds with a failed call: tollgate $tg_fail_rounds, Kamailio $kam_fail_rounds of $ROUNDS"

if [ -z "$SKIP_SWEEP" ]; then
	echo "== zero-failure sweep: rates $RATES, ${DURATION}s per run, $RUNS runs per server per rate, interleaved"
	tg_best=0 kam_best=0 tg_on=1 kam_on=1
	for rate in $RATES; do
		((tg_on || kam_on)) || break
		tg_ok=0 kam_ok=0 line=""
		for ((i = 0; i < RUNS; i++)); do
			l=$(load1)
			for who in $( ((i % 2)) && echo "K T" || echo "T K"); do
				if [ "$who" = T ]; then
					((tg_on)) || continue
					read -r ok failed < <(sipp_run "$TG_PORT" "$rate" "$DURATION")
					[ "$failed" = 0 ] && [ "$ok" -ge $((rate * DURATION)) ] && tg_ok=$((tg_ok + 1))
					line+=" T:$ok/$failed@$l"
				else
					((kam_on)) || continue
					read -r ok failed < <(sipp_run "$KAM_PORT" "$rate" "$DURATION")
					[ "$failed" = 0 ] && [ "$ok" -ge $((rate * DURATION)) ] && kam_ok=$((kam_ok + 1))
					line+=" K:$ok/$failed@$l"
				fi
			done
		done
		printf "%6s/s  tollgate clean %s of %s, kamailio clean %s of %s  (ok/failed@load:%s)\n" \
			"$rate" "$( ((tg_on)) && echo $tg_ok || echo -)" "$RUNS" "$( ((kam_on)) && echo $kam_ok || echo -)" "$RUNS" "$line"
		if ((tg_on)); then if ((tg_ok * 2 > RUNS)); then tg_best=$rate; else tg_on=0; fi; fi
		if ((kam_on)); then if ((kam_ok * 2 > RUNS)); then kam_best=$rate; else kam_on=0; fi; fi
	done
	echo "== zero-failure rate (most runs clean): tollgate $tg_best calls/s, Kamailio $kam_best calls/s"
fi

if [ "${RTT_RATE:-0}" != 0 ]; then
	echo "== round trip at $RTT_RATE/s, 5 s (load $(load1)): tollgate $("$work/rtt" -target "127.0.0.1:$TG_PORT" -rate "$RTT_RATE" -duration 5s)"
	echo "==                              Kamailio $("$work/rtt" -target "127.0.0.1:$KAM_PORT" -rate "$RTT_RATE" -duration 5s)"
fi
echo "== load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
