package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/store"
)

type eventRequest struct {
	Type     string `json:"type"`
	Time     string `json:"time"`
	Duration *int   `json:"duration_s"`
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	var q eventRequest
	wait, ok := waitParam(w, r)
	if !ok {
		return
	}
	if !decode(w, r, &q) {
		return
	}
	ev := engine.Event{CallID: r.PathValue("call_id"), Type: q.Type, Duration: q.Duration}
	if q.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, q.Time)
		if err != nil {
			fieldError(w, "time", "want RFC 3339, e.g. 2026-11-23T15:04:05Z")
			return
		}
		ev.Time = t
	}
	res, err := s.eng.Event(r.Context(), ev)
	if err != nil {
		engineError(w, err)
		return
	}
	if wait {
		s.settle(w, r) // the disconnect list below then includes what this event caused
	}
	if ends := s.ends(); ends != nil {
		if res.Type != "answer" {
			ends.Ended(res.CallID)
		} else if at, ok := ends.Timer(res.CallID); ok {
			// The detectors' dialog timer (action.CallTimer): the call
			// is judged then even if no other event moves time on.
			if ev.Time.IsZero() {
				ev.Time = s.eng.Clock().Now()
			}
			if m := int(math.Ceil(at.Sub(ev.Time).Seconds())); m > 0 && (res.MaxDuration == 0 || m < res.MaxDuration) {
				res.MaxDuration = m
			}
		}
		// Calls the detectors asked to end ride on every answer: a proxy
		// or PBX driving events ends them (the event stream says the same).
		writeJSON(w, http.StatusOK, struct {
			engine.EventResult
			Disconnect []string `json:"disconnect,omitempty"`
		}{res, ends.Pending()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type blockRequest struct {
	Tenant    string `json:"tenant"`
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	Scope     string `json:"scope"`
	Reason    string `json:"reason"`
	Expires   string `json:"expires"`    // RFC 3339
	ExpiresIn int    `json:"expires_in"` // seconds
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	bs, err := s.st.ListBlocks(r.Context(), s.eng.Blocks().ListTime(time.Now()))
	if err != nil {
		storeError(w, err)
		return
	}
	tenant := r.URL.Query().Get("tenant")
	out := make([]store.Block, 0, len(bs))
	for _, b := range bs {
		if tenant == "" || b.Tenant == tenant || b.Tenant == "" {
			out = append(out, b)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocks": out})
}

// normalizeBlock checks a block request and puts its value in canonical form.
func (s *Server) normalizeBlock(q *blockRequest) (store.Block, string, string) {
	b := store.Block{Tenant: q.Tenant, Kind: q.Kind, Scope: q.Scope, Reason: q.Reason, Source: "manual"}
	if len(q.Reason) > 512 {
		return b, "reason", "longer than 512 bytes"
	}
	if q.Tenant != "" {
		if _, err := s.eng.Tenant(q.Tenant); err != nil {
			return b, "tenant", err.Error()
		}
	}
	v := strings.TrimSpace(q.Value)
	switch q.Kind {
	case store.BlockNumber:
		info, err := s.eng.Lookup(v, q.Tenant)
		if err != nil || info.E164 == "" || info.E164[0] != '+' {
			return b, "value", "not a phone number"
		}
		v = info.E164
	case store.BlockPrefix:
		v = strings.TrimPrefix(v, "+")
		if v == "" || len(v) > 15 || strings.Trim(v, "0123456789") != "" {
			return b, "value", "want an E.164 prefix of 1–15 digits"
		}
	case store.BlockExtension:
		if v == "" || len(v) > 64 {
			return b, "value", "want an extension of 1–64 characters"
		}
		if q.Tenant == "" {
			return b, "tenant", "required for extension blocks"
		}
	case store.BlockIP:
		if p, err := netip.ParsePrefix(v); err == nil {
			v = p.Masked().String()
		} else if a, err := netip.ParseAddr(v); err == nil {
			v = a.Unmap().String()
		} else {
			return b, "value", "want an IP address or CIDR prefix"
		}
	default:
		return b, "kind", "want number, prefix, extension or ip"
	}
	switch q.Scope {
	case "", "all", "international", "costly":
	default:
		return b, "scope", "want all, international or costly"
	}
	b.Value = v
	switch {
	case q.Expires != "" && q.ExpiresIn != 0:
		return b, "expires", "give expires or expires_in, not both"
	case q.Expires != "":
		t, err := time.Parse(time.RFC3339, q.Expires)
		if err != nil {
			return b, "expires", "want RFC 3339"
		}
		if !t.After(time.Now()) {
			return b, "expires", "is in the past"
		}
		b.Expires = t.UTC()
	case q.ExpiresIn < 0:
		return b, "expires_in", "must be positive"
	case q.ExpiresIn > 0:
		b.Expires = time.Now().Add(time.Duration(q.ExpiresIn) * time.Second).UTC()
	}
	return b, "", ""
}

func (s *Server) addBlock(w http.ResponseWriter, r *http.Request) {
	var q blockRequest
	if !decode(w, r, &q) {
		return
	}
	b, field, msg := s.normalizeBlock(&q)
	if field != "" {
		fieldError(w, field, msg)
		return
	}
	b.CreatedBy = principal(r).actor()
	b.Created = time.Now().UTC()
	b, err := s.eng.Blocks().AddBlock(r.Context(), s.st, b) // enforced before the commit
	if err != nil {
		storeError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "block.add", fmt.Sprintf("block/%d", b.ID), b); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	if err := s.refresh(r.Context()); err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, b)
}

func (s *Server) removeBlock(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	if raw == "" {
		raw = r.URL.Query().Get("id")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		fieldError(w, "id", "want a block id")
		return
	}
	b, err := s.st.RemoveBlock(r.Context(), id)
	if err != nil {
		storeError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "block.remove", fmt.Sprintf("block/%d", id), b); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	if err := s.refresh(r.Context()); err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

type killRequest struct {
	Tenant string `json:"tenant"` // "*" or "" = every tenant
	Active *bool  `json:"active"`
	Reason string `json:"reason"`
}

func (s *Server) listKill(w http.ResponseWriter, r *http.Request) {
	ks, err := s.st.KillSwitches(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kill_switches": ks})
}

func (s *Server) setKill(w http.ResponseWriter, r *http.Request) {
	var q killRequest
	if !decode(w, r, &q) {
		return
	}
	if q.Active == nil {
		fieldError(w, "active", "required (true or false)")
		return
	}
	if q.Tenant == "" {
		q.Tenant = "*"
	}
	if q.Tenant != "*" {
		if _, err := s.eng.Tenant(q.Tenant); err != nil {
			fieldError(w, "tenant", err.Error())
			return
		}
	}
	if len(q.Reason) > 512 {
		fieldError(w, "reason", "longer than 512 bytes")
		return
	}
	k := store.KillSwitch{Tenant: q.Tenant, Active: *q.Active, Reason: q.Reason, By: principal(r).actor(), Since: time.Now().UTC()}
	if err := s.eng.Blocks().SetKillSwitch(r.Context(), s.st, k); err != nil { // on: enforced before the commit
		storeError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "killswitch.set", "killswitch/"+k.Tenant, k); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	if err := s.refresh(r.Context()); err != nil {
		storeError(w, err)
		return
	}
	s.log.Warn("kill switch changed", "tenant", k.Tenant, "active", k.Active, "by", k.By, "reason", k.Reason)
	writeJSON(w, http.StatusOK, k)
}

func queryTime(r *http.Request, name string) (time.Time, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

func queryLimit(r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 100, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0 && n <= 10000
}

func (s *Server) decisions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dq := store.DecisionQuery{CallID: q.Get("call_id"), Tenant: q.Get("tenant"), Extension: q.Get("extension"), Number: q.Get("number"), Action: q.Get("action")}
	var ok bool
	if dq.From, ok = queryTime(r, "from"); !ok {
		fieldError(w, "from", "want RFC 3339")
		return
	}
	if dq.To, ok = queryTime(r, "to"); !ok {
		fieldError(w, "to", "want RFC 3339")
		return
	}
	if dq.Limit, ok = queryLimit(r); !ok {
		fieldError(w, "limit", "want 1–10000")
		return
	}
	if dq.Number != "" {
		if info, err := s.eng.Lookup(dq.Number, dq.Tenant); err == nil && info.E164 != "" {
			dq.Number = info.E164
		}
	}
	ds, err := s.st.QueryDecisions(r.Context(), dq)
	if err != nil {
		storeError(w, err)
		return
	}
	if ds == nil {
		ds = []store.Decision{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": s.withVoice(r.Context(), ds)})
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := store.AlertQuery{Tenant: q.Get("tenant"), Status: q.Get("status")}
	var ok bool
	if aq.Since, ok = queryTime(r, "since"); !ok {
		fieldError(w, "since", "want RFC 3339")
		return
	}
	if aq.Limit, ok = queryLimit(r); !ok {
		fieldError(w, "limit", "want 1–10000")
		return
	}
	as, err := s.st.ListAlerts(r.Context(), aq)
	if err != nil {
		storeError(w, err)
		return
	}
	if as == nil {
		as = []store.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
}

func (s *Server) setAlert(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		fieldError(w, "id", "want an alert id")
		return
	}
	var q struct {
		Status string `json:"status"`
	}
	if !decode(w, r, &q) {
		return
	}
	if q.Status != "acknowledged" && q.Status != "resolved" && q.Status != "open" {
		fieldError(w, "status", "want open, acknowledged or resolved")
		return
	}
	if err := s.st.SetAlertStatus(r.Context(), id, q.Status); err != nil {
		storeError(w, err)
		return
	}
	if s.det != nil && s.det.AlertStatus != nil {
		s.det.AlertStatus(id, q.Status)
	}
	if err := s.recordAudit(r.Context(), r, "alert."+q.Status, fmt.Sprintf("alert/%d", id), q); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": q.Status})
}

func (s *Server) number(w http.ResponseWriter, r *http.Request) {
	info, err := s.eng.Lookup(r.PathValue("number"), r.URL.Query().Get("tenant"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(AppendInfo(nil, &info), '\n'))
}

func (s *Server) counters(w http.ResponseWriter, r *http.Request) {
	m, ok := s.eng.Counters().(interface {
		List(counter.Scope, string, string, time.Time) []counter.Snapshot
	})
	if !ok {
		writeError(w, http.StatusNotImplemented, "this counter store cannot list counters")
		return
	}
	q := r.URL.Query()
	var scope counter.Scope
	if v := q.Get("scope"); v != "" {
		if scope, ok = counter.ParseScope(v); !ok {
			fieldError(w, "scope", "unknown counter scope")
			return
		}
	}
	out := m.List(scope, q.Get("tenant"), q.Get("subject"), time.Now())
	if out == nil {
		out = []counter.Snapshot{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"counters": out, "live_calls": s.eng.LiveCalls()})
}

func (s *Server) resetCounters(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Scope   string `json:"scope"`
		Tenant  string `json:"tenant"`
		Subject string `json:"subject"`
	}
	if !decode(w, r, &q) {
		return
	}
	if q.Scope == "" && q.Tenant == "" && q.Subject == "" {
		fieldError(w, "scope", "say which counters: scope, tenant and/or subject")
		return
	}
	n, err := s.eng.ResetCounters(q.Scope, q.Tenant, q.Subject)
	if err != nil {
		engineError(w, err)
		return
	}
	if err := s.recordAudit(r.Context(), r, "counters.reset", "counters", q); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"reset": n})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	since, ok := queryTime(r, "since")
	if !ok {
		fieldError(w, "since", "want RFC 3339")
		return
	}
	limit, ok := queryLimit(r)
	if !ok {
		fieldError(w, "limit", "want 1–10000")
		return
	}
	es, err := s.st.ListAudit(r.Context(), since, limit)
	if err != nil {
		storeError(w, err)
		return
	}
	verr := s.st.VerifyAudit(r.Context())
	out := map[string]any{"entries": es, "chain_ok": verr == nil}
	if verr != nil {
		out["chain_error"] = verr.Error()
	}
	if es == nil {
		out["entries"] = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"status": "ok", "in_flight": s.eng.InFlight(), "live_calls": s.eng.LiveCalls(),
		"blocks": s.eng.Blocks().Load().Len(), "state_age_s": s.eng.Blocks().Age(time.Now()).Seconds()}
	code := http.StatusOK
	if s.health != nil {
		for k, v := range s.health() {
			out[k] = v
		}
		if st, _ := out["status"].(string); st != "ok" {
			code = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, out)
}

// readyz reports whether this node should get traffic: the store answers
// and the block snapshot is fresh (within server.state_max_age_s when set,
// else 10 s). /healthz says the process is alive; this says it can decide.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := map[string]any{"status": "ready"}
	code := http.StatusOK
	if _, err := s.st.KillSwitches(ctx); err != nil {
		out["status"], out["store"], code = "not ready", err.Error(), http.StatusServiceUnavailable
	}
	maxAge := s.eng.Config().Server.StateMaxAge.Duration()
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	age := s.eng.Blocks().Age(time.Now())
	out["state_age_s"] = age.Seconds()
	if age > maxAge {
		out["status"], out["state"], code = "not ready", "block snapshot older than "+maxAge.String(), http.StatusServiceUnavailable
	}
	if len(s.deps) > 0 {
		deps := map[string]string{}
		for _, d := range s.deps {
			if err := d.Check(ctx); err != nil {
				deps[d.Name] = err.Error()
				out["status"], code = "not ready", http.StatusServiceUnavailable
			} else {
				deps[d.Name] = "ok"
			}
		}
		out["dependencies"] = deps
	}
	writeJSON(w, code, out)
}

var _ = json.Marshal
