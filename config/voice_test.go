package config

import (
	"strings"
	"testing"
)

const voiceBase = `
defaults:
  country: US
  on_error: fail_open
`

func TestVoiceConfig(t *testing.T) {
	cfg, err := Parse("p.yaml", []byte(voiceBase+`
voice:
  enabled: true
  key_env: TG_VOICE_KEY
  defaults: {false_accept_rate: 0.02, min_verify_speech_s: 1.5}
  tenants:
    bank: {false_accept_rate: 0.001, threshold: 2.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Voice
	if !v.Enabled || v.MaxAudioSeconds != 60 || v.PassiveTTL != 3600 {
		t.Errorf("voice: %+v", v)
	}
	if p := v.Policy("other"); p.FalseAcceptRate != 0.02 || p.MinVerifySpeech != 1.5 || p.MinEnrollSpeech != 3 || p.RiskWatchlist != 80 {
		t.Errorf("defaults policy: %+v", p)
	}
	if p := v.Policy("bank"); p.FalseAcceptRate != 0.001 || p.Threshold == nil || *p.Threshold != 2.5 || p.MinVerifySpeech != 1.5 {
		t.Errorf("bank policy: %+v", p)
	}
	// Without a section: off, with the built-in thresholds.
	cfg, err = Parse("p.yaml", []byte(voiceBase))
	if err != nil || cfg.Voice.Enabled || cfg.Voice.Policy("x").FalseAcceptRate != 0.01 {
		t.Errorf("no section: %+v %v", cfg.Voice, err)
	}
}

func TestVoiceConfigErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"voice:\n  enabled: true\n", "p.yaml:6: voice.key_env: required"},
		{"voice:\n  key_env: \"not a name\"\n", "voice.key_env: want an environment variable name"},
		{"voice:\n  defaults:\n    false_accept_rate: 2\n", "voice.defaults.false_accept_rate: want a rate"},
		{"voice:\n  tenants:\n    bank:\n      min_verify_speech_s: 0.01\n", "voice.tenants.bank.min_verify_speech_s: want 0.2 to 60"},
		{"voice:\n  max_audio_s: 9999\n", "voice.max_audio_s: want 1 to 600"},
		{"voice:\n  keep_audoi: true\n", "keep_audoi"},
	}
	for _, c := range cases {
		_, err := Parse("p.yaml", []byte(voiceBase+c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
}
