#!/usr/bin/env bash
# A/B on loopback: two tollgate binaries (TG_A, TG_B; e.g. main and a branch)
# and Kamailio answering a bare stateless 302, interleaved in one run, each
# with SIPp uac_302.xml at RATE calls/s for DUR s, ROUNDS times; prints CPU
# µs per call (utime+stime from /proc, all processes), ok/failed calls and
# the 1-minute load average per run; the order of the three rotates every
# round, and the summary gives medians and per-round ratios to Kamailio.
#   TG_A=/tmp/tg-main TG_B=/tmp/tg-branch RATE=2000 DUR=10 ROUNDS=2 bench/sip/ab.sh
set -u
cd "$(dirname "$0")/../.."
: "${TG_A:?set TG_A to a tollgate binary}" "${TG_B:?set TG_B to a tollgate binary}"
RATE=${RATE:-5000}; DUR=${DUR:-10}; ROUNDS=${ROUNDS:-2}
work=$(mktemp -d); hz=$(getconf CLK_TCK); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pol() { cat <<YAML
server:
  listen: 127.0.0.1:0
  tokens: [{name: bench, role: admin, sha256: "0000000000000000000000000000000000000000000000000000000000000000"}]
sip:
  listen: [udp:127.0.0.1:$1]
  upstream: sip:127.0.0.1:5090
  map: {extension_header: X-Extension}
  limits: {requests_per_s: 0}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: deny, countries: {"1": allow, "252": block}}
YAML
}
pol 5071 > $work/a.yaml; pol 5072 > $work/b.yaml
"$TG_A" serve -config $work/a.yaml -data $work/da > $work/a.log 2>&1 & A=$!; pids+=($A)
"$TG_B" serve -config $work/b.yaml -data $work/db > $work/b.log 2>&1 & B=$!; pids+=($B)
cat >"$work/kamailio.cfg" <<KAM
#!KAMAILIO
debug=-1
log_stderror=yes
children=2
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:5080
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
kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" -P "$work/kam.pid" >"$work/kamailio.log" 2>&1 & K=$!; pids+=($K)
sleep "${SETTLE:-3}"
cpu_ticks() { local total=0 p; for p in $1 $(pgrep -P "$1" || true); do [ -r /proc/$p/stat ] || continue; total=$((total + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $total; }
run() { # name port pid
  local n=$((RATE*DUR)) t0 t1
  t0=$(cpu_ticks $3)
  sipp -sf bench/sip/uac_302.xml -r $RATE -m $n -l $((RATE*2)) -i 127.0.0.1 -nostdin -timeout $((DUR+15))s -recv_timeout 5000 -trace_stat -stf $work/stat.csv 127.0.0.1:$2 >/dev/null 2>&1
  t1=$(cpu_ticks $3)
  read -r ok failed < <(awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $s, $f}' $work/stat.csv); rm -f $work/stat.csv
  awk -v n=$1 -v d=$((t1-t0)) -v hz=$hz -v ok=$ok -v f=$failed -v l=$(cut -d' ' -f1 /proc/loadavg) 'BEGIN{us=d*1e6/hz/(ok+f); printf "%-10s %7.1f us CPU/call  ok %d failed %d  load %s\n", n, us, ok, f, l; printf "%s %.2f\n", n, us >> "'$work'/us"}'
}
echo "== load $(cut -d' ' -f1-3 /proc/loadavg), rate $RATE/s, ${DUR}s, $ROUNDS rounds (order rotates every round)"
: > $work/us
for r in $(seq $ROUNDS); do
  case $((r % 3)) in
  1) run A 5071 $A; run B 5072 $B; run kamailio 5080 $K;;
  2) run B 5072 $B; run kamailio 5080 $K; run A 5071 $A;;
  0) run kamailio 5080 $K; run A 5071 $A; run B 5072 $B;;
  esac
done
# per-round ratios to Kamailio (the k-th A and B runs against the k-th Kamailio run), medians
awk '{v[$1, ++n[$1]] = $2} END{
  for (r = 1; r <= n["kamailio"]; r++) { a[r] = v["A", r] / v["kamailio", r]; b[r] = v["B", r] / v["kamailio", r] }
  printf "== median us/call: A %.1f, B %.1f, kamailio %.1f; median ratio to kamailio: A %.2f, B %.2f; B/A %.2f\n",
    med("A"), med("B"), med("kamailio"), mediana(a, n["kamailio"]), mediana(b, n["kamailio"]), med("B") / med("A") }
  function med(k,   i, x) { for (i = 1; i <= n[k]; i++) x[i] = v[k, i]; return mediana(x, n[k]) }
  function mediana(x, m,   i, j, t) { for (i = 2; i <= m; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
    return (m % 2) ? x[(m+1)/2] : (x[m/2] + x[m/2+1]) / 2 }' $work/us
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
du -sh $work/da $work/db
grep -i "warn\|error" $work/b.log | head -5
