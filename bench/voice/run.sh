#!/bin/sh
# The voice-biometrics evaluation behind docs/benchmarks.md ("Voice
# biometrics"). Installs the TTS engines it needs (root or sudo), makes
# the synthetic voices, runs the leave-two-speakers-out evaluation clean
# and through the telephone channel, with 5- and 10-digit strings, with and
# without the TTS voices as extra background speakers, then the
# synthetic-voice detector with each engine family held out, then the Go
# benchmarks for speed.
#
#   bench/voice/run.sh FSDD_DIR [WORK_DIR]
#
# FSDD_DIR is a full copy of the Free Spoken Digit Dataset (its recordings/
# folder inside); the test subset in voice/testdata is too small for it.
set -eu
cd "$(dirname "$0")/../.."
FSDD=${1:?usage: bench/voice/run.sh FSDD_DIR [WORK_DIR] (a full copy of FSDD)}
WORK=${2:-/tmp/tollgate-voice-bench}
mkdir -p "$WORK"
if ! command -v flite >/dev/null || ! command -v text2wave >/dev/null || ! command -v espeak-ng >/dev/null || ! command -v espeak >/dev/null || ! command -v sox >/dev/null; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get install -y flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts espeak-ng espeak sox
fi
sh bench/voice/tts.sh "$WORK/tts" 20
go build -o "$WORK/voicebench" ./bench/voice
B="$WORK/voicebench -fsdd $FSDD"
echo "## real speakers only (FSDD), background = the other four"
$B -cond clean,telephone -digits 5,10
echo "## FSDD + TTS voices (synthetic) as extra background/cohort speakers"
$B -tts "$WORK/tts" -cond clean,telephone -digits 5
echo "## closed-set identification"
$B -ident -cond clean,telephone -digits 5,10
echo "## synthetic-voice detector, one engine family held out at a time"
$B -tts "$WORK/tts" -synthetic -cond clean,telephone
echo "## issue 19: held-out channel pairs, calibration transfer and synthetic flag on synthetic speakers"
sh bench/voice/speakers.sh "$WORK/speakers" 10
$B -heldout -folds 3 -digits 3,5,8,10 -variants before
$B -calib "$WORK/speakers" -variants default -cond clean,telephone
$B -synthflag "$WORK/speakers" -cond clean,telephone
echo "## speed"
go test -run XXX -bench . -benchtime 2s ./voice
