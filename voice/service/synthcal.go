package service

import (
	"strings"

	"github.com/tollgate-voip/tollgate/voice"
)

// DefaultSyntheticFalseFlags is the share of real calls a calibration
// sets the synthetic-voice threshold to flag when the request names none
// (as 'tollgate voice calibrate' does).
const DefaultSyntheticFalseFlags = 0.01

// SyntheticCalibration is how a calibration request treats the
// synthetic-voice flag's threshold.
type SyntheticCalibration struct {
	// FalseFlags is the share of the request's calls (real speech) the
	// new threshold flags, in (0, 0.5); it needs at least 1/FalseFlags
	// calls with speech. 0 leaves the threshold as it is.
	FalseFlags float64
	// Required refuses the whole request (nothing changed) when the
	// threshold cannot be set: the model has no detector, or too few
	// calls. Otherwise that is a warning in the result and the speaker
	// calibration goes on.
	Required bool
	// Only sets the synthetic-voice threshold and nothing else (speaker
	// labels are then not used); it implies Required.
	Only bool
}

// SyntheticCalibrateResult is what a calibration did to the
// synthetic-voice threshold.
type SyntheticCalibrateResult struct {
	Threshold    float64 `json:"threshold"`
	Previous     float64 `json:"previous_threshold"`
	FalseFlags   float64 `json:"false_flags"`
	PreviousFrom string  `json:"previous_set_by,omitempty"`
	From         string  `json:"set_by"`
	// Warning says why the threshold was left as it was.
	Warning string `json:"warning,omitempty"`
}

// checkSynthetic validates the synthetic part of a request against the
// model before any audio is read.
func checkSynthetic(m *voice.Model, q SyntheticCalibration) error {
	ff := q.FalseFlags
	if ff != 0 && !(ff > 0 && ff < 0.5) {
		return invalid("synthetic_false_flags", "%g: want a share above 0 and below 0.5 (0: leave the threshold)", ff)
	}
	if q.Only && ff == 0 {
		return invalid("synthetic_false_flags", "synthetic_only needs a share above 0")
	}
	if (q.Required || q.Only) && ff > 0 && m.Synthetic == nil {
		return invalid("synthetic_false_flags", "the model has no synthetic-voice detector (train-ubm -synthetic)")
	}
	return nil
}

// calibrateSynthetic sets the threshold of a copy of d at the share q.FalseFlags of
// the calls audio; a nil detector and no error mean it was left as it
// was (res says why when it could have been set).
func calibrateSynthetic(d *voice.SyntheticDetector, audio []voice.Audio, q SyntheticCalibration, from string) (*voice.SyntheticDetector, *SyntheticCalibrateResult, error) {
	if d == nil || q.FalseFlags == 0 {
		return nil, nil, nil
	}
	res := &SyntheticCalibrateResult{Previous: d.Threshold, PreviousFrom: d.ThresholdFrom, Threshold: d.Threshold, FalseFlags: d.FalseFlags, From: d.ThresholdFrom}
	nd, err := d.Recalibrated(audio, q.FalseFlags, from)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "voice: ")
		if q.Required || q.Only {
			return nil, nil, invalid("audio", "%s", msg)
		}
		res.Warning = "synthetic-voice threshold left as it was: " + msg
		return nil, res, nil
	}
	res.Threshold, res.FalseFlags, res.From = nd.Threshold, nd.FalseFlags, nd.ThresholdFrom
	return nd, res, nil
}

// calibrateAudit is the audit record of a calibration.
func calibrateAudit(res CalibrateResult) map[string]any {
	a := map[string]any{"speakers": res.Speakers, "calls": res.Calls, "threshold_far_1pct": round2(res.Threshold1), "previous": round2(res.ThresholdOld), "saved": res.Saved}
	if r := res.Synthetic; r != nil {
		a["synthetic_threshold"] = r.Threshold
		a["synthetic_previous"] = r.Previous
		a["synthetic_false_flags"] = r.FalseFlags
		if r.Warning != "" {
			a["synthetic_warning"] = r.Warning
		}
	}
	return a
}
