#!/bin/sh
# Spoken digits from every installed TTS engine family, one digit per file
# like FSDD, for the synthetic-voice check of bench/voice (-synthlofo):
# OUT/<family>-<voice>/<digit>_<rep>.wav, 8 kHz mono 16-bit, REPS
# repetitions of each digit with the speaking rate and pitch varied per
# repetition. Engines: espeak-ng and the older espeak 1.48 it was forked
# from (formant synthesis; accents × variants, the klatt variants use a
# different voice source), flite (diphone kal, kal16; statistical-parametric
# awb, rms, slt; awb_time) and festival: residual-excited LPC diphone voices
# (festdiphone-: kal, ked English, lp, pc Italian) and HMM (HTS) voices
# (festhts-: slt English, ona Catalan). The Italian and Catalan voices say
# their own language's digit words. A voice whose engine is not installed
# writes nothing and is skipped. The bench joins the digits into strings
# exactly as it joins the real FSDD recordings.
#
#   bench/voice/ttsdigits.sh OUT [REPS [FIRST]]
#
# FIRST (default 0) starts at that repetition, so several runs can share
# the work: ttsdigits.sh OUT 5 0 & ttsdigits.sh OUT 10 5 & ...
set -u
OUT=${1:?usage: ttsdigits.sh OUT [REPS [FIRST]]}
REPS=${2:-15}
words="zero one two three four five six seven eight nine"
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
to8k() { sox "$1" -r 8000 -c 1 -b 16 "$2" 2>/dev/null; }
espeak="en-us+m1 en-us+f2 en-gb+m3 en-gb+f4 en-gb-scotland+m2 en-029+f1 en-gb-x-rp+m4 en-us-nyc+f5 en-us+klatt en-gb+klatt2 en-us+klatt3 en-gb-x-gbclan+adam en-us+linda en-gb+david en-us+michael en-gb-x-gbcwmd+max"
espeak1="en+m1 en-us+f2 en-sc+m3 en-rp+f4 en-n+m5 en-wi+f1 en-wm+m7 en-us+klatt4"
flites=$(flite -lv 2>/dev/null | sed 's/^Voices available: //')
# voice:directory:words (Italian and Catalan digits for those voices).
festivals="kal_diphone:festdiphone-kal:en ked_diphone:festdiphone-ked:en lp_diphone:festdiphone-lp:it pc_diphone:festdiphone-pc:it cmu_us_slt_arctic_hts:festhts-slt:en upc_ca_ona_hts:festhts-ona:ca"
it="zero uno due tre quattro cinque sei sette otto nove"
ca="zero u dos tres quatre cinc sis set vuit nou"
rep=${3:-0}
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
		if command -v espeak >/dev/null; then
			for v in $espeak1; do
				o="$OUT/espeak-$(echo "$v" | tr + _)/${d}_${rep}.wav"
				[ -s "$o" ] && continue
				mkdir -p "$(dirname "$o")"
				espeak -v "$v" -s "$(awk -v s="$st" 'BEGIN{printf "%d", 165/s}')" -p $((50 + dp)) -w "$tmp/x.wav" "$w" && to8k "$tmp/x.wav" "$o"
			done
		fi
		for v in $flites; do
			o="$OUT/flite-$v/${d}_${rep}.wav"
			[ -s "$o" ] && continue
			mkdir -p "$(dirname "$o")"
			flite -voice "$v" --setf duration_stretch="$st" --setf int_f0_target_mean=$((105 + dp)) -t "$w" -o "$tmp/x.wav" 2>/dev/null && to8k "$tmp/x.wav" "$o"
		done
		if command -v text2wave >/dev/null; then
			for spec in $festivals; do
				v=${spec%%:*}
				rest=${spec#*:}
				dir=${rest%%:*}
				case ${rest#*:} in
				it) word=$(echo "$it" | cut -d' ' -f$((d + 1))) ;;
				ca) word=$(echo "$ca" | cut -d' ' -f$((d + 1))) ;;
				*) word=$w ;;
				esac
				o="$OUT/$dir/${d}_${rep}.wav"
				[ -s "$o" ] && continue
				rm -f "$tmp/x.wav"
				echo "$word" | text2wave -eval "(voice_$v)" -eval "(Parameter.set 'Duration_Stretch $st)" -o "$tmp/x.wav" >/dev/null 2>&1
				if [ -s "$tmp/x.wav" ]; then
					mkdir -p "$(dirname "$o")"
					to8k "$tmp/x.wav" "$o"
				else
					festivals=$(echo "$festivals" | sed "s/$spec//")
				fi
			done
		fi
		d=$((d + 1))
	done
	rep=$((rep + 1))
done
