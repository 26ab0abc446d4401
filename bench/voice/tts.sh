#!/bin/sh
# Synthesises spoken digits with Debian's TTS engines, as extra (synthetic)
# speakers for bench/voice: OUT/<engine>-<voice>/<digit>_<rep>.wav, 50
# repetitions of each digit with the speaking rate and pitch varied per
# repetition. festvox/flite voices are built from real people's
# recordings (CMU ARCTIC awb, rms, slt; kal); espeak-ng is a formant
# synthesiser (no recorded speaker).
set -eu
OUT=${1:?usage: tts.sh OUTDIR [REPS]}
REPS=${2:-50}
words="zero one two three four five six seven eight nine"
mkdir -p "$OUT"
rep=0
while [ $rep -lt "$REPS" ]; do
	# Deterministic variation: rate 0.85–1.15, pitch offset −20…+20 Hz.
	stretch=$(awk -v r=$rep 'BEGIN{printf "%.3f", 0.85 + 0.3*((r*37)%50)/49}')
	f0=$(awk -v r=$rep 'BEGIN{printf "%d", -20 + 40*((r*23)%50)/49}')
	d=0
	for w in $words; do
		for v in kal awb rms slt; do
			o="$OUT/flite-$v/${d}_${rep}.wav"
			[ -s "$o" ] && continue
			mkdir -p "$OUT/flite-$v"
			flite -voice $v -t "$w" --setf duration_stretch=$stretch --setf int_f0_target_mean=$((100 + f0)) -o "$o" 2>/dev/null
		done
		for v in kal_diphone cmu_us_slt_arctic_hts; do
			o="$OUT/festival-$v/${d}_${rep}.wav"
			[ -s "$o" ] && continue
			mkdir -p "$OUT/festival-$v"
			echo "$w" | text2wave -eval "(voice_$v)" -eval "(Parameter.set 'Duration_Stretch $stretch)" -o "$o" 2>/dev/null
		done
		for v in en-us en-gb en-gb-scotland en-029; do
			o="$OUT/espeak-$v/${d}_${rep}.wav"
			[ -s "$o" ] && continue
			mkdir -p "$OUT/espeak-$v"
			espeak-ng -v $v -s $(awk -v s=$stretch 'BEGIN{printf "%d", 160/s}') -p $((50 + f0)) -w "$o" "$w"
		done
		d=$((d + 1))
	done
	rep=$((rep + 1))
done
