#!/bin/sh
# Summary of a bench/sip/soak.sh output: the samples as s:RSS MB/marked
# heap MB/limit MB, then RSS growth from the first sample at or after
# WARM s (default 360: call_setup_s 300 + 60) to the end and to the
# highest sample after it, from the sample nearest 300 s, and server CPU
# per call (per ok call and per attempted call).
#   bench/sip/soaksum.sh soak.txt 360
f=$1; w=${2:-360}
awk -v w="$w" '
/ s rss_kb /{
  t=$1; r=$4/1000; live=$6/1e6; lim=""; ld=""
  for(i=1;i<=NF;i++){ if($i=="limit") lim=$(i+1)/1e6; if($i=="load") ld=$(i+1) }
  printf "%s:%.0f/%.0f/%s ", t, r, live, (lim=="" || lim>1e9) ? "-" : sprintf("%.0f", lim)
  if(ld!=""){ if(lo=="" || ld+0<lo+0) lo=ld; if(ld+0>hi+0) hi=ld }
  if(t>=w){ if(wr==""){ wr=r; wt=t } if(r>mx) mx=r }
  if(t>=300 && r300==""){ r300=r; t300=t } }
/^end /{ er=$3/1000; cpu=$5; gcc=$7 }
/^gc after/{ gcl=$0 }
/^ok /{ ok=$2; fl=$4 }
END{
  printf "\nRSS at warm-up %.1f MB (%d s), highest after %.1f, end %.1f: %+.1f %% from warm-up (highest %+.1f %%); from %d s %+.1f %%; load %s-%s\n", wr, wt, mx, er, (er-wr)/wr*100, (mx-wr)/wr*100, t300, (er-r300)/r300*100, lo, hi
  if(ok>0) printf "server CPU %s s, calls ok %s failed %s: %.1f us per ok call, %.1f us per attempt; gc cycles %s\n", cpu, ok, fl, cpu/ok*1e6, cpu/(ok+fl)*1e6, gcc
  if(gcl!="") print gcl }' "$f"
