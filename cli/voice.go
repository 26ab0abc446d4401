package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/voice"
	"github.com/tollgate-voip/tollgate/voice/service"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

const voiceUsage = `voice: want one of
  train-ubm [-out FILE] [-components N] [-speaker dir|field2] [-calib-speakers N] [-channels LIST] [-synthetic TTSDIR,…] DIR...
                                                                       train the model from your recordings
  enroll -tenant T -subject S [-kind customer|fraudster] [-append] FILE...
  verify -tenant T -subject S [-call ID] FILE...
  identify -tenant T [-call ID] FILE...
  eval [-model FILE] [-speaker dir|field2] DIR...                      EER of a model on labelled recordings
  calibrate [-model FILE] [-out FILE] [-speaker dir|field2] [-enrol N] [-synthetic-false-flags F] [-synthetic-only] DIR...
                                                                       fit the thresholds on your own calls of speakers
                                                                       the model was not trained on (one WAV a call)
  rekey                                                                re-encrypt voiceprints with the current key
(enroll, verify, identify and rekey take -config FILE and -data DIR like serve)`

func (e *env) voice(args []string) error {
	if len(args) == 0 {
		return usagef("%s", voiceUsage)
	}
	switch args[0] {
	case "train-ubm":
		return e.voiceTrain(args[1:])
	case "eval":
		return e.voiceEval(args[1:])
	case "calibrate":
		return e.voiceCalibrate(args[1:])
	case "enroll", "verify", "identify", "rekey":
		return e.voiceLocal(args[0], args[1:])
	}
	return usagef("%s", voiceUsage)
}

// voiceKeys reads the voiceprint keys named by the configuration.
func voiceKeys(cfg *config.Config) (*vstore.Keys, error) {
	v := &cfg.Voice
	if v.KeyEnv == "" {
		return nil, &config.Error{File: cfg.File, Field: "voice.key_env", Msg: "required: the environment variable holding the voiceprint key"}
	}
	if !v.Key.IsSet() {
		return nil, cfg.MissingSecret("voice.key_env", v.KeyEnv)
	}
	cur, err := vstore.ParseKey(v.Key.Reveal())
	if err != nil {
		return nil, &config.Error{File: cfg.File, Field: "voice.key_env", Msg: "environment variable " + v.KeyEnv + ": " + err.Error()}
	}
	var old [][]byte
	for i, name := range v.OldKeyEnvs {
		if !v.OldKeys[i].IsSet() {
			return nil, cfg.MissingSecret("voice.old_key_envs", name)
		}
		k, err := vstore.ParseKey(v.OldKeys[i].Reveal())
		if err != nil {
			return nil, &config.Error{File: cfg.File, Field: "voice.old_key_envs", Msg: "environment variable " + name + ": " + err.Error()}
		}
		old = append(old, k)
	}
	return vstore.NewKeys(cur, old...)
}

// voiceStore is where voiceprints live (node.VoiceStore).
type voiceStore = node.VoiceStore

// openVoice loads the model and opens the voice store of the node's state
// (voice.db in the data directory, or the cluster's PostgreSQL, so every
// node sees every enrolment); the state owns and closes the store. Voice
// alerts go to alerts, the node's alert sink (cli/alerts.go).
func openVoice(ctx context.Context, cfg *config.Config, dataDir string, state *node.State, st store.Store, alerts *alertSink) (*service.Service, voiceStore, error) {
	path := cfg.Voice.Model
	if path == "" {
		path = filepath.Join(dataDir, "voice-model.bin")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("voice model: %w (train one with 'tollgate voice train-ubm -out %s DIR…'; none ships with tollgate)", err, path)
	}
	m, err := voice.LoadModel(strings.NewReader(string(raw)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	keys, err := voiceKeys(cfg)
	if err != nil {
		return nil, nil, err
	}
	vs, err := state.Voice(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	id := m.ID
	if id == "" {
		id = hex.EncodeToString(sum[:8]) // models from before Model.ID
	}
	o := service.Options{Config: &cfg.Voice, Model: m, ModelID: id, ModelPath: path, Store: vs}
	if st != nil {
		o.Alerts, o.Audit = alerts, st
	}
	svc, err := service.New(o)
	if err != nil {
		return nil, nil, err
	}
	return svc, vs, nil
}

// startVoice enables the voice routes when the configuration asks for
// them and returns what stops its expiry loop.
func startVoice(ctx context.Context, cfg *config.Config, dataDir string, state *node.State, st store.Store, alerts *alertSink, a *api.Server, log *slog.Logger) (func(), error) {
	if !cfg.Voice.Enabled {
		return func() {}, nil
	}
	svc, _, err := openVoice(ctx, cfg, dataDir, state, st, alerts)
	if err != nil {
		return nil, err
	}
	a.EnableVoice(svc)
	vctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-vctx.Done():
				return
			case <-t.C:
				if _, err := svc.Expire(vctx); err != nil && vctx.Err() == nil {
					log.Error("voice: expiring passive statistics", "err", err)
				}
			}
		}
	}()
	where := filepath.Join(dataDir, "voice.db")
	if state.Cluster() {
		where = "cluster PostgreSQL"
	}
	log.Info("voice biometrics enabled", "model", svc.Model().Backend.Name(), "cohort", len(svc.Model().Cohort), "store", where)
	return func() { cancel(); <-done }, nil
}

func readAudioFiles(paths []string) ([]service.Audio, error) {
	var out []service.Audio
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		codec := voice.CodecAuto
		switch strings.ToLower(filepath.Ext(p)) {
		case ".ul", ".ulaw", ".pcmu", ".mulaw", ".au":
			codec = voice.CodecPCMU
		case ".al", ".alaw", ".pcma":
			codec = voice.CodecPCMA
		}
		out = append(out, service.Audio{Data: b, Codec: codec})
	}
	return out, nil
}

func (e *env) voiceLocal(cmd string, args []string) error {
	fs := newFlags("voice "+cmd, e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (env TOLLGATE_CONFIG)")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	tenant := fs.String("tenant", "", "tenant")
	subject := fs.String("subject", "", "subject id (customer account or fraudster)")
	kind := fs.String("kind", "customer", "customer or fraudster (enroll)")
	appendMode := fs.Bool("append", false, "add to the existing voiceprint (enroll)")
	callID := fs.String("call", "", "call id to attach the result to (verify, identify)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfigData(*cfgPath, dataDir)
	if err != nil {
		return err
	}
	// Enrolments and verifications are audited (and alerted) where the
	// server keeps its records: PostgreSQL in cluster mode.
	ctx := context.Background()
	state, st, err := openState(ctx, cfg, *dataDir, false, (*node.State).Records)
	if err != nil {
		return err
	}
	defer state.Close()
	// Alerts reach the notifiers as the server's do; without a spool, as
	// the server's spool file is not this process's to rewrite.
	alerts, err := openAlerts(cfg, st, "", time.Now, slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer alerts.close()
	svc, vs, err := openVoice(ctx, cfg, *dataDir, state, st, alerts)
	if err != nil {
		return err
	}
	actor := "cli:" + os.Getenv("USER")
	var res any
	switch cmd {
	case "rekey":
		n, err := vs.Rekey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "re-encrypted %d voiceprints with the current key\n", n)
		return nil
	}
	audio, err := readAudioFiles(pos)
	if err != nil {
		return err
	}
	switch cmd {
	case "enroll":
		res, err = svc.Enroll(ctx, service.EnrollRequest{Tenant: *tenant, Subject: *subject, Kind: *kind, Append: *appendMode, Audio: audio, Actor: actor})
	case "verify":
		res, err = svc.Verify(ctx, service.VerifyRequest{Tenant: *tenant, Subject: *subject, CallID: *callID, Audio: audio, Actor: actor})
	case "identify":
		res, err = svc.Identify(ctx, service.IdentifyRequest{Tenant: *tenant, CallID: *callID, Audio: audio, Actor: actor})
	}
	if err != nil {
		return err // a service.Error has a kind: exit 2 (exitCode)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// labelled walks dirs for WAV files and labels each with its speaker: the
// parent directory's name, or the second '_'-separated field of the file
// name (FSDD's digit_speaker_rep.wav).
func labelled(dirs []string, how string) ([]voice.Utterance, []string, error) {
	var out []voice.Utterance
	var names []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.EqualFold(filepath.Ext(p), ".wav") {
				return err
			}
			spk := filepath.Base(filepath.Dir(p))
			if how == "field2" {
				parts := strings.Split(strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), "_")
				if len(parts) < 2 {
					return fmt.Errorf("%s: no second '_' field for the speaker", p)
				}
				spk = parts[1]
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			a, err := voice.Decode(b, voice.CodecWAV, voice.Limits{MinSeconds: 0.05})
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, voice.Utterance{Speaker: spk, Audio: a})
			names = append(names, p)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil, usagef("no .wav files under %s", strings.Join(dirs, ", "))
	}
	return out, names, nil
}

func (e *env) voiceTrain(args []string) error {
	fs := newFlags("voice train-ubm", e)
	out := fs.String("out", "tollgate-data/voice-model.bin", "model file to write")
	comps := fs.Int("components", voice.DefaultTrainOptions().GMM.Components, "mixture components (power of two)")
	how := fs.String("speaker", "dir", "speaker label: dir (parent directory) or field2 (digit_speaker_rep.wav)")
	info := fs.String("info", "", "provenance and licence of the training audio, stored in the model")
	synth := fs.String("synthetic", "", "comma-separated directories of text-to-speech recordings (one sub-directory per voice): trains the synthetic-voice detector: the training speech against these recordings and its own vocoded copies, all also through a randomised handset channel; a third of the speakers are held out to set its threshold")
	frames := fs.Int("frames", voice.DefaultTrainOptions().GMM.MaxFrames, "at most this many feature frames train the mixture (evenly subsampled)")
	calSpk := fs.Int("calib-speakers", 0, "speakers held out of the background model to calibrate it (0: a third, at least two, when there are four or more; -1: none, calibrate on training speakers, optimistic — recalibrate with 'voice calibrate')")
	def := voice.DefaultTrainOptions()
	channels := fs.String("channels", strings.Join(def.Channels, ","), "channels the background speech is heard through: clean, alaw, telephone, handset or handset<n> (randomised narrow-band line; several copies)")
	noiseSub := fs.Float64("noise-sub", def.Features.NoiseSub, "spectral subtraction: this many times each filter's noise floor is taken off before the logarithm (0: off)")
	norm := fs.String("norm", def.Features.Norm, "per-utterance feature normalisation: none, cmn, cmvn or warp (3 s feature warping)")
	band := fs.String("band", fmt.Sprintf("%g-%g", def.Features.LowHz, def.Features.HighHz), "filterbank band in Hz, LOW-HIGH (300-3400: telephone band)")
	hang := fs.Int("vad-hangover", def.Features.VADHangover, "adaptive voice activity detection with this many 10 ms frames of hangover (0: the first detector)")
	join := fs.Float64("join", def.JoinSeconds, "join each speaker's consecutive recordings into calls of at least this many seconds before training (0: keep them apart)")
	session := fs.String("session", sessionFlag(def.Session), "session-variability compensation: pca=N[,nap=N][,lda=N][,wccn=W], or none")
	cnap := fs.Int("channel-nap", def.ChannelNAP, "remove this many directions of channel variation, learned from the background speech heard through every -channels channel (0, or a single channel: off)")
	enrolHS := fs.Int("enrol-handset", def.EnrolHandset, "every enrolment call also counts this many copies of itself heard through a randomised narrow-band line (0-8; 0 unless -channels has a handset channel)")
	pseudo := fs.String("pseudo-speakers", floatList(def.PseudoSpeakers), "comma-separated speeds (0.8-1.25): every background speaker is also heard at each as another speaker (empty: none)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("voice train-ubm: want one or more DIR of WAV recordings")
	}
	if *enrolHS < 0 || *enrolHS > voice.MaxEnrolHandset {
		return usagef("voice train-ubm: -enrol-handset %d: want 0-%d", *enrolHS, voice.MaxEnrolHandset)
	}
	var pseudoF []float64
	for _, f := range strings.Split(*pseudo, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v >= 0.8 && v <= 1.25) || v == 1 {
			return usagef("voice train-ubm: -pseudo-speakers %q: want speeds within 0.8-1.25, not 1", f)
		}
		pseudoF = append(pseudoF, v)
	}
	utts, _, err := labelled(pos, *how)
	if err != nil {
		return err
	}
	o := voice.DefaultTrainOptions()
	o.GMM.Components = *comps
	o.GMM.MaxFrames = *frames
	o.Info = *info
	o.CalibSpeakers = *calSpk
	o.Channels = strings.Split(*channels, ",")
	switch *norm {
	case "none", "cmn", "cmvn", "warp":
		o.Features.Norm = *norm
	default:
		return usagef("voice train-ubm: -norm %q: want none, cmn, cmvn or warp", *norm)
	}
	if _, err := fmt.Sscanf(*band, "%g-%g", &o.Features.LowHz, &o.Features.HighHz); err != nil || o.Features.LowHz < 0 || o.Features.HighHz > voice.Rate/2 || o.Features.LowHz >= o.Features.HighHz {
		return usagef("voice train-ubm: -band %q: want LOW-HIGH in Hz within 0-4000", *band)
	}
	if *hang < 0 || *hang > 100 {
		return usagef("voice train-ubm: -vad-hangover %d: want 0-100 frames", *hang)
	}
	o.Features.VADHangover = *hang
	if *noiseSub < 0 || *noiseSub > 10 {
		return usagef("voice train-ubm: -noise-sub %g: want 0-10", *noiseSub)
	}
	o.Features.NoiseSub = *noiseSub
	o.JoinSeconds = *join
	if *cnap < 0 {
		return usagef("voice train-ubm: -channel-nap %d: want 0 or more", *cnap)
	}
	o.ChannelNAP = *cnap
	o.EnrolHandset = *enrolHS
	o.PseudoSpeakers = pseudoF
	if o.Session, err = parseSession(*session); err != nil {
		return usagef("voice train-ubm: -session: %v", err)
	}
	t0 := time.Now()
	m, err := voice.Train(utts, o)
	if err != nil {
		return err
	}
	if *synth != "" {
		tts, _, err := labelled(strings.Split(*synth, ","), "dir")
		if err != nil {
			return err
		}
		if m.Synthetic, err = e.trainSynthetic(utts, tts); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o750); err != nil {
		return err
	}
	if err := m.SaveFile(*out); err != nil {
		return err
	}
	spk := map[string]bool{}
	for _, u := range utts {
		spk[u.Speaker] = true
	}
	fmt.Fprintf(e.stdout, "trained %s on %d recordings of %d speakers in %v; cohort %d; threshold at 1%% FAR %.2f (%s)\nwrote %s\n",
		m.Backend.Name(), len(utts), len(spk), time.Since(t0).Round(time.Millisecond), len(m.Cohort), m.Calib.Threshold(0.01), m.Calib.Trials, *out)
	if w := m.Calib.Caveat(); w != "" {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	return nil
}

// voiceEval scores a model on labelled recordings: each speaker's files
// are split in two halves, the first enrols, each file of the second half
// is a test against every speaker's enrolment.
func (e *env) voiceEval(args []string) error {
	fs := newFlags("voice eval", e)
	model := fs.String("model", "tollgate-data/voice-model.bin", "model file")
	how := fs.String("speaker", "dir", "speaker label: dir or field2")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("voice eval: want one or more DIR of WAV recordings")
	}
	m, err := voice.LoadModelFile(*model)
	if err != nil {
		return err
	}
	utts, _, err := labelled(pos, *how)
	if err != nil {
		return err
	}
	by := map[string][]voice.Stats{}
	for _, u := range utts {
		by[u.Speaker] = append(by[u.Speaker], m.Backend.Stats(u.Audio))
	}
	var spks []string
	for s := range by {
		spks = append(spks, s)
	}
	sort.Strings(spks)
	if len(spks) < 2 {
		return usagef("voice eval: need at least two speakers")
	}
	enrol := map[string]voice.Voiceprint{}
	tests := map[string][]voice.Voiceprint{}
	for _, s := range spks {
		st := by[s]
		var acc voice.Stats
		for _, x := range st[:len(st)/2] {
			acc = acc.Add(x)
		}
		enrol[s] = m.Print(acc)
		for _, x := range st[len(st)/2:] {
			tests[s] = append(tests[s], m.Print(x))
		}
	}
	var tar, imp []float64
	for _, s := range spks {
		for _, t := range spks {
			for _, tp := range tests[t] {
				r := m.Compare(enrol[s], tp).Normalized
				if s == t {
					tar = append(tar, r)
				} else {
					imp = append(imp, r)
				}
			}
		}
	}
	eer, thr := voice.EER(tar, imp)
	fmt.Fprintf(e.stdout, "speakers %d, target trials %d, impostor trials %d\nEER %.2f %% at normalised score %.2f; model threshold at 1%% FAR %.2f\n", len(spks), len(tar), len(imp), 100*eer, thr, m.Calib.Threshold(0.01))
	return nil
}

// voiceCalibrate refits a model's calibration on labelled calls (one WAV
// file a call) of speakers the model was not trained on, and writes the
// model (in place unless -out). Voiceprints made with the model stay
// valid: only the calibration changes.
func (e *env) voiceCalibrate(args []string) error {
	fs := newFlags("voice calibrate", e)
	model := fs.String("model", "tollgate-data/voice-model.bin", "model file")
	out := fs.String("out", "", "where to write the recalibrated model (default: -model, replaced atomically)")
	how := fs.String("speaker", "dir", "speaker label: dir (parent directory) or field2 (digit_speaker_rep.wav)")
	enrol := fs.Int("enrol", 0, "0: every pair of calls is a trial; N: each speaker's first half of calls, N at a time, are enrolments, the rest tests")
	synFF := fs.Float64("synthetic-false-flags", 0.01, "also set the synthetic-voice flag's threshold (when the model has the detector) to flag this share of these real calls; needs at least 1/share calls (0: leave it)")
	synOnly := fs.Bool("synthetic-only", false, "set only the synthetic-voice threshold (speaker labels are then not needed)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("voice calibrate: want one or more DIR of WAV recordings (one a call, labelled by speaker)")
	}
	if *enrol < 0 || *enrol > 20 {
		return usagef("voice calibrate: -enrol wants 0…20")
	}
	if *out == "" {
		*out = *model
	}
	m, err := voice.LoadModelFile(*model)
	if err != nil {
		return err
	}
	utts, _, err := labelled(pos, *how)
	if err != nil {
		return err
	}
	if m.ID == "" {
		// Keep voiceprints made with this file valid: they are keyed by
		// the hash of the file as it was.
		raw, err := os.ReadFile(*model)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		m.ID = hex.EncodeToString(sum[:8])
	}
	if *synOnly || *synFF > 0 {
		done, err := e.calibrateSynthetic(m, utts, *synFF, *synOnly, fmt.Sprintf("operator calls (%s)", strings.Join(pos, ", ")))
		if err != nil {
			return err
		}
		if done {
			if err := m.SaveFile(*out); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\n", *out)
			return nil
		}
	}
	speakers := make([]string, len(utts))
	stats := make([]voice.Stats, len(utts))
	var enrolStats []voice.Stats // enrolments made as the service makes them
	if m.EnrolHandset > 0 && *enrol > 0 {
		enrolStats = make([]voice.Stats, len(utts))
	}
	spk := map[string]bool{}
	for i, u := range utts {
		speakers[i] = u.Speaker
		stats[i] = m.Backend.Stats(u.Audio)
		if enrolStats != nil {
			enrolStats[i] = m.EnrolStats(u.Audio)
		}
		spk[u.Speaker] = true
	}
	before := m.Calib.Threshold(0.01)
	trials := fmt.Sprintf("operator calls (%d speakers, %d calls, %s)", len(spk), len(utts), strings.Join(pos, ", "))
	if err := m.CalibrateOn(voice.GroupCallsEnrol(speakers, stats, enrolStats, *enrol), trials); err != nil {
		return usagef("voice calibrate: %v", err)
	}
	if err := m.SaveFile(*out); err != nil {
		return err
	}
	c := &m.Calib
	fmt.Fprintf(e.stdout, "calibrated on %s (%d speakers, %d speaker pairs)\nthreshold at 1%% FAR %.2f (was %.2f; without the %.0f %% margin %.2f); at 0.1%% %.2f (without the margin %.2f)\n",
		c.Trials, c.Speakers, c.Pairs, c.Threshold(0.01), before, 100*voice.FARConfidence, c.PointThreshold(0.01), c.Threshold(0.001), c.PointThreshold(0.001))
	if w := c.Caveat(); w != "" {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// sessionFlag writes session options as the -session flag reads them.
func sessionFlag(o voice.SessionOptions) string {
	if !o.Enabled() {
		return "none"
	}
	s := fmt.Sprintf("pca=%d", o.PCA)
	if o.NAP > 0 {
		s += fmt.Sprintf(",nap=%d", o.NAP)
	}
	if o.LDA > 0 {
		s += fmt.Sprintf(",lda=%d", o.LDA)
	}
	if o.WCCN > 0 {
		s += fmt.Sprintf(",wccn=%g", o.WCCN)
	}
	return s
}

// parseSession reads the -session flag.
func parseSession(s string) (voice.SessionOptions, error) {
	var o voice.SessionOptions
	if s == "" || s == "none" {
		return o, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var f float64
		if _, err := fmt.Sscan(v, &f); !ok || err != nil || f < 0 {
			return o, fmt.Errorf("%q: want name=number", kv)
		}
		switch k {
		case "pca":
			o.PCA = int(f)
		case "nap":
			o.NAP = int(f)
		case "lda":
			o.LDA = int(f)
		case "wccn":
			if f >= 1 {
				return o, fmt.Errorf("wccn=%g: want a shrinkage below 1", f)
			}
			o.WCCN = f
		default:
			return o, fmt.Errorf("unknown setting %q (want pca, nap, lda or wccn)", k)
		}
	}
	if !o.Enabled() {
		return o, fmt.Errorf("%q: pca=N is needed (the other steps work in its space)", s)
	}
	if o.NAP >= o.PCA {
		return o, fmt.Errorf("nap=%d must be below pca=%d", o.NAP, o.PCA)
	}
	return o, nil
}

// floatList writes xs as a comma-separated list.
func floatList(xs []float64) string {
	out := make([]string, len(xs))
	for i, f := range xs {
		out[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(out, ",")
}
