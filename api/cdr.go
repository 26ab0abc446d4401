package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect/pipeline"
	"github.com/tollgate-voip/tollgate/incident"
)

// Detection is the call-pattern analysis the API exposes: CDR intake,
// detector statistics, baselines, actions in force and incident reports.
type Detection struct {
	Pipeline *pipeline.Pipeline
	Actions  *action.Manager
	Incident *incident.Source
	// Detectors names the detectors that run.
	Detectors []string
	// Ends is the end-call event stream (GET /v1/calls/events).
	Ends *action.EndStream
	// AlertStatus, when set, hears of each alert status set through
	// POST /v1/alerts/{id} (the incident notifiers acknowledge or
	// resolve the alert's incident).
	AlertStatus func(id int64, status string)
}

// MaxCDRBatch is the most CDRs one POST /v1/cdrs accepts.
const MaxCDRBatch = 5000

func (s *Server) cdrRoutes(mux *http.ServeMux) {
	if s.det == nil {
		return
	}
	mux.HandleFunc("POST /v1/cdrs", s.auth(RoleScreen, s.postCDRs))
	mux.HandleFunc("GET /v1/detection", s.auth(RoleRead, s.detection))
	mux.HandleFunc("GET /v1/calls/events", s.auth(RoleScreen, s.callEvents))
	mux.HandleFunc("GET /v1/baselines/{tenant}", s.auth(RoleRead, s.baselines))
	mux.HandleFunc("GET /v1/actions", s.auth(RoleRead, s.listActions))
	mux.HandleFunc("DELETE /v1/actions/{id}", s.auth(RoleAdmin, s.releaseAction))
	mux.HandleFunc("GET /v1/incidents/damage", s.auth(RoleRead, s.damage))
	mux.HandleFunc("GET /v1/incidents/timeline", s.auth(RoleRead, s.timeline))
}

// postCDRs takes one CDR object, an array of them or {"cdrs": [...]}.
// The batch is all or nothing: one bad record → 400 naming it.
//
// With ?wait=true the response comes once the detectors have judged the
// batch and their actions are in force (at most CDRWait later), so a
// driver in simulated time sees the effect on its next screened call;
// "processed" says whether that happened in time.
func (s *Server) postCDRs(w http.ResponseWriter, r *http.Request) {
	wait := false
	switch r.URL.Query().Get("wait") {
	case "", "false", "0":
	case "true", "1":
		wait = true
	default:
		fieldError(w, "wait", "want true or false")
		return
	}
	var raw json.RawMessage
	if !decode(w, r, &raw) {
		return
	}
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			writeError(w, http.StatusBadRequest, "bad JSON: "+jsonError(err))
			return
		}
	default:
		var wrap struct {
			CDRs []json.RawMessage `json:"cdrs"`
		}
		if json.Unmarshal(raw, &wrap) == nil && wrap.CDRs != nil {
			items = wrap.CDRs
		} else {
			items = []json.RawMessage{raw}
		}
	}
	if len(items) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "no CDRs in the body", Field: "cdrs"})
		return
	}
	if len(items) > MaxCDRBatch {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("at most %d CDRs per request", MaxCDRBatch), Field: "cdrs"})
		return
	}
	recs := make([]cdr.Record, len(items))
	for i, it := range items {
		if err := cdr.DecodeJSON(it, &recs[i], cdr.Options{}); err != nil {
			field := fmt.Sprintf("cdrs[%d]", i)
			var le *cdr.LineError
			msg := err.Error()
			if errors.As(err, &le) {
				msg = le.Msg
				if le.Field != "" {
					field += "." + le.Field
				}
			}
			writeJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + msg, Field: field})
			return
		}
		if _, err := s.eng.Tenant(recs[i].Tenant); err != nil {
			f := fmt.Sprintf("cdrs[%d].tenant", i)
			writeJSON(w, http.StatusBadRequest, errorBody{Error: f + ": " + err.Error(), Field: f})
			return
		}
	}
	if wait {
		ctx, cancel := context.WithTimeout(r.Context(), CDRWait)
		defer cancel()
		acc, dup, err := s.det.Pipeline.SubmitWait(ctx, recs)
		out := map[string]any{"received": len(recs), "accepted": acc, "duplicates": dup, "dropped": len(recs) - acc - dup, "processed": err == nil}
		if ends := s.ends(); ends != nil {
			for i := range recs {
				ends.Ended(recs[i].CallID) // its CDR: the call is over
			}
			if p := ends.Pending(); len(p) > 0 {
				out["disconnect"] = p
			}
		}
		writeJSON(w, http.StatusAccepted, out)
		return
	}
	acc, dup := s.det.Pipeline.Submit(recs)
	writeJSON(w, http.StatusAccepted, map[string]int{"received": len(recs), "accepted": acc, "duplicates": dup, "dropped": len(recs) - acc - dup})
}

// CDRWait bounds how long POST /v1/cdrs?wait=true waits for the detectors.
const CDRWait = 30 * time.Second

// waitParam reads the optional ?wait= of POST /v1/screen and POST
// /v1/calls/{call_id}/events; ok is false once a 400 went out.
func waitParam(w http.ResponseWriter, r *http.Request) (wait, ok bool) {
	if r.URL.RawQuery == "" {
		return false, true // the hot path: no query at all
	}
	switch r.URL.Query().Get("wait") {
	case "", "false", "0":
		return false, true
	case "true", "1":
		return true, true
	}
	fieldError(w, "wait", "want true or false")
	return false, false
}

// settle waits, at most CDRWait, until the detectors have handled
// everything the engine recorded so far (the screening or call event just
// made included) and their actions are in force, and sets the
// Tollgate-Settled header: true, or false if the wait ran out. Without
// detection there is nothing to wait for. It is what ?wait=true asks for:
// a driver replaying traffic in fast event time waits before its next
// request, as live traffic's seconds between calls would.
func (s *Server) settle(w http.ResponseWriter, r *http.Request) {
	settled := "true"
	if s.det != nil && s.det.Pipeline != nil {
		ctx, cancel := context.WithTimeout(r.Context(), CDRWait)
		defer cancel()
		if _, _, err := s.det.Pipeline.SubmitWait(ctx, nil); err != nil {
			settled = "false"
		}
	}
	w.Header().Set("Tollgate-Settled", settled)
}

func (s *Server) detection(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"detectors": s.det.Detectors, "stats": s.det.Pipeline.Stats()})
}

func (s *Server) baselines(w http.ResponseWriter, r *http.Request) {
	snap := s.det.Pipeline.Baseline()
	tenant := r.PathValue("tenant")
	out := map[string]any{"taken": snap.Taken, "tenant": snap.Tenant[tenant]}
	if ext := r.URL.Query().Get("extension"); ext != "" {
		p := snap.Extension(tenant, ext)
		if p == nil {
			writeError(w, http.StatusNotFound, "no baseline for extension "+ext+" of tenant "+tenant)
			return
		}
		out["extension"] = p
		out["peak_concurrency"] = p.PeakConcurrency()
		out["duration_p50_s"] = p.DurationQuantile(0.5)
		out["duration_p95_s"] = p.DurationQuantile(0.95)
	} else if snap.Tenant[tenant] == nil {
		writeError(w, http.StatusNotFound, "no baseline for tenant "+tenant)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	rs, err := s.det.Actions.Actions.ListActions(r.Context(), s.det.Actions.ListTime())
	if err != nil {
		storeError(w, err)
		return
	}
	if rs == nil {
		rs = []action.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": rs})
}

func (s *Server) releaseAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fieldError(w, "id", "want a whole number")
		return
	}
	rec, err := s.det.Actions.Release(r.Context(), id, "token:"+principal(r).Name)
	if errors.Is(err, action.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no action %d", id))
		return
	}
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func period(w http.ResponseWriter, r *http.Request) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	to = time.Now().UTC()
	from = to.Add(-24 * time.Hour)
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			fieldError(w, "from", "want RFC 3339")
			return from, to, false
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			fieldError(w, "to", "want RFC 3339")
			return from, to, false
		}
	}
	if to.Before(from) || to.Sub(from) > 92*24*time.Hour {
		fieldError(w, "to", "want from ≤ to, at most 92 days apart")
		return from, to, false
	}
	return from, to, true
}

func (s *Server) damage(w http.ResponseWriter, r *http.Request) {
	from, to, ok := period(w, r)
	if !ok {
		return
	}
	d, err := s.det.Incident.Assess(r.Context(), from, to, r.URL.Query().Get("tenant"))
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	from, to, ok := period(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("tenant") == "" || q.Get("extension") == "" {
		fieldError(w, "extension", "tenant and extension are required")
		return
	}
	ev, err := s.det.Incident.Timeline(r.Context(), q.Get("tenant"), q.Get("extension"), from, to)
	if err != nil {
		storeError(w, err)
		return
	}
	if ev == nil {
		ev = []incident.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": q.Get("tenant"), "extension": q.Get("extension"), "events": ev})
}
