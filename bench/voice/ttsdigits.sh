#!/bin/sh
# Spoken digits from every installed TTS engine family, one digit per file
# like FSDD, for the synthetic-voice check of bench/voice (-synthlofo):
# OUT/<family>-<voice>/<digit>_<rep>.wav, 8 kHz mono 16-bit, REPS
# repetitions of each digit with the speaking rate and pitch varied per
# repetition. Families: espeak-ng (formant synthesis; accents × variants,
# the klatt variants use a different voice source), flite (diphone kal,
# kal16; statistical-parametric awb, rms, slt; awb_time) and festival when
# a festival voice is installed (none is on the build machine: text2wave
# then writes nothing and the family is skipped). The bench joins the
# digits into strings exactly as it joins the real FSDD recordings.
#
#   bench/voice/ttsdigits.sh OUT [REPS]
set -u
OUT=${1:?usage: ttsdigits.sh OUT [REPS]}
REPS=${2:-15}
words="zero one two three four five six seven eight nine"
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
to8k() { sox "$1" -r 8000 -c 1 -b 16 "$2" 2>/dev/null; }
espeak="en-us+m1 en-us+f2 en-gb+m3 en-gb+f4 en-gb-scotland+m2 en-029+f1 en-gb-x-rp+m4 en-us-nyc+f5 en-us+klatt en-gb+klatt2 en-us+klatt3 en-gb-x-gbclan+adam en-us+linda en-gb+david en-us+michael en-gb-x-gbcwmd+max"
flites=$(flite -lv 2>/dev/null | sed 's/^Voices available: //')
festivals="kal_diphone ked_diphone cmu_us_slt_arctic_hts cmu_us_awb_cg"
rep=0
while [ "$rep" -lt "$REPS" ]; do
	# Deterministic variation: rate ×0.85–1.15, pitch offset −15…+15.
	st=$(awk -v r="$rep" 'BEGIN{printf "%.3f", 0.85 + 0.3*((r*37)%50)/49}')
	dp=$(awk -v r="$rep" 'BEGIN{printf "%d", -15 + 30*((r*23)%50)/49}')
	d=0
	for w in $words; do
		if command -v espeak-ng >/dev/null; then
			for v in $espeak; do
				o="$OUT/espeakng-$(echo "$v" | tr + _)/${d}_${rep}.wav"
				[ -s "$o" ] && continue
				mkdir -p "$(dirname "$o")"
				espeak-ng -v "$v" -s "$(awk -v s="$st" 'BEGIN{printf "%d", 165/s}')" -p $((50 + dp)) -w "$tmp/x.wav" "$w" && to8k "$tmp/x.wav" "$o"
			done
		fi
		for v in $flites; do
			o="$OUT/flite-$v/${d}_${rep}.wav"
			[ -s "$o" ] && continue
			mkdir -p "$(dirname "$o")"
			flite -voice "$v" --setf duration_stretch="$st" --setf int_f0_target_mean=$((105 + dp)) -t "$w" -o "$tmp/x.wav" 2>/dev/null && to8k "$tmp/x.wav" "$o"
		done
		if command -v text2wave >/dev/null; then
			for v in $festivals; do
				o="$OUT/festival-$v/${d}_${rep}.wav"
				[ -s "$o" ] && continue
				rm -f "$tmp/x.wav"
				echo "$w" | text2wave -eval "(voice_$v)" -eval "(Parameter.set 'Duration_Stretch $st)" -o "$tmp/x.wav" >/dev/null 2>&1
				if [ -s "$tmp/x.wav" ]; then
					mkdir -p "$(dirname "$o")"
					to8k "$tmp/x.wav" "$o"
				else
					festivals=$(echo "$festivals" | sed "s/$v//")
				fi
			done
		fi
		d=$((d + 1))
	done
	rep=$((rep + 1))
done
