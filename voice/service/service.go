// Package service runs voice biometrics for the API and the command line:
// enrolment with quality checks, verification of a claimed subject,
// identification against a tenant's fraudster watchlist, passive
// accumulation of a call's speech, and the link to the screening flow
// (results kept per call, alerts for watchlist hits and failed
// verifications, every change audited).
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/voice"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// Error kinds; an *Error wraps one of them.
var (
	ErrInvalid  = errkind.New(errkind.Invalid, "invalid")
	ErrNotFound = errkind.New(errkind.NotFound, "not found")
	ErrConflict = errkind.New(errkind.Conflict, "conflict")
)

// Error is a refusal naming the request field at fault.
type Error struct {
	Kind  error
	Field string
	Msg   string
}

func (e *Error) Error() string { return "voice: " + e.Msg }

// Unwrap exposes the kind.
func (e *Error) Unwrap() error { return e.Kind }

func invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Options configure New.
type Options struct {
	Config  *config.Voice
	Model   *voice.Model
	ModelID string // identifies the model; prints made with another are refused
	// ModelPath is where Calibrate saves the recalibrated model; empty
	// keeps the new calibration in memory only.
	ModelPath string
	Store     vstore.Store
	// Alerts receives the voice alerts (voice_verify_failed,
	// voice_watchlist): the node's alert sink; may be nil.
	Alerts store.Alerter
	Audit  store.Audit // may be nil
	Now    func() time.Time
}

// Service is voice biometrics for one process; state is in the store.
type Service struct {
	o     Options
	model atomic.Pointer[voice.Model] // swapped whole by Calibrate
	calMu sync.Mutex                  // one calibration at a time
	mu    sync.Mutex
	wl    map[string]*watchlist // tenant → cached fraudster prints
}

type watchlist struct {
	gen    string
	ids    []string
	labels []string
	prints []voice.Voiceprint
	index  *voice.Watchlist
}

// New returns a service.
func New(o Options) (*Service, error) {
	if o.Config == nil || o.Model == nil || o.Store == nil {
		return nil, errors.New("voice: service needs config, model and store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, wl: map[string]*watchlist{}}
	s.model.Store(o.Model)
	return s, nil
}

// Model returns the model in use.
func (s *Service) Model() *voice.Model { return s.model.Load() }

// Audio is one audio input: bytes and, for raw G.711, the codec.
type Audio struct {
	Data  []byte
	Codec voice.Codec
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9._:@+-]{1,128}$`)

func checkIDs(tenant, subject string, needSubject bool) error {
	if tenant == "" {
		return invalid("tenant", "required")
	}
	if !idRE.MatchString(tenant) {
		return invalid("tenant", "letters, digits and ._:@+- only, at most 128")
	}
	if needSubject && subject == "" {
		return invalid("subject", "required")
	}
	if subject != "" && !idRE.MatchString(subject) {
		return invalid("subject", "letters, digits and ._:@+- only, at most 128")
	}
	return nil
}

// Synthetic is the synthetic-voice indicator of a request's audio (the
// highest score over its inputs).
type Synthetic struct {
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Flagged   bool    `json:"flagged"`
}

// analyzeEnrol decodes each enrolment input and returns their summed
// enrolment statistics (voice.Model.EnrolStats).
func (s *Service) analyzeEnrol(in []Audio, field string, minEach float64) (voice.Stats, error) {
	st, _, err := s.analyzeAs(in, field, minEach, true)
	return st, err
}

// analyzeSynth decodes each input and returns their summed statistics
// and the synthetic-voice indicator when the model has a detector.
func (s *Service) analyzeSynth(in []Audio, field string, minEach float64) (voice.Stats, *Synthetic, error) {
	return s.analyzeAs(in, field, minEach, false)
}

func (s *Service) analyzeAs(in []Audio, field string, minEach float64, enrol bool) (voice.Stats, *Synthetic, error) {
	if len(in) == 0 {
		return voice.Stats{}, nil, invalid(field, "no audio")
	}
	if len(in) > 20 {
		return voice.Stats{}, nil, invalid(field, "%d audio inputs; at most 20", len(in))
	}
	var syn *Synthetic
	var st voice.Stats
	for i, a := range in {
		f := field
		if len(in) > 1 {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		au, err := voice.Decode(a.Data, a.Codec, voice.Limits{MaxSeconds: s.o.Config.MaxAudioSeconds})
		if err != nil {
			return voice.Stats{}, nil, &Error{Kind: ErrInvalid, Field: f, Msg: err.Error()[len("voice: "):]}
		}
		var one voice.Stats
		if enrol {
			one = s.Model().EnrolStats(au)
		} else {
			one = s.Model().Backend.Stats(au)
		}
		if one.Speech() < minEach {
			return voice.Stats{}, nil, invalid(f, "%.2f s of net speech found in %.2f s of audio; need at least %.2f s", one.Speech(), au.Seconds(), minEach)
		}
		st = st.Add(one)
		if d := s.Model().Synthetic; d != nil && one.Frames > 0 {
			sc := d.Score(au)
			if syn == nil || sc > syn.Score {
				syn = &Synthetic{Score: sc, Threshold: d.Threshold, Flagged: sc >= d.Threshold}
			}
		}
	}
	return st, syn, nil
}

// EnrollRequest enrols or re-enrols a subject.
type EnrollRequest struct {
	Tenant, Subject, Label string
	Kind                   string // customer (default) or fraudster
	Append                 bool   // add the audio to the existing voiceprint instead of replacing it
	Audio                  []Audio
	Actor                  string
}

// Enroll makes (or remakes) a subject's voiceprint.
func (s *Service) Enroll(ctx context.Context, q EnrollRequest) (vstore.Subject, error) {
	if err := checkIDs(q.Tenant, q.Subject, true); err != nil {
		return vstore.Subject{}, err
	}
	if q.Kind == "" {
		q.Kind = vstore.KindCustomer
	}
	if q.Kind != vstore.KindCustomer && q.Kind != vstore.KindFraudster {
		return vstore.Subject{}, invalid("kind", "want customer or fraudster")
	}
	if len(q.Label) > 256 {
		return vstore.Subject{}, invalid("label", "longer than 256 bytes")
	}
	pol := s.o.Config.Policy(q.Tenant)
	st, err := s.analyzeEnrol(q.Audio, "audio", 0.3)
	if err != nil {
		return vstore.Subject{}, err
	}
	now := s.o.Now().UTC()
	sub := vstore.Subject{Tenant: q.Tenant, ID: q.Subject, Kind: q.Kind, Label: q.Label, Model: s.o.ModelID, Created: now, Updated: now}
	old, err := s.o.Store.GetSubject(ctx, q.Tenant, q.Subject)
	switch {
	case err == nil:
		sub.Created = old.Created
		if q.Append {
			if old.Model != s.o.ModelID {
				return vstore.Subject{}, &Error{Kind: ErrConflict, Field: "append", Msg: "the existing voiceprint was made with another model; re-enrol without append"}
			}
			var prev voice.Stats
			if err := prev.UnmarshalBinary(old.Stats); err != nil {
				return vstore.Subject{}, err
			}
			st = prev.Add(st)
			sub.Utterances = old.Utterances
			if s.o.Config.KeepAudio {
				sub.Audio = old.Audio
			}
		}
	case errors.Is(err, vstore.ErrNotFound):
		if q.Append {
			return vstore.Subject{}, &Error{Kind: ErrNotFound, Field: "subject", Msg: "no subject " + q.Subject + " to append to"}
		}
	default:
		return vstore.Subject{}, err
	}
	if st.Speech() < pol.MinEnrollSpeech {
		return vstore.Subject{}, invalid("audio", "%.2f s of net speech; enrolment needs at least %.1f s (send more or longer utterances)", st.Speech(), pol.MinEnrollSpeech)
	}
	p := s.Model().Print(st)
	sub.Print, _ = p.MarshalBinary()
	sub.Stats, _ = st.MarshalBinary()
	sub.Speech = st.Speech()
	sub.Utterances += len(q.Audio)
	if s.o.Config.KeepAudio {
		for _, a := range q.Audio {
			sub.Audio = append(sub.Audio, a.Data)
		}
	}
	if err := s.o.Store.PutSubject(ctx, sub); err != nil {
		return vstore.Subject{}, err
	}
	action := "voice.enroll"
	if old.ID != "" {
		action = "voice.reenroll"
	}
	if err := s.audit(ctx, q.Actor, action, q.Tenant, q.Subject, map[string]any{"kind": q.Kind, "utterances": len(q.Audio), "append": q.Append, "speech_s": round2(sub.Speech), "audio_kept": s.o.Config.KeepAudio}); err != nil {
		return sub, err
	}
	return sub, nil
}

func round2(x float64) float64 { return float64(int(x*100+0.5)) / 100 }

func (s *Service) audit(ctx context.Context, actor, action, tenant, subject string, details any) error {
	if s.o.Audit == nil {
		return nil
	}
	raw, _ := json.Marshal(details)
	_, err := s.o.Audit.AppendAudit(ctx, store.AuditEntry{Time: s.o.Now().UTC(), Actor: actor, Action: action, Object: "voice/" + tenant + "/" + subject, Details: raw})
	return err
}

// Subject returns a subject's metadata.
func (s *Service) Subject(ctx context.Context, tenant, id string) (vstore.Subject, error) {
	if err := checkIDs(tenant, id, true); err != nil {
		return vstore.Subject{}, err
	}
	sub, err := s.o.Store.GetSubject(ctx, tenant, id)
	if errors.Is(err, vstore.ErrNotFound) {
		return sub, &Error{Kind: ErrNotFound, Field: "subject", Msg: "no subject " + id + " in tenant " + tenant}
	}
	return sub, err
}

// Delete removes a subject's voiceprint and any kept audio.
func (s *Service) Delete(ctx context.Context, actor, tenant, id string) error {
	if err := checkIDs(tenant, id, true); err != nil {
		return err
	}
	err := s.o.Store.DeleteSubject(ctx, tenant, id)
	if errors.Is(err, vstore.ErrNotFound) {
		return &Error{Kind: ErrNotFound, Field: "subject", Msg: "no subject " + id + " in tenant " + tenant}
	}
	if err != nil {
		return err
	}
	return s.audit(ctx, actor, "voice.delete", tenant, id, map[string]any{})
}

// Decisions.
const (
	Accept    = "accept"
	Reject    = "reject"
	Uncertain = "uncertain"
	Match     = "match"
	NoMatch   = "no_match"
)

// VerifyRequest checks a claimed identity. With a CallID, audio
// accumulates over successive requests for the same call and subject
// (passive mode) and the result is attached to the call.
type VerifyRequest struct {
	Tenant, Subject, CallID string
	Audio                   []Audio
	Actor                   string
}

// VerifyResult is the answer.
type VerifyResult struct {
	Subject   string  `json:"subject"`
	Decision  string  `json:"decision"`
	Raw       float64 `json:"raw_score"`
	Score     float64 `json:"score"` // normalised
	LLR       float64 `json:"llr"`
	Threshold float64 `json:"threshold"`
	FAR       float64 `json:"false_accept_rate,omitempty"`
	Speech    float64 `json:"speech_s"` // net speech used (accumulated over the call in passive mode)
	MinSpeech float64 `json:"min_speech_s"`
	Segments  int     `json:"segments"`
	CallID    string  `json:"call_id,omitempty"`
	Risk      int     `json:"risk"`
	Reason    string  `json:"reason"`
	// Synthetic is present when the model has a synthetic-voice detector.
	Synthetic *Synthetic `json:"synthetic,omitempty"`
}

// accumulate adds st to the call's stored statistics for key.
func (s *Service) accumulate(ctx context.Context, callID, key string, st voice.Stats) (voice.Stats, int, error) {
	if callID == "" {
		return st, 1, nil
	}
	raw, err := s.o.Store.CallStats(ctx, callID, key)
	if err != nil {
		return st, 0, err
	}
	segs := 1
	if len(raw) > 4 {
		var prev voice.Stats
		if err := prev.UnmarshalBinary(raw[4:]); err == nil && len(prev.Vec) == len(st.Vec) {
			st = prev.Add(st)
			segs = int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16 | int(raw[3])<<24 + 1
		}
	}
	enc, _ := st.MarshalBinary()
	hdr := []byte{byte(segs), byte(segs >> 8), byte(segs >> 16), byte(segs >> 24)}
	if err := s.o.Store.PutCallStats(ctx, callID, key, append(hdr, enc...), s.o.Now()); err != nil {
		return st, 0, err
	}
	return st, segs, nil
}

// Verify scores audio against a claimed subject.
func (s *Service) Verify(ctx context.Context, q VerifyRequest) (VerifyResult, error) {
	if err := checkIDs(q.Tenant, q.Subject, true); err != nil {
		return VerifyResult{}, err
	}
	if q.CallID != "" && !idRE.MatchString(q.CallID) {
		return VerifyResult{}, invalid("call_id", "letters, digits and ._:@+- only, at most 128")
	}
	sub, err := s.Subject(ctx, q.Tenant, q.Subject)
	if err != nil {
		return VerifyResult{}, err
	}
	if sub.Model != s.o.ModelID {
		return VerifyResult{}, &Error{Kind: ErrConflict, Field: "subject", Msg: "the voiceprint of " + q.Subject + " was made with another model; re-enrol"}
	}
	var print voice.Voiceprint
	if err := print.UnmarshalBinary(sub.Print); err != nil {
		return VerifyResult{}, err
	}
	st, syn, err := s.analyzeSynth(q.Audio, "audio", 0)
	if err != nil {
		return VerifyResult{}, err
	}
	st, segs, err := s.accumulate(ctx, q.CallID, "verify:"+q.Subject, st)
	if err != nil {
		return VerifyResult{}, err
	}
	pol := s.o.Config.Policy(q.Tenant)
	m := s.Model()
	res := VerifyResult{Subject: q.Subject, Speech: round2(st.Speech()), MinSpeech: pol.MinVerifySpeech, Segments: segs, CallID: q.CallID, Synthetic: syn}
	res.Threshold, res.FAR = s.threshold(pol.Threshold, pol.FalseAcceptRate)
	r := m.Compare(print, m.Print(st))
	res.Raw, res.Score, res.LLR = r.Raw, r.Normalized, r.LLR
	switch {
	case st.Speech() < pol.MinVerifySpeech:
		res.Decision = Uncertain
		res.Reason = fmt.Sprintf("%.2f s of net speech; a decision needs %.1f s", st.Speech(), pol.MinVerifySpeech)
	case r.Normalized >= res.Threshold:
		res.Decision = Accept
		res.Reason = fmt.Sprintf("voice matches %s (score %.2f ≥ %.2f)", q.Subject, r.Normalized, res.Threshold)
	default:
		res.Decision = Reject
		res.Risk = pol.RiskFailedVerify
		res.Reason = fmt.Sprintf("voice does not match claimed %s (score %.2f < %.2f)", q.Subject, r.Normalized, res.Threshold)
	}
	if q.CallID != "" {
		prev, err := s.o.Store.Results(ctx, []string{q.CallID})
		if err != nil {
			return res, err
		}
		if err := s.o.Store.AddResult(ctx, vstore.Result{CallID: q.CallID, Tenant: q.Tenant, Time: s.o.Now().UTC(), Op: "verify", Subject: q.Subject,
			Decision: res.Decision, Score: res.Score, LLR: res.LLR, Speech: res.Speech, Risk: res.Risk, Reason: res.Reason}); err != nil {
			return res, err
		}
		if res.Decision == Reject && !already(prev[q.CallID], "verify", q.Subject, Reject) {
			s.alert(store.Alert{Tenant: q.Tenant, Severity: "warning", Code: "voice_verify_failed",
				Text: fmt.Sprintf("call %s: caller's voice does not match claimed account %s", q.CallID, q.Subject)}, res)
		}
	}
	return res, nil
}

func already(rs []vstore.Result, op, subject, decision string) bool {
	for _, r := range rs {
		if r.Op == op && r.Subject == subject && r.Decision == decision {
			return true
		}
	}
	return false
}

func (s *Service) threshold(fixed *float64, far float64) (float64, float64) {
	if fixed != nil {
		return *fixed, 0
	}
	return s.Model().Calib.Threshold(far), far
}

func (s *Service) alert(a store.Alert, details any) {
	if s.o.Alerts == nil {
		return
	}
	a.Time = s.o.Now().UTC()
	a.Status = "open"
	a.Details, _ = json.Marshal(details)
	s.o.Alerts.Alert(a)
}

// IdentifyRequest searches a tenant's watchlist.
type IdentifyRequest struct {
	Tenant, CallID string
	Audio          []Audio
	Limit          int
	Actor          string
}

// Hit is one watchlist match.
type Hit struct {
	Subject string  `json:"subject"`
	Label   string  `json:"label,omitempty"`
	Raw     float64 `json:"raw_score"`
	Score   float64 `json:"score"`
	LLR     float64 `json:"llr"`
}

// IdentifyResult is the answer.
type IdentifyResult struct {
	Decision  string     `json:"decision"` // match, no_match, uncertain
	Matches   []Hit      `json:"matches"`
	Threshold float64    `json:"threshold"`
	FAR       float64    `json:"false_accept_rate,omitempty"`
	Watchlist int        `json:"watchlist_size"`
	Speech    float64    `json:"speech_s"`
	MinSpeech float64    `json:"min_speech_s"`
	Segments  int        `json:"segments"`
	CallID    string     `json:"call_id,omitempty"`
	Risk      int        `json:"risk"`
	Reason    string     `json:"reason"`
	Synthetic *Synthetic `json:"synthetic,omitempty"`
}

// Identify compares audio with every fraudster voiceprint of the tenant.
func (s *Service) Identify(ctx context.Context, q IdentifyRequest) (IdentifyResult, error) {
	if err := checkIDs(q.Tenant, "", false); err != nil {
		return IdentifyResult{}, err
	}
	if q.CallID != "" && !idRE.MatchString(q.CallID) {
		return IdentifyResult{}, invalid("call_id", "letters, digits and ._:@+- only, at most 128")
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 10
	}
	wl, err := s.watchlist(ctx, q.Tenant)
	if err != nil {
		return IdentifyResult{}, err
	}
	st, syn, err := s.analyzeSynth(q.Audio, "audio", 0)
	if err != nil {
		return IdentifyResult{}, err
	}
	st, segs, err := s.accumulate(ctx, q.CallID, "identify", st)
	if err != nil {
		return IdentifyResult{}, err
	}
	pol := s.o.Config.Policy(q.Tenant)
	res := IdentifyResult{Matches: []Hit{}, Watchlist: len(wl.prints), Speech: round2(st.Speech()), MinSpeech: pol.MinVerifySpeech, Segments: segs, CallID: q.CallID, Synthetic: syn}
	res.Threshold, res.FAR = s.threshold(pol.WatchlistThreshold, pol.WatchlistFalseAcceptRate)
	m := s.Model()
	var top voice.Match
	if st.Speech() < pol.MinVerifySpeech {
		res.Decision = Uncertain
		res.Reason = fmt.Sprintf("%.2f s of net speech; a decision needs %.1f s", st.Speech(), pol.MinVerifySpeech)
	} else {
		for _, h := range m.Search(m.Print(st), wl.index, res.Threshold, q.Limit) {
			res.Matches = append(res.Matches, Hit{Subject: wl.ids[h.Index], Label: wl.labels[h.Index], Raw: h.Raw, Score: h.Normalized, LLR: h.LLR})
			if top.Normalized == 0 || h.Normalized > top.Normalized {
				top = h
			}
		}
		if len(res.Matches) > 0 {
			res.Decision = Match
			res.Risk = pol.RiskWatchlist
			res.Reason = fmt.Sprintf("voice matches watchlisted %s (score %.2f ≥ %.2f)", res.Matches[0].Subject, res.Matches[0].Score, res.Threshold)
		} else {
			res.Decision = NoMatch
			res.Reason = fmt.Sprintf("no watchlist voiceprint scores ≥ %.2f (%d compared)", res.Threshold, len(wl.prints))
		}
	}
	if q.CallID != "" {
		subj := ""
		if len(res.Matches) > 0 {
			subj = res.Matches[0].Subject
		}
		prev, err := s.o.Store.Results(ctx, []string{q.CallID})
		if err != nil {
			return res, err
		}
		if err := s.o.Store.AddResult(ctx, vstore.Result{CallID: q.CallID, Tenant: q.Tenant, Time: s.o.Now().UTC(), Op: "identify", Subject: subj,
			Decision: res.Decision, Score: top.Normalized, LLR: top.LLR, Speech: res.Speech, Risk: res.Risk, Reason: res.Reason}); err != nil {
			return res, err
		}
		if res.Decision == Match && !already(prev[q.CallID], "identify", subj, Match) {
			s.alert(store.Alert{Tenant: q.Tenant, Severity: "critical", Code: "voice_watchlist",
				Text: fmt.Sprintf("call %s: caller's voice matches watchlisted fraudster %s", q.CallID, subj)}, res)
		}
	}
	return res, nil
}

// watchlist returns the tenant's fraudster prints, re-read from the store
// only when they changed (here or on another node).
func (s *Service) watchlist(ctx context.Context, tenant string) (*watchlist, error) {
	gen, err := s.o.Store.Generation(ctx, tenant, vstore.KindFraudster)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	wl := s.wl[tenant]
	s.mu.Unlock()
	if wl != nil && wl.gen == gen {
		return wl, nil
	}
	subs, err := s.o.Store.Subjects(ctx, tenant, vstore.KindFraudster)
	if err != nil {
		return nil, err
	}
	wl = &watchlist{gen: gen}
	for _, sub := range subs {
		if sub.Model != s.o.ModelID {
			continue // made with another model: re-enrol to use it
		}
		var p voice.Voiceprint
		if err := p.UnmarshalBinary(sub.Print); err != nil {
			continue
		}
		wl.ids = append(wl.ids, sub.ID)
		wl.labels = append(wl.labels, sub.Label)
		wl.prints = append(wl.prints, p)
	}
	wl.index = voice.NewWatchlist(wl.prints)
	s.mu.Lock()
	s.wl[tenant] = wl
	s.mu.Unlock()
	return wl, nil
}

// Results returns the voice results attached to calls.
func (s *Service) Results(ctx context.Context, callIDs []string) (map[string][]vstore.Result, error) {
	return s.o.Store.Results(ctx, callIDs)
}

// Expire drops passive statistics older than the configured TTL.
func (s *Service) Expire(ctx context.Context) (int, error) {
	return s.o.Store.ExpireCallStats(ctx, s.o.Now().Add(-s.o.Config.PassiveTTL.Duration()))
}

// CalibrationCall is one labelled call for Calibrate.
type CalibrationCall struct {
	Speaker string
	Audio   Audio
}

// CalibrateRequest recalibrates the model on an operator's own calls of
// speakers the background model was not trained on.
type CalibrateRequest struct {
	Calls []CalibrationCall
	// EnrolCalls > 0: each speaker's first half of calls, EnrolCalls at a
	// time, make enrolments and the second half are tests; 0: every pair
	// of calls is a trial.
	EnrolCalls int
	Actor      string
	// Synthetic: what to do with the synthetic-voice flag's threshold.
	Synthetic SyntheticCalibration
}

// CalibrateResult describes the new calibration.
type CalibrateResult struct {
	Speakers int    `json:"speakers"`
	Calls    int    `json:"calls"`
	Trials   string `json:"trials"`
	// Pairs counts the unordered speaker pairs among the impostor trials.
	Pairs int `json:"speaker_pairs"`
	// Threshold1 and Threshold01 are the thresholds for 1 % and 0.1 %
	// false accepts with the 95 % margin (voice.FitCalibrationPairs);
	// Point1 is the 1 % threshold without it.
	Threshold1   float64 `json:"threshold_far_1pct"`
	Threshold01  float64 `json:"threshold_far_0_1pct"`
	Point1       float64 `json:"point_threshold_far_1pct"`
	ThresholdOld float64 `json:"previous_threshold_far_1pct"`
	// Warning says when the calibration rests on too few speakers.
	Warning string `json:"warning,omitempty"`
	Saved   bool   `json:"saved"`
	// Synthetic is present when the request asked for the synthetic-voice
	// threshold and the model has the detector.
	Synthetic *SyntheticCalibrateResult `json:"synthetic,omitempty"`
}

// MaxCalibrationCalls bounds one calibration request.
const MaxCalibrationCalls = 2000

// Calibrate fits the score calibration (thresholds for a stated
// false-accept rate) on labelled calls, swaps it into the model in use
// and, when the service has a model path, saves the model there.
// Voiceprints stay valid: only the calibration changes.
func (s *Service) Calibrate(ctx context.Context, q CalibrateRequest) (CalibrateResult, error) {
	if len(q.Calls) == 0 {
		return CalibrateResult{}, invalid("audio", "no calls")
	}
	if len(q.Calls) > MaxCalibrationCalls {
		return CalibrateResult{}, invalid("audio", "%d calls; at most %d", len(q.Calls), MaxCalibrationCalls)
	}
	if q.EnrolCalls < 0 || q.EnrolCalls > 20 {
		return CalibrateResult{}, invalid("enrol_calls", "want 0…20")
	}
	s.calMu.Lock()
	defer s.calMu.Unlock()
	old := s.Model()
	if err := checkSynthetic(old, q.Synthetic); err != nil {
		return CalibrateResult{}, err
	}
	stats := make([]voice.Stats, len(q.Calls))
	aus := make([]voice.Audio, len(q.Calls))
	speakers := make([]string, len(q.Calls))
	var enrolStats []voice.Stats
	spk := map[string]bool{}
	for i, c := range q.Calls {
		f := fmt.Sprintf("audio[%d]", i)
		if !idRE.MatchString(c.Speaker) {
			return CalibrateResult{}, invalid(f, "speaker label %q: want 1–128 of A-Z a-z 0-9 . _ : @ + -", c.Speaker)
		}
		if err := ctx.Err(); err != nil {
			return CalibrateResult{}, err
		}
		au, err := voice.Decode(c.Audio.Data, c.Audio.Codec, voice.Limits{MaxSeconds: s.o.Config.MaxAudioSeconds})
		if err != nil {
			return CalibrateResult{}, &Error{Kind: ErrInvalid, Field: f, Msg: err.Error()[len("voice: "):]}
		}
		aus[i] = au
		speakers[i] = c.Speaker
		spk[c.Speaker] = true
		if q.Synthetic.Only {
			continue
		}
		stats[i] = old.Backend.Stats(au)
		if old.EnrolHandset > 0 && q.EnrolCalls > 0 {
			// Enrolments are made as Enroll makes them.
			if enrolStats == nil {
				enrolStats = make([]voice.Stats, len(q.Calls))
			}
			enrolStats[i] = old.EnrolStats(au)
		}
	}
	m := *old
	at := fmt.Sprintf("by %s at %s", q.Actor, s.o.Now().UTC().Format(time.RFC3339))
	syn, synRes, err := calibrateSynthetic(old.Synthetic, aus, q.Synthetic, fmt.Sprintf("operator calls (%d calls) %s", len(q.Calls), at))
	if err != nil {
		return CalibrateResult{}, err
	}
	if syn != nil {
		m.Synthetic = syn
	}
	if !q.Synthetic.Only {
		items := voice.GroupCallsEnrol(speakers, stats, enrolStats, q.EnrolCalls)
		if err := m.CalibrateOn(items, fmt.Sprintf("operator calls (%d speakers, %d calls) %s", len(spk), len(q.Calls), at)); err != nil {
			return CalibrateResult{}, invalid("audio", "%s", err.Error()[len("voice: "):])
		}
	}
	res := CalibrateResult{Speakers: len(spk), Calls: len(q.Calls), Trials: m.Calib.Trials, Pairs: m.Calib.Pairs,
		Threshold1: m.Calib.Threshold(0.01), Threshold01: m.Calib.Threshold(0.001), Point1: m.Calib.PointThreshold(0.01),
		ThresholdOld: old.Calib.Threshold(0.01), Warning: m.Calib.Caveat(), Synthetic: synRes}
	if s.o.ModelPath != "" {
		if err := m.SaveFile(s.o.ModelPath); err != nil {
			return CalibrateResult{}, fmt.Errorf("saving the recalibrated model: %w", err)
		}
		res.Saved = true
	}
	s.model.Store(&m)
	if err := s.audit(ctx, q.Actor, "voice.calibrate", "-", "model", calibrateAudit(res)); err != nil {
		return res, err
	}
	return res, nil
}
