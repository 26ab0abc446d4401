package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/quality"
)

// Compliance is what the compliance and quality routes need; a nil field
// answers 503 on its routes.
type Compliance struct {
	Store   compliance.Store
	Live    *compliance.Live
	Quality *quality.Watcher
}

func (s *Server) compliance(w http.ResponseWriter) (*Compliance, bool) {
	if s.comp == nil || s.comp.Store == nil {
		writeError(w, http.StatusServiceUnavailable, "compliance records are not set up on this node")
		return nil, false
	}
	return s.comp, true
}

func writeFieldError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: msg, Field: field})
}

// e164 accepts "+" and digits, with spaces, dashes, dots and brackets.
func e164(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0:
			b.WriteByte('+')
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	n := b.String()
	if _, ok := compliance.Key(n); !ok || !strings.HasPrefix(n, "+") {
		return "", false
	}
	return n, true
}

func complianceError(w http.ResponseWriter, err error) {
	kindError(w, err, http.StatusServiceUnavailable, "compliance store: ")
}

func (s *Server) refreshCompliance(ctx context.Context, c *Compliance) {
	if c.Live != nil {
		if err := c.Live.Refresh(ctx, c.Store); err != nil {
			s.log.Error("api: compliance refresh", "err", err)
		}
	}
}

type dncRequest struct {
	Number string `json:"number"`
	Tenant string `json:"tenant"`
	Reason string `json:"reason"`
	Source string `json:"source"`
}

func (q *dncRequest) check(w http.ResponseWriter) bool {
	n, ok := e164(q.Number)
	if !ok {
		writeFieldError(w, "number", "want an E.164 number like +12125550100")
		return false
	}
	q.Number = n
	if len(q.Tenant) > 64 || len(q.Reason) > 500 || len(q.Source) > 200 {
		writeFieldError(w, "tenant", "tenant ≤ 64, reason ≤ 500, source ≤ 200 characters")
		return false
	}
	return true
}

// addDNC puts a number on the internal opt-out list.
func (s *Server) addDNC(w http.ResponseWriter, r *http.Request) {
	c, ok := s.compliance(w)
	if !ok {
		return
	}
	var q dncRequest
	if !decode(w, r, &q) || !q.check(w) {
		return
	}
	o, err := c.Store.AddOptOut(r.Context(), compliance.OptOut{Tenant: q.Tenant, Number: q.Number, Reason: q.Reason, Source: q.Source, By: "token:" + principal(r).Name, Time: time.Now().UTC()})
	if err != nil {
		complianceError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "dnc.add", "dnc/"+o.Number, o); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	s.refreshCompliance(r.Context(), c)
	writeJSON(w, http.StatusCreated, o)
}

// removeDNC takes a number off the internal opt-out list (query or body:
// number, tenant).
func (s *Server) removeDNC(w http.ResponseWriter, r *http.Request) {
	c, ok := s.compliance(w)
	if !ok {
		return
	}
	q := dncRequest{Number: r.URL.Query().Get("number"), Tenant: r.URL.Query().Get("tenant")}
	if q.Number == "" && r.ContentLength != 0 {
		if !decode(w, r, &q) {
			return
		}
	}
	if !q.check(w) {
		return
	}
	removed, err := c.Store.RemoveOptOut(r.Context(), q.Tenant, q.Number)
	if err != nil {
		complianceError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "dnc.remove", "dnc/"+q.Number, map[string]any{"tenant": q.Tenant, "removed": removed}); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	s.refreshCompliance(r.Context(), c)
	writeJSON(w, http.StatusOK, map[string]any{"removed": removed})
}

func (s *Server) listConsents(w http.ResponseWriter, r *http.Request) {
	c, ok := s.compliance(w)
	if !ok {
		return
	}
	q := compliance.ConsentQuery{Tenant: r.URL.Query().Get("tenant")}
	if n := r.URL.Query().Get("number"); n != "" {
		var ok bool
		if q.Number, ok = e164(n); !ok {
			writeFieldError(w, "number", "want an E.164 number like +12125550100")
			return
		}
	}
	lim, ok := queryLimit(r)
	if !ok {
		writeFieldError(w, "limit", "want 1–10000")
		return
	}
	q.Limit = lim
	cs, err := c.Store.Consents(r.Context(), q)
	if err != nil {
		complianceError(w, err)
		return
	}
	if cs == nil {
		cs = []compliance.Consent{}
	}
	writeJSON(w, http.StatusOK, cs)
}

type consentRequest struct {
	Tenant  string    `json:"tenant"`
	Number  string    `json:"number"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Time    time.Time `json:"time"`
	Expires time.Time `json:"expires"`
}

func (s *Server) addConsent(w http.ResponseWriter, r *http.Request) {
	c, ok := s.compliance(w)
	if !ok {
		return
	}
	var q consentRequest
	if !decode(w, r, &q) {
		return
	}
	n, ok := e164(q.Number)
	switch {
	case !ok:
		writeFieldError(w, "number", "want an E.164 number like +12125550100")
		return
	case q.Tenant == "" || len(q.Tenant) > 64:
		writeFieldError(w, "tenant", "required, at most 64 characters")
		return
	case q.Type == "" || len(q.Type) > 64:
		writeFieldError(w, "type", "required (e.g. express_written, express, ebr), at most 64 characters")
		return
	case q.Source == "" || len(q.Source) > 500:
		writeFieldError(w, "source", "required: where the consent was captured (form URL, recording id …), at most 500 characters")
		return
	case q.Time.IsZero():
		writeFieldError(w, "time", "required: when the consent was given (RFC 3339)")
		return
	case q.Time.After(time.Now().Add(5 * time.Minute)):
		writeFieldError(w, "time", "consent cannot be given in the future")
		return
	case !q.Expires.IsZero() && !q.Expires.After(q.Time):
		writeFieldError(w, "expires", "must be after time")
		return
	}
	cs, err := c.Store.AddConsent(r.Context(), compliance.Consent{Tenant: q.Tenant, Number: n, Type: q.Type, Source: q.Source, Time: q.Time, Expires: q.Expires, By: "token:" + principal(r).Name})
	if err != nil {
		complianceError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "consent.add", "consent/"+n, cs); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	s.refreshCompliance(r.Context(), c)
	writeJSON(w, http.StatusCreated, cs)
}

func (s *Server) watcher(w http.ResponseWriter) (*quality.Watcher, bool) {
	if s.comp == nil || s.comp.Quality == nil {
		writeError(w, http.StatusServiceUnavailable, "the quality watch is not set up on this node")
		return nil, false
	}
	return s.comp.Quality, true
}

// postQuality takes a quality report for one call from anything that
// neither speaks HEP nor sends vq-rtcpxr.
func (s *Server) postQuality(w http.ResponseWriter, r *http.Request) {
	qw, ok := s.watcher(w)
	if !ok {
		return
	}
	var rep quality.Report
	rep.RTTMS = -1
	if !decode(w, r, &rep) {
		return
	}
	rep.CallID = r.PathValue("call_id")
	if len(rep.CallID) > 256 {
		writeFieldError(w, "call_id", "at most 256 characters")
		return
	}
	if field, err := rep.Validate(); err != nil {
		writeFieldError(w, field, err.Error())
		return
	}
	if rep.Time.IsZero() {
		rep.Time = time.Now().UTC()
	}
	rep.Source = "api"
	rep.Estimated = false
	writeJSON(w, http.StatusAccepted, qw.Add(rep))
}

// getQuality lists aggregates: ?dimension=route|trunk|tenant|destination.
func (s *Server) getQuality(w http.ResponseWriter, r *http.Request) {
	qw, ok := s.watcher(w)
	if !ok {
		return
	}
	dim := r.URL.Query().Get("dimension")
	if dim != "" && dim != "route" && dim != "trunk" && dim != "tenant" && dim != "destination" {
		writeFieldError(w, "dimension", "want route, trunk, tenant or destination")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"thresholds": qw.Thresholds(), "stats": qw.Stats(), "aggregates": qw.Aggregates(dim, time.Now())})
}

func (s *Server) getCallQuality(w http.ResponseWriter, r *http.Request) {
	qw, ok := s.watcher(w)
	if !ok {
		return
	}
	rep, found := qw.Call(r.PathValue("call_id"))
	if !found {
		writeError(w, http.StatusNotFound, "no quality report for this call")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
