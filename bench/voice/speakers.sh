#!/bin/sh
# Makes a population of distinct SYNTHETIC speakers for the calibration
# check of bench/voice (-calib): OUT/<family>-<n>/<k>.wav, UTTS five-digit
# strings per speaker, 8 kHz mono 16-bit. A speaker is one engine voice
# with its own accent, variant, base pitch and rate (espeak-ng, espeak) or
# one recorded-speaker voice with its own sox pitch shift (flite,
# festival); each utterance varies the rate and pitch a little around the
# speaker's own. These are not real people: results on them are labelled
# synthetic in docs/benchmarks.md.
#
#   bench/voice/speakers.sh OUT [UTTS]
set -eu
OUT=${1:?usage: speakers.sh OUT [UTTS]}
UTTS=${2:-10}
mkdir -p "$OUT"
words="zero one two three four five six seven eight nine"
# digits N SEED: five digit words chosen from a seed.
digits() {
	awk -v s="$1" -v w="$words" 'BEGIN{split(w, a, " "); x=s; o=""; for (i=0;i<5;i++) { x=(x*1103515245+12345)%2147483648; o=o a[int(x/65536)%10+1] " " } print o}'
}
# jitter SEED LO HI: a deterministic number in [LO, HI).
jitter() { awk -v s="$1" -v lo="$2" -v hi="$3" 'BEGIN{x=(s*2654435761)%4294967296; printf "%.3f", lo+(hi-lo)*x/4294967296}'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
to8k() { sox "$1" -r 8000 -c 1 -b 16 "$2" ${3:+pitch $3} 2>/dev/null; }
accents="en-us en-gb en-029 en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-us-nyc"
variants="m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 f5 klatt klatt2 klatt3 adam andy boris david ed john linda max michael"
nacc=8
nvar=24
s=0
while [ $s -lt 60 ]; do
	acc=$(echo $accents | cut -d' ' -f$((s % nacc + 1)))
	var=$(echo $variants | cut -d' ' -f$(((s * 7) % nvar + 1)))
	p0=$((30 + (s * 13) % 41))
	r0=$((135 + (s * 17) % 51))
	d="$OUT/espeakng-$s"
	mkdir -p "$d"
	k=0
	while [ $k -lt "$UTTS" ]; do
		o="$d/$k.wav"
		if [ ! -s "$o" ]; then
			p=$(awk -v a=$p0 -v j="$(jitter $((s * 100 + k)) -5 5)" 'BEGIN{printf "%d", a+j}')
			r=$(awk -v a=$r0 -v j="$(jitter $((s * 100 + k + 7)) -0.08 0.08)" 'BEGIN{printf "%d", a*(1+j)}')
			espeak-ng -v "$acc+$var" -p "$p" -s "$r" -w "$tmp/x.wav" "$(digits $((s * 1000 + k)))"
			to8k "$tmp/x.wav" "$o"
		fi
		k=$((k + 1))
	done
	s=$((s + 1))
done
accents="en en-us en-sc en-uk-north en-uk-rp"
variants="m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 f5"
s=0
# Classic espeak is not packaged everywhere: skip its 15 speakers then.
command -v espeak >/dev/null || s=15
while [ $s -lt 15 ]; do
	acc=$(echo $accents | cut -d' ' -f$((s % 5 + 1)))
	var=$(echo $variants | cut -d' ' -f$(((s * 5) % 12 + 1)))
	p0=$((30 + (s * 11) % 41))
	r0=$((140 + (s * 19) % 41))
	d="$OUT/espeak-$s"
	mkdir -p "$d"
	k=0
	while [ $k -lt "$UTTS" ]; do
		o="$d/$k.wav"
		if [ ! -s "$o" ]; then
			p=$(awk -v a=$p0 -v j="$(jitter $((s * 100 + k + 3)) -5 5)" 'BEGIN{printf "%d", a+j}')
			r=$(awk -v a=$r0 -v j="$(jitter $((s * 100 + k + 9)) -0.08 0.08)" 'BEGIN{printf "%d", a*(1+j)}')
			espeak -v "$acc+$var" -p "$p" -s "$r" -w "$tmp/x.wav" "$(digits $((s * 1000 + k + 500000)))"
			to8k "$tmp/x.wav" "$o"
		fi
		k=$((k + 1))
	done
	s=$((s + 1))
done
s=0
for v in kal awb rms slt kal16; do
	for shift in -250 0 250; do
		d="$OUT/flite-$s"
		mkdir -p "$d"
		k=0
		while [ $k -lt "$UTTS" ]; do
			o="$d/$k.wav"
			if [ ! -s "$o" ]; then
				st=$(jitter $((s * 100 + k + 11)) 0.9 1.1)
				flite -voice $v --setf duration_stretch=$st -t "$(digits $((s * 1000 + k + 900000)))" -o "$tmp/x.wav" 2>/dev/null
				to8k "$tmp/x.wav" "$o" "$(awk -v a=$shift -v j="$(jitter $((s * 100 + k + 13)) -40 40)" 'BEGIN{printf "%d", a+j}')"
			fi
			k=$((k + 1))
		done
		s=$((s + 1))
	done
done
s=0
for v in kal_diphone ked_diphone cmu_us_slt_arctic_hts; do
	for shift in -250 0 250; do
		d="$OUT/festival-$s"
		mkdir -p "$d"
		k=0
		while [ $k -lt "$UTTS" ]; do
			o="$d/$k.wav"
			if [ ! -s "$o" ]; then
				st=$(jitter $((s * 100 + k + 17)) 0.9 1.1)
				digits $((s * 1000 + k + 700000)) | text2wave -eval "(voice_$v)" -eval "(Parameter.set 'Duration_Stretch $st)" -o "$tmp/x.wav" 2>/dev/null
				to8k "$tmp/x.wav" "$o" "$(awk -v a=$shift -v j="$(jitter $((s * 100 + k + 19)) -40 40)" 'BEGIN{printf "%d", a+j}')"
			fi
			k=$((k + 1))
		done
		s=$((s + 1))
	done
done
