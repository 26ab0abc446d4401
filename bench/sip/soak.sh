#!/usr/bin/env bash
# Memory soak on loopback: SIPp uac_302.xml at RATE calls/s for DUR s
# against tollgate's redirect server (full screening; no answer/end
# events, as a redirect deployment whose proxy posts none). Prints the
# server's RSS every 30 s, the calls ok/failed and the data directory's
# size, and leaves heap profiles (each after a forced GC) in $OUT: heap-warm.pprof at WARM s
# (default: server.call_setup_s + one 30 s sweep, when calls without
# events start being forgotten) and heap-end.pprof at the end; compare them
# with `go tool pprof -top -base $OUT/heap-warm.pprof $OUT/heap-end.pprof`.
# The server's log is kept as $OUT/tg.log; GCTRACE=1 adds a line per GC
# cycle to it (GODEBUG=gctrace=1 for the server only: set for the build
# too, the compiler's traces would be cached with its output).
#   MEMLIMIT=224 ... sets server.memory_limit_mb (unset: automatic; -1: none)
#   RATE=1000 DUR=600 OUT=/tmp/soak bench/sip/soak.sh
#   SETUP=120 ... sets server.call_setup_s (default: unset, 300 s)
set -u
cd "$(dirname "$0")/../.."
RATE=${RATE:-1000}; DUR=${DUR:-600}; OUT=${OUT:-$(mktemp -d)}
SETUP=${SETUP:-}; MEMLIMIT=${MEMLIMIT:-}; GCTRACE=${GCTRACE:-}; WARM=${WARM:-$(( ${SETUP:-300} + 60 ))}
PORT=${PORT:-5074}; API=${API:-7098}
mkdir -p "$OUT"; work=$(mktemp -d)
trap 'kill $TG 2>/dev/null; wait $TG 2>/dev/null; cp "$work/tg.log" "$OUT/tg.log" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/tollgate" ./cmd/tollgate
cat >"$work/policy.yaml" <<YAML
server:
  listen: 127.0.0.1:$API
${SETUP:+  call_setup_s: $SETUP}
${MEMLIMIT:+  memory_limit_mb: $MEMLIMIT}
sip:
  listen: [udp:127.0.0.1:$PORT]
  upstream: sip:127.0.0.1:5090
  map: {extension_header: X-Extension}
  limits: {requests_per_s: 0}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: deny, countries: {"1": allow, "252": block}}
YAML
GODEBUG=${GCTRACE:+gctrace=1} "$work/tollgate" serve -config "$work/policy.yaml" -data "$work/data" >"$work/tg.log" 2>&1 & TG=$!
# The admin token is in the log once the server is up (up to 60 s on a
# loaded machine; without it the heap profiles are not fetched).
for _ in $(seq 60); do
  token=$(grep -o "TOLLGATE_TOKEN=[^ ]*" "$work/tg.log" | head -1 | cut -d= -f2)
  [ -n "$token" ] && break
  sleep 1
done
# SIPp's watchdog ends a run whose own timer thread was starved (500 ms
# late 120 times: on a shared machine at load ~35, ~200 s in); its
# failures are counted instead.
[ -n "$token" ] || { echo "no admin token in the server log after 60 s" >&2; cat "$work/tg.log" >&2; exit 1; }
sipp -sf bench/sip/uac_302.xml -r "$RATE" -m $((RATE * DUR)) -l $((RATE * 2)) -i 127.0.0.1 -nostdin -timeout $((DUR + 30))s \
  -watchdog_minor_maxtriggers 1000000 -watchdog_major_maxtriggers 1000000 \
  -recv_timeout 5000 -trace_stat -stf "$work/stat.csv" "127.0.0.1:$PORT" >/dev/null 2>"$OUT/sipp.err" & S=$!
start=$(date +%s)
echo "== rate $RATE/s for ${DUR}s"
metric() { curl -sS -H "Authorization: Bearer $token" "http://127.0.0.1:$API/metrics" | awk -v m="$1" '$1==m{print $2}'; }
warm=""
while kill -0 $S 2>/dev/null; do
  el=$(($(date +%s) - start))
  echo "$el s rss_kb $(awk '/VmRSS/{print $2}' /proc/$TG/status) heap_live $(metric go_gc_heap_live_bytes) heap_inuse $(metric go_memstats_heap_inuse_bytes) goal $(metric go_gc_heap_goal_bytes) limit $(metric go_gc_gomemlimit_bytes) released $(metric go_memory_classes_heap_released_bytes) free $(metric go_memory_classes_heap_free_bytes) live_calls $(curl -sS "http://127.0.0.1:$API/healthz" | grep -o '"live_calls":[0-9]*' | cut -d: -f2) forgotten $(metric tollgate_engine_calls_without_event_total) load $(cut -d' ' -f1 /proc/loadavg)"
  if [ -z "$warm" ] && [ "$el" -ge "$WARM" ]; then
    curl -sS -H "Authorization: Bearer $token" "http://127.0.0.1:$API/debug/pprof/heap?gc=1" -o "$OUT/heap-warm.pprof"; warm=1
  fi
  sleep 30
done
echo "end rss_kb $(awk '/VmRSS/{print $2}' /proc/$TG/status) cpu_s $(metric process_cpu_seconds_total) gc_cycles $(metric go_gc_cycles_total_gc_cycles_total)"
# With GCTRACE=1: GC cycles after WARM s and the time Ps spent on them
# (gctrace's "ms cpu": pauses, assists, background and idle marking; it
# is P time, which counts the OS taking the core away, so on a loaded
# machine it is far above the CPU actually used).
[ -n "$GCTRACE" ] && awk -v w="$WARM" '/^gc [0-9]+ @/{t=substr($3,2)+0; if(t<w)next; split($0,a,"clock, "); split(a[2],b," "); n=split(b[1],c,"[+/]"); s=0; for(i=1;i<=n;i++)s+=c[i]; cpu+=s; as+=c[2]; k++}
  END{printf "gc after %d s: %d cycles, %.2f s P time (assists %.2f s)\n", w, k, cpu/1000, as/1000}' "$work/tg.log"
awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print "ok", $s, "failed", $f}' "$work/stat.csv"
du -sh "$work/data/records" "$work/data/tollgate.db"
curl -sS -H "Authorization: Bearer $token" "http://127.0.0.1:$API/debug/pprof/heap?gc=1" -o "$OUT/heap-end.pprof"
echo "heap profile: $OUT/heap-end.pprof"
