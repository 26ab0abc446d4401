package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/voice"
	"github.com/tollgate-voip/tollgate/voice/service"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// MaxVoiceBody bounds a voice request (audio is larger than JSON).
const MaxVoiceBody = 16 << 20

type voiceAPI struct {
	s   *Server
	svc *service.Service
}

// EnableVoice adds the voice biometrics routes and attaches voice results
// to GET /v1/decisions. Call it before serving.
//
// Verification and identification take the screen role (the IVR's
// token). Enrolment takes screen or operator (or admin): the IVR enrols
// customers, an operator puts fraudsters on the watchlist, and only admin
// may do both. Reading a subject needs read; deleting one needs admin.
func (s *Server) EnableVoice(svc *service.Service) {
	a := &voiceAPI{s: s, svc: svc}
	s.voice = a
	s.mux.HandleFunc("POST /v1/voice/enroll", s.auth(RoleScreen, a.enroll, RoleOperator))
	s.mux.HandleFunc("POST /v1/voice/verify", s.auth(RoleScreen, a.verify))
	s.mux.HandleFunc("POST /v1/voice/identify", s.auth(RoleScreen, a.identify))
	s.mux.HandleFunc("GET /v1/voice/subjects/{id}", s.auth(RoleRead, a.get))
	s.mux.HandleFunc("DELETE /v1/voice/subjects/{id}", s.auth(RoleAdmin, a.remove))
	s.mux.HandleFunc("POST /v1/voice/calibrate", s.auth(RoleAdmin, a.calibrate, RoleOperator))
}

// voiceForm is a voice request: fields plus audio, from a multipart form
// (fields and one or more files named "audio") or a raw audio body with
// the fields in the query string.
type voiceForm struct {
	fields map[string]string
	audio  []service.Audio
	labels []string // speaker of each audio part named "audio:SPEAKER" (calibrate)
}

func (f *voiceForm) get(k string) string { return f.fields[k] }

func readVoiceForm(w http.ResponseWriter, r *http.Request) (*voiceForm, bool) {
	return readVoiceFormLimit(w, r, MaxVoiceBody, false)
}

// readVoiceFormLimit reads a voice form of at most limit bytes; labelled
// accepts audio parts named "audio:SPEAKER" (and only those).
func readVoiceFormLimit(w http.ResponseWriter, r *http.Request, limit int64, labelled bool) (*voiceForm, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	f := &voiceForm{fields: map[string]string{}}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			f.fields[k] = v[0]
		}
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				writeVoiceBodyError(w, err)
				return nil, false
			}
			data, err := io.ReadAll(p)
			if err != nil {
				writeVoiceBodyError(w, err)
				return nil, false
			}
			name := p.FormName()
			label, isLabelled := strings.CutPrefix(name, "audio:")
			if isLabelled != labelled && (isLabelled || name == "audio") {
				if labelled {
					fieldError(w, name, "name each audio part audio:SPEAKER")
				} else {
					fieldError(w, name, "unexpected speaker-labelled audio part (only calibrate takes them)")
				}
				return nil, false
			}
			if isLabelled || name == "audio" {
				codec, err := voice.ParseCodec(partCodec(p.Header.Get("Content-Type"), f.fields["codec"]))
				if err != nil {
					fieldError(w, "audio", err.Error())
					return nil, false
				}
				f.audio = append(f.audio, service.Audio{Data: data, Codec: codec})
				f.labels = append(f.labels, label)
				continue
			}
			if len(data) > 1024 {
				fieldError(w, name, "form field longer than 1024 bytes")
				return nil, false
			}
			if m := textProblem(name, string(data)); m != "" {
				fieldError(w, name, m)
				return nil, false
			}
			f.fields[name] = string(data)
		}
		// A codec field after the files applies to files without a type.
		if c := f.fields["codec"]; c != "" {
			codec, err := voice.ParseCodec(c)
			if err != nil {
				fieldError(w, "codec", err.Error())
				return nil, false
			}
			for i := range f.audio {
				if f.audio[i].Codec == voice.CodecAuto {
					f.audio[i].Codec = codec
				}
			}
		}
		return f, true
	}
	if labelled {
		fieldError(w, "audio", "want a multipart/form-data body with parts named audio:SPEAKER")
		return nil, false
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeVoiceBodyError(w, err)
		return nil, false
	}
	codec, err := voice.ParseCodec(partCodec(ct, f.fields["codec"]))
	if err != nil {
		fieldError(w, "codec", err.Error())
		return nil, false
	}
	f.audio = []service.Audio{{Data: data, Codec: codec}}
	return f, true
}

// partCodec picks the codec: an explicit field wins, then a media type
// that names one (audio/PCMU, audio/PCMA, audio/basic); anything else is
// sniffed as WAV.
func partCodec(contentType, field string) string {
	if field != "" {
		return field
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	switch strings.ToLower(ct) {
	case "audio/pcmu", "audio/basic", "audio/pcma":
		return ct
	}
	return ""
}

func writeVoiceBodyError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("body larger than %d bytes", mbe.Limit), Field: "audio"})
		return
	}
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "reading the body: " + err.Error(), Field: "audio"})
}

func voiceError(w http.ResponseWriter, err error) {
	var e *service.Error
	if errors.As(err, &e) {
		code, ok := errkind.HTTPStatus(err)
		if !ok {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, errorBody{Error: e.Error(), Field: e.Field})
		return
	}
	writeError(w, http.StatusServiceUnavailable, "voice: "+err.Error())
}

func (a *voiceAPI) enroll(w http.ResponseWriter, r *http.Request) {
	f, ok := readVoiceForm(w, r)
	if !ok {
		return
	}
	kind := f.get("kind")
	switch role := principal(r).Role; {
	case kind == vstore.KindFraudster && role != RoleAdmin && role != RoleOperator:
		writeError(w, http.StatusForbidden, "enrolling a fraudster needs the admin or operator role")
		return
	case kind != vstore.KindFraudster && role == RoleOperator:
		writeError(w, http.StatusForbidden, "an operator enrols fraudsters only (kind=fraudster); customers are enrolled by the screen role")
		return
	}
	appendMode := false
	if v := f.get("append"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fieldError(w, "append", "want true or false")
			return
		}
		appendMode = b
	}
	sub, err := a.svc.Enroll(r.Context(), service.EnrollRequest{Tenant: f.get("tenant"), Subject: f.get("subject"), Label: f.get("label"), Kind: kind,
		Append: appendMode, Audio: f.audio, Actor: principal(r).actor()})
	if err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

func (a *voiceAPI) verify(w http.ResponseWriter, r *http.Request) {
	f, ok := readVoiceForm(w, r)
	if !ok {
		return
	}
	res, err := a.svc.Verify(r.Context(), service.VerifyRequest{Tenant: f.get("tenant"), Subject: f.get("subject"), CallID: f.get("call_id"), Audio: f.audio, Actor: principal(r).actor()})
	if err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *voiceAPI) identify(w http.ResponseWriter, r *http.Request) {
	f, ok := readVoiceForm(w, r)
	if !ok {
		return
	}
	limit := 0
	if v := f.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fieldError(w, "limit", "want 1–100")
			return
		}
		limit = n
	}
	res, err := a.svc.Identify(r.Context(), service.IdentifyRequest{Tenant: f.get("tenant"), CallID: f.get("call_id"), Audio: f.audio, Limit: limit, Actor: principal(r).actor()})
	if err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// MaxCalibrationBody bounds a calibration request: many calls at once.
const MaxCalibrationBody = 64 << 20

// calibrate refits the model's score calibration on the operator's own
// labelled calls (parts named audio:SPEAKER) of speakers the model was
// not trained on, and saves the model.
func (a *voiceAPI) calibrate(w http.ResponseWriter, r *http.Request) {
	f, ok := readVoiceFormLimit(w, r, MaxCalibrationBody, true)
	if !ok {
		return
	}
	enrol := 0
	if v := f.get("enrol_calls"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fieldError(w, "enrol_calls", "want an integer 0…20")
			return
		}
		enrol = n
	}
	syn, ok := syntheticCalibration(w, f)
	if !ok {
		return
	}
	q := service.CalibrateRequest{EnrolCalls: enrol, Actor: principal(r).actor(), Synthetic: syn}
	for i, au := range f.audio {
		q.Calls = append(q.Calls, service.CalibrationCall{Speaker: f.labels[i], Audio: au})
	}
	res, err := a.svc.Calibrate(r.Context(), q)
	if err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// syntheticCalibration reads a calibration's synthetic-voice fields:
// synthetic_false_flags (a share in (0, 0.5), or 0 to leave the
// threshold; named, it must be met or the request is refused; absent,
// service.DefaultSyntheticFalseFlags when there are calls enough, as the
// CLI does) and synthetic_only (true: set only that threshold).
func syntheticCalibration(w http.ResponseWriter, f *voiceForm) (service.SyntheticCalibration, bool) {
	q := service.SyntheticCalibration{FalseFlags: service.DefaultSyntheticFalseFlags}
	if v := f.get("synthetic_false_flags"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x == 0 || (x > 0 && x < 0.5)) {
			fieldError(w, "synthetic_false_flags", "want a share above 0 and below 0.5, e.g. 0.01 (0: leave the threshold)")
			return q, false
		}
		q.FalseFlags, q.Required = x, true
	}
	if v := f.get("synthetic_only"); v != "" {
		only, err := strconv.ParseBool(v)
		if err != nil {
			fieldError(w, "synthetic_only", "want true or false")
			return q, false
		}
		q.Only = only
	}
	return q, true
}

func (a *voiceAPI) get(w http.ResponseWriter, r *http.Request) {
	sub, err := a.svc.Subject(r.Context(), r.URL.Query().Get("tenant"), r.PathValue("id"))
	if err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

func (a *voiceAPI) remove(w http.ResponseWriter, r *http.Request) {
	tenant, id := r.URL.Query().Get("tenant"), r.PathValue("id")
	if err := a.svc.Delete(r.Context(), principal(r).actor(), tenant, id); err != nil {
		voiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "tenant": tenant})
}

// voiceDecision is a decision with the voice results of its call: the
// results are listed under "voice", their risk is added to the call's
// (capped at 100) and their reasons are appended.
type voiceDecision struct {
	store.Decision
	Voice []vstore.Result `json:"voice"`
}

// withVoice joins voice results into decisions; without voice it returns
// ds unchanged.
func (s *Server) withVoice(ctx context.Context, ds []store.Decision) any {
	if s.voice == nil || len(ds) == 0 {
		return ds
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.CallID
	}
	res, err := s.voice.svc.Results(ctx, ids)
	if err != nil {
		s.log.Error("voice results for decisions", "err", err)
		return ds
	}
	out := make([]any, len(ds))
	for i, d := range ds {
		vr := res[d.CallID]
		if len(vr) == 0 {
			out[i] = d
			continue
		}
		var reasons []json.RawMessage
		_ = json.Unmarshal(d.Reasons, &reasons)
		// Passive mode posts several segments: only the latest result of
		// each operation and subject counts.
		latest := map[string]vstore.Result{}
		var order []string
		for _, v := range vr {
			k := v.Op + "\x00" + v.Subject
			if _, ok := latest[k]; !ok {
				order = append(order, k)
			}
			latest[k] = v
		}
		for _, k := range order {
			v := latest[k]
			d.Risk = min(100, d.Risk+v.Risk)
			if v.Risk > 0 {
				rb, _ := json.Marshal(map[string]any{"check": "voice", "code": "voice_" + v.Op + "_" + v.Decision, "text": v.Reason, "risk": v.Risk})
				reasons = append(reasons, rb)
			}
		}
		if raw, err := json.Marshal(reasons); err == nil {
			d.Reasons = raw
		}
		out[i] = voiceDecision{Decision: d, Voice: vr}
	}
	return out
}
