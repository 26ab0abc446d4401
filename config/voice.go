package config

import (
	"sort"

	"gopkg.in/yaml.v3"
)

// Voice configures voice biometrics (package voice): caller voiceprints,
// verification, the fraudster watchlist. Off unless the section is present
// with enabled: true.
type Voice struct {
	Enabled bool `yaml:"enabled"`
	// Model is the trained model file ('tollgate voice train-ubm'); default
	// <data_dir>/voice-model.bin. No model ships with tollgate.
	Model string `yaml:"model"`
	// KeyEnv names the environment variable holding the AES-256 key
	// (64 hex digits or base64) that encrypts voiceprints and kept audio;
	// OldKeyEnvs name retired keys still accepted for reading (rotation).
	KeyEnv     string   `yaml:"key_env"`
	OldKeyEnvs []string `yaml:"old_key_envs"`
	// Key and OldKeys are read from KeyEnv and OldKeyEnvs, in order.
	Key     Secret   `yaml:"-"`
	OldKeys []Secret `yaml:"-"`
	// KeepAudio keeps enrolment audio (encrypted); off by default.
	KeepAudio bool `yaml:"keep_audio"`
	// MaxAudioSeconds bounds one audio input (default 60).
	MaxAudioSeconds float64 `yaml:"max_audio_s"`
	// PassiveTTL is how long a call's accumulated speech is kept (s,
	// default 3600).
	PassiveTTL Seconds `yaml:"passive_ttl_s"`
	// Defaults and Tenants set thresholds; a tenant inherits Defaults
	// field by field.
	Defaults VoicePolicy            `yaml:"defaults"`
	Tenants  map[string]VoicePolicy `yaml:"tenants"`
}

// VoicePolicy is one tenant's voice thresholds. Zero values inherit.
type VoicePolicy struct {
	// FalseAcceptRate picks the verification threshold from the model's
	// calibration (default 0.01); Threshold, when set, overrides it with a
	// normalised score.
	FalseAcceptRate float64  `yaml:"false_accept_rate"`
	Threshold       *float64 `yaml:"threshold"`
	// WatchlistFalseAcceptRate is the same for identification against
	// the fraudster watchlist, per comparison (default 0.001);
	// WatchlistThreshold overrides it.
	WatchlistFalseAcceptRate float64  `yaml:"watchlist_false_accept_rate"`
	WatchlistThreshold       *float64 `yaml:"watchlist_threshold"`
	// MinEnrollSpeech is the net speech an enrolment needs (s, default 3);
	// MinVerifySpeech below which verification answers "uncertain"
	// (s, default 1).
	MinEnrollSpeech float64 `yaml:"min_enroll_speech_s"`
	MinVerifySpeech float64 `yaml:"min_verify_speech_s"`
	// RiskWatchlist and RiskFailedVerify are added to a call's risk
	// (defaults 80 and 40).
	RiskWatchlist    int `yaml:"risk_watchlist"`
	RiskFailedVerify int `yaml:"risk_failed_verify"`
}

// Policy returns tenant's resolved policy.
func (v *Voice) Policy(tenant string) VoicePolicy {
	p := v.Defaults
	t, ok := v.Tenants[tenant]
	if !ok {
		return p
	}
	if t.FalseAcceptRate != 0 {
		p.FalseAcceptRate = t.FalseAcceptRate
	}
	if t.Threshold != nil {
		p.Threshold = t.Threshold
	}
	if t.WatchlistFalseAcceptRate != 0 {
		p.WatchlistFalseAcceptRate = t.WatchlistFalseAcceptRate
	}
	if t.WatchlistThreshold != nil {
		p.WatchlistThreshold = t.WatchlistThreshold
	}
	if t.MinEnrollSpeech != 0 {
		p.MinEnrollSpeech = t.MinEnrollSpeech
	}
	if t.MinVerifySpeech != 0 {
		p.MinVerifySpeech = t.MinVerifySpeech
	}
	if t.RiskWatchlist != 0 {
		p.RiskWatchlist = t.RiskWatchlist
	}
	if t.RiskFailedVerify != 0 {
		p.RiskFailedVerify = t.RiskFailedVerify
	}
	return p
}

// DefaultVoicePolicy holds the built-in thresholds.
var DefaultVoicePolicy = VoicePolicy{FalseAcceptRate: 0.01, WatchlistFalseAcceptRate: 0.001, MinEnrollSpeech: 3, MinVerifySpeech: 1, RiskWatchlist: 80, RiskFailedVerify: 40}

// voice decodes and checks the voice section.
func (p *parser) voice(v *Voice, n *yaml.Node) {
	v.Defaults = DefaultVoicePolicy
	if v.MaxAudioSeconds == 0 {
		v.MaxAudioSeconds = 60
	}
	if v.PassiveTTL == 0 {
		v.PassiveTTL = 3600
	}
	if n.Kind == 0 {
		return
	}
	var raw Voice
	p.decodeStrict(n, "voice", &raw)
	ln := map[string]int{}
	lines(n, "voice", ln)
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return n.Line
	}
	v.Enabled, v.Model, v.KeyEnv, v.OldKeyEnvs, v.KeepAudio = raw.Enabled, raw.Model, raw.KeyEnv, raw.OldKeyEnvs, raw.KeepAudio
	if raw.MaxAudioSeconds != 0 {
		v.MaxAudioSeconds = raw.MaxAudioSeconds
	}
	if raw.PassiveTTL != 0 {
		v.PassiveTTL = raw.PassiveTTL
	}
	if v.MaxAudioSeconds < 1 || v.MaxAudioSeconds > 600 {
		p.errorf(at("voice.max_audio_s"), "voice.max_audio_s", "want 1 to 600 seconds")
	}
	if v.PassiveTTL < 60 || v.PassiveTTL > 7*86400 {
		p.errorf(at("voice.passive_ttl_s"), "voice.passive_ttl_s", "want 60 to 604800 seconds")
	}
	if v.Enabled && v.KeyEnv == "" {
		p.errorf(at("voice.key_env"), "voice.key_env", "required when voice is enabled: the environment variable holding the voiceprint encryption key")
	}
	if v.KeyEnv != "" && !envName(v.KeyEnv) {
		p.errorf(at("voice.key_env"), "voice.key_env", "want an environment variable name (the key itself never goes in the file)")
	}
	for _, e := range v.OldKeyEnvs {
		if !envName(e) {
			p.errorf(at("voice.old_key_envs"), "voice.old_key_envs", "%q is not an environment variable name", e)
		}
	}
	def := DefaultVoicePolicy
	overlay(&def, raw.Defaults)
	p.voicePolicy(def, "voice.defaults", at)
	v.Defaults = def
	v.Tenants = map[string]VoicePolicy{}
	names := make([]string, 0, len(raw.Tenants))
	for name := range raw.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := "voice.tenants." + name
		if !validName(name) {
			p.errorf(at(path), path, "tenant names are letters, digits, '-', '_' and '.' (at most 64)")
			continue
		}
		t := raw.Tenants[name]
		v.Tenants[name] = t
		p.voicePolicy(v.Policy(name), path, at)
	}
}

func overlay(dst *VoicePolicy, src VoicePolicy) {
	tmp := Voice{Defaults: *dst, Tenants: map[string]VoicePolicy{"x": src}}
	*dst = tmp.Policy("x")
}

func (p *parser) voicePolicy(v VoicePolicy, path string, at func(string) int) {
	if v.FalseAcceptRate <= 0 || v.FalseAcceptRate >= 0.5 {
		p.errorf(at(path+".false_accept_rate"), path+".false_accept_rate", "want a rate between 0 and 0.5, e.g. 0.01")
	}
	if v.WatchlistFalseAcceptRate <= 0 || v.WatchlistFalseAcceptRate >= 0.5 {
		p.errorf(at(path+".watchlist_false_accept_rate"), path+".watchlist_false_accept_rate", "want a rate between 0 and 0.5, e.g. 0.001")
	}
	for f, t := range map[string]*float64{"threshold": v.Threshold, "watchlist_threshold": v.WatchlistThreshold} {
		if t != nil && (*t < -20 || *t > 50) {
			p.errorf(at(path+"."+f), path+"."+f, "want a normalised score between -20 and 50")
		}
	}
	if v.MinEnrollSpeech < 0.5 || v.MinEnrollSpeech > 120 {
		p.errorf(at(path+".min_enroll_speech_s"), path+".min_enroll_speech_s", "want 0.5 to 120 seconds")
	}
	if v.MinVerifySpeech < 0.2 || v.MinVerifySpeech > 60 {
		p.errorf(at(path+".min_verify_speech_s"), path+".min_verify_speech_s", "want 0.2 to 60 seconds")
	}
	for f, r := range map[string]int{"risk_watchlist": v.RiskWatchlist, "risk_failed_verify": v.RiskFailedVerify} {
		if r < 0 || r > 100 {
			p.errorf(at(path+"."+f), path+"."+f, "want 0 to 100")
		}
	}
}
