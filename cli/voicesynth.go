package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tollgate-voip/tollgate/voice"
)

// calibrateSynthetic sets the synthetic-voice flag's threshold of m on
// the calls utts (real speech) at the share ff of false flags. With only
// set it must succeed and done is true (nothing else is calibrated);
// otherwise a model without the detector, or too few calls, is a warning
// and the speaker calibration goes on.
func (e *env) calibrateSynthetic(m *voice.Model, utts []voice.Utterance, ff float64, only bool, from string) (done bool, err error) {
	if m.Synthetic == nil {
		if only {
			return false, usagef("voice calibrate: -synthetic-only: the model has no synthetic-voice detector (train-ubm -synthetic)")
		}
		return false, nil
	}
	if only && ff <= 0 {
		return false, usagef("voice calibrate: -synthetic-only needs -synthetic-false-flags above 0")
	}
	audio := make([]voice.Audio, len(utts))
	for i, u := range utts {
		audio[i] = u.Audio
	}
	before := m.Synthetic.Threshold
	d, err := m.Synthetic.Recalibrated(audio, ff, from)
	if err != nil {
		if only {
			return false, usagef("voice calibrate: %v", err)
		}
		fmt.Fprintf(e.stdout, "warning: synthetic-voice threshold left at %.3f: %v\n", before, err)
		return false, nil
	}
	m.Synthetic = d
	fmt.Fprintf(e.stdout, "synthetic-voice threshold %.3f (was %.3f), set on %s\n", d.Threshold, before, d.ThresholdFrom)
	return only, nil
}

// trainSynthetic fits the synthetic-voice detector
// (voice.DefaultSyntheticTrainOptions) on the human recordings utts
// against the text-to-speech recordings tts (one speaker label a voice).
// With three or more speakers, every third (in name order) is held out
// of the detector and its recordings set the threshold at 1 % false
// flags (voice.SyntheticDetector.Calibrate) when there are at least 100;
// otherwise the threshold stays the training equal error point, and a
// warning says to calibrate on real calls.
func (e *env) trainSynthetic(utts, tts []voice.Utterance) (*voice.SyntheticDetector, error) {
	var names []string
	seen := map[string]bool{}
	for _, u := range utts {
		if !seen[u.Speaker] {
			seen[u.Speaker] = true
			names = append(names, u.Speaker)
		}
	}
	sort.Strings(names)
	held := map[string]bool{}
	if len(names) >= 3 {
		for i := 2; i < len(names); i += 3 {
			held[names[i]] = true
		}
	}
	var human, cal []voice.Audio
	for _, u := range utts {
		if held[u.Speaker] {
			cal = append(cal, u.Audio)
		} else {
			human = append(human, u.Audio)
		}
	}
	var synthA []voice.Audio
	var engines []string
	voices := map[string]bool{}
	for _, u := range tts {
		synthA = append(synthA, u.Audio)
		if !voices[u.Speaker] {
			voices[u.Speaker] = true
			engines = append(engines, u.Speaker)
		}
	}
	d, err := voice.TrainSyntheticMix(human, synthA, engines, voice.DefaultSyntheticTrainOptions())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "synthetic-voice detector trained on %d human recordings of %d speakers and %d synthetic recordings (%s)\n", len(human), len(names)-len(held), len(synthA), strings.Join(engines, ", "))
	if len(cal) > 0 {
		if err := d.Calibrate(cal, 0.01, fmt.Sprintf("%d held-out training speakers", len(held))); err != nil {
			fmt.Fprintf(e.stdout, "warning: synthetic-voice threshold not calibrated: %v\n", err)
		}
	}
	fmt.Fprintf(e.stdout, "synthetic-voice threshold %.3f (%s); set it on your own real calls with 'voice calibrate -synthetic-only' (it does not carry over between recording setups)\n", d.Threshold, d.ThresholdFrom)
	return d, nil
}
