package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
)

// ReputationOptions are what the reputation, ban and lockout routes use.
type ReputationOptions struct {
	Store reputation.Store
	Live  *reputation.Live // refreshed after every change made here, unless Decides
	// Decides says Store lays its writes over Live itself as it makes
	// them (reputation.Enforcing, or the server's deciding writer), so
	// no write is followed by a re-read of the whole store.
	Decides bool
	Guard   *attack.Guard        // bans, trusted addresses, auth events
	Events  honeypot.EventStore  // honeypot evidence; nil without one
	Now     func() time.Time     // default time.Now
	Trust   *attack.Trust        // default Guard.Trust()
	TTL     func() time.Duration // feed TTL; nil: reputation.DefaultFeedTTL
}

type repAPI struct {
	s *Server
	o ReputationOptions
}

// EnableReputation adds the reputation database, bans, lockouts,
// attack-event and honeypot routes. Call it before serving.
func (s *Server) EnableReputation(o ReputationOptions) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Trust == nil && o.Guard != nil {
		o.Trust = o.Guard.Trust()
	}
	a := &repAPI{s: s, o: o}
	mux := s.mux
	mux.HandleFunc("GET /v1/reputation", s.auth(RoleRead, a.list))
	mux.HandleFunc("GET /v1/reputation/entry", s.auth(RoleRead, a.entry))
	mux.HandleFunc("POST /v1/reputation", s.auth(RoleAdmin, a.add))
	mux.HandleFunc("DELETE /v1/reputation", s.auth(RoleAdmin, a.remove))
	mux.HandleFunc("POST /v1/reputation/import", s.auth(RoleAdmin, a.importFeed))
	mux.HandleFunc("GET /v1/reputation/export", s.auth(RoleRead, a.exportFeed))
	mux.HandleFunc("GET /v1/bans", s.auth(RoleRead, a.bans))
	mux.HandleFunc("POST /v1/bans", s.auth(RoleAdmin, a.ban))
	mux.HandleFunc("DELETE /v1/bans/{id}", s.auth(RoleAdmin, a.release))
	mux.HandleFunc("GET /v1/bans/export", s.auth(RoleRead, a.exportBans))
	mux.HandleFunc("GET /v1/lockouts", s.auth(RoleRead, a.lockouts))
	// The edge proxy or PBX asks this before it checks a password, with
	// the token it screens with: any role may.
	mux.HandleFunc("GET /v1/lockouts/{kind}/{subject}", s.auth(anyRole, a.lockout))
	mux.HandleFunc("DELETE /v1/lockouts/{kind}/{subject}", s.auth(RoleAdmin, a.releaseLockout))
	mux.HandleFunc("POST /v1/auth-events", s.auth(RoleScreen, a.authEvent))
	mux.HandleFunc("GET /v1/honeypot/events", s.auth(RoleRead, a.events))
	// Read-only lookups in the shape of the SentryPeer honeypot API, so
	// tools written for it can use https://host/v1/honeypot as base URL.
	mux.HandleFunc("GET /v1/honeypot/numbers/{number}", s.auth(RoleRead, a.hpNumber))
	mux.HandleFunc("GET /v1/honeypot/ip-addresses", s.auth(RoleRead, a.hpIPs))
	mux.HandleFunc("GET /v1/honeypot/ip-address/{ip}", s.auth(RoleRead, a.hpIP))
}

func (a *repAPI) refresh(ctx context.Context) {
	if a.o.Live != nil && !a.o.Decides {
		if err := reputation.Refresh(ctx, a.o.Store, a.o.Live, a.o.Now()); err != nil {
			a.s.log.Error("api: refreshing reputation", "err", err)
		}
	}
}

func repError(w http.ResponseWriter, err error) {
	var fe *reputation.FieldError
	var feed *reputation.FeedError
	switch {
	case errors.As(err, &fe):
		fieldError(w, fe.Field, fe.Msg)
	case errors.As(err, &feed):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: feed.Error(), Field: feed.Field})
	default:
		kindError(w, err, http.StatusServiceUnavailable, "reputation store: ")
	}
}

func (a *repAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100000 {
		limit = 1000
	}
	status := q.Get("status")
	switch status {
	case "", reputation.StatusConfirmed, reputation.StatusSuspected:
	default:
		fieldError(w, "status", "want confirmed or suspected")
		return
	}
	es, err := a.o.Store.List(r.Context(), reputation.Query{Kind: q.Get("kind"), Source: q.Get("source"), Status: status, Now: a.o.Now(), Limit: limit})
	if err != nil {
		repError(w, err)
		return
	}
	if es == nil {
		es = []reputation.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

// entry shows one entry with its evidence (kind and value as query
// parameters: numbers carry "+", networks "/").
func (a *repAPI) entry(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("kind") == "" || q.Get("value") == "" {
		fieldError(w, "value", "give kind and value as query parameters")
		return
	}
	e, err := a.o.Store.Get(r.Context(), q.Get("kind"), q.Get("value"))
	if err != nil {
		repError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

type repRequest struct {
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
	Score     *int   `json:"score"`
	ExpiresIn int    `json:"expires_in"` // seconds; 0 = never
}

func (a *repAPI) add(w http.ResponseWriter, r *http.Request) {
	var q repRequest
	if !decode(w, r, &q) {
		return
	}
	now := a.o.Now()
	e := reputation.Entry{Kind: q.Kind, Value: q.Value, Reason: q.Reason, Source: reputation.SourceManual, Score: 100, LastSeen: now}
	if q.Score != nil {
		e.Score = *q.Score
	}
	if q.ExpiresIn < 0 {
		fieldError(w, "expires_in", "want seconds ≥ 0")
		return
	}
	if q.ExpiresIn > 0 {
		e.Expires = now.Add(time.Duration(q.ExpiresIn) * time.Second)
	}
	if err := reputation.Normalize(&e, now); err != nil {
		repError(w, err)
		return
	}
	if e.Kind == reputation.KindIP && a.o.Trust != nil {
		if p, _ := reputation.ParsePrefix(e.Value); a.o.Trust.Overlaps(p) {
			fieldError(w, "value", "covers a trusted address (attack.trusted); trusted addresses never get a bad reputation")
			return
		}
	}
	e, err := a.o.Store.Upsert(r.Context(), e)
	if err != nil {
		repError(w, err)
		return
	}
	if err := a.s.recordAudit(r.Context(), r, "reputation.add", e.Kind+"/"+e.Value, e); err != nil {
		storeError(w, err)
		return
	}
	a.refresh(r.Context())
	writeJSON(w, http.StatusCreated, e)
}

func (a *repAPI) remove(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("kind") == "" || q.Get("value") == "" {
		fieldError(w, "value", "give kind and value as query parameters")
		return
	}
	if err := a.o.Store.Remove(r.Context(), q.Get("kind"), q.Get("value")); err != nil {
		repError(w, err)
		return
	}
	if err := a.s.recordAudit(r.Context(), r, "reputation.remove", q.Get("kind")+"/"+q.Get("value"), nil); err != nil {
		storeError(w, err)
		return
	}
	a.refresh(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

func feedFormat(r *http.Request) string {
	if f := r.URL.Query().Get("format"); f != "" {
		return f
	}
	if strings.Contains(r.Header.Get("Content-Type"), "json") {
		return reputation.FormatJSON
	}
	return reputation.FormatCSV
}

func (a *repAPI) importFeed(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		writeError(w, statusOf(err), "reading the feed: "+err.Error())
		return
	}
	ttl := reputation.DefaultFeedTTL
	if a.o.TTL != nil {
		ttl = a.o.TTL()
	}
	opts := reputation.ImportOptions{Now: a.o.Now(), TTL: ttl}
	if a.o.Trust != nil {
		opts.Trusted = a.o.Trust.Overlaps
	}
	es, skipped, err := reputation.ReadFeed(bytes.NewReader(body), feedFormat(r), opts)
	if err != nil {
		repError(w, err)
		return
	}
	for _, e := range es {
		if _, err := a.o.Store.Upsert(r.Context(), e); err != nil {
			repError(w, err)
			return
		}
	}
	if skipped == nil {
		skipped = []reputation.Skipped{}
	}
	if err := a.s.recordAudit(r.Context(), r, "reputation.import", "feed", map[string]int{"imported": len(es), "skipped": len(skipped)}); err != nil {
		storeError(w, err)
		return
	}
	a.refresh(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"imported": len(es), "skipped": skipped})
}

func (a *repAPI) exportFeed(w http.ResponseWriter, r *http.Request) {
	es, err := a.o.Store.List(r.Context(), reputation.Query{Kind: r.URL.Query().Get("kind"), Now: a.o.Now()})
	if err != nil {
		repError(w, err)
		return
	}
	format := feedFormat(r)
	var b bytes.Buffer
	if err := reputation.WriteFeed(&b, format, es, a.o.Now()); err != nil {
		repError(w, err)
		return
	}
	if format == reputation.FormatJSON {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/csv")
	}
	w.Write(b.Bytes())
}

func (a *repAPI) bans(w http.ResponseWriter, r *http.Request) {
	bs, err := a.o.Store.Bans(r.Context(), a.o.Now(), r.URL.Query().Get("all") == "true")
	if err != nil {
		repError(w, err)
		return
	}
	if bs == nil {
		bs = []reputation.Ban{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bans": bs})
}

type banRequest struct {
	IP        string `json:"ip"`
	Reason    string `json:"reason"`
	ExpiresIn int    `json:"expires_in"` // seconds; 0 = the escalation ladder
}

func (a *repAPI) ban(w http.ResponseWriter, r *http.Request) {
	var q banRequest
	if !decode(w, r, &q) {
		return
	}
	p, err := reputation.ParsePrefix(strings.TrimSpace(q.IP))
	if err != nil {
		fieldError(w, "ip", err.Error())
		return
	}
	if q.ExpiresIn < 0 || q.ExpiresIn > 3650*86400 {
		fieldError(w, "expires_in", "want 0 (the escalation ladder) to 3650 days in seconds")
		return
	}
	if len(q.Reason) > 512 {
		fieldError(w, "reason", "longer than 512 bytes")
		return
	}
	if q.Reason == "" {
		q.Reason = "manual ban"
	}
	if a.o.Guard == nil {
		writeError(w, http.StatusServiceUnavailable, "attack blocking is not running")
		return
	}
	b, err := a.o.Guard.BanPrefix(r.Context(), p, q.Reason, "manual", a.o.Now(), time.Duration(q.ExpiresIn)*time.Second)
	if errors.Is(err, attack.ErrTrusted) {
		fieldError(w, "ip", "covers a trusted address (attack.trusted); trusted addresses are never banned")
		return
	}
	if err != nil {
		repError(w, err)
		return
	}
	if err := a.s.recordAudit(r.Context(), r, "ban.add", "ban/"+strconv.FormatInt(b.ID, 10), b); err != nil {
		storeError(w, err)
		return
	}
	a.refresh(r.Context())
	writeJSON(w, http.StatusCreated, b)
}

func (a *repAPI) release(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fieldError(w, "id", "want a ban id")
		return
	}
	b, err := a.o.Store.ReleaseBan(r.Context(), id)
	if err != nil {
		repError(w, err)
		return
	}
	if a.o.Guard != nil {
		if p, err := reputation.ParsePrefix(b.IP); err == nil && p.IsSingleIP() {
			a.o.Guard.Forget(p.Addr())
		} else if err == nil {
			a.o.Guard.ForgetPrefix(p) // an IPv6 network the guard banned
		}
	}
	if err := a.s.recordAudit(r.Context(), r, "ban.release", "ban/"+strconv.FormatInt(id, 10), b); err != nil {
		storeError(w, err)
		return
	}
	a.refresh(r.Context())
	writeJSON(w, http.StatusOK, b)
}

func (a *repAPI) exportBans(w http.ResponseWriter, r *http.Request) {
	now := a.o.Now()
	bs, err := a.o.Store.Bans(r.Context(), now, false)
	if err != nil {
		repError(w, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = attack.ExportNFT
	}
	var b bytes.Buffer
	if err := attack.WriteBans(&b, format, bs, now); err != nil {
		fieldError(w, "format", "want kamcmd, jsonrpc or nft")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b.Bytes())
}

func (a *repAPI) lockouts(w http.ResponseWriter, r *http.Request) {
	ls, err := a.o.Store.Lockouts(r.Context(), a.o.Now())
	if err != nil {
		repError(w, err)
		return
	}
	if ls == nil {
		ls = []reputation.Lockout{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lockouts": ls})
}

// lockout answers the PBX's question "may this account authenticate?":
// 200 with the lockout when locked, 404 {"locked": false} when not. With
// ?ip= it answers for that source: 404 when the lockout allows it. With
// ?tenant= it answers for the account of that tenant (its own lockout,
// else the one naming no tenant); without, for the lockout naming no
// tenant only.
func (a *repAPI) lockout(w http.ResponseWriter, r *http.Request) {
	var src netip.Addr
	q := r.URL.Query()
	if v := q.Get("ip"); v != "" {
		var err error
		if src, err = netip.ParseAddr(strings.TrimSpace(v)); err != nil {
			fieldError(w, "ip", "want an IP address")
			return
		}
	}
	tenant := q.Get("tenant")
	if !validTenant(tenant) {
		fieldError(w, "tenant", tenantRule)
		return
	}
	ls, err := a.o.Store.Lockouts(r.Context(), a.o.Now())
	if err != nil {
		repError(w, err)
		return
	}
	kind, subject := r.PathValue("kind"), r.PathValue("subject")
	for _, tn := range []string{tenant, ""} {
		for _, l := range ls {
			if l.Kind == kind && l.Tenant == tn && l.Subject == subject && (!src.IsValid() || !l.Allows(src)) {
				writeJSON(w, http.StatusOK, map[string]any{"locked": true, "lockout": l})
				return
			}
		}
		if tn == "" {
			break
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"locked": false})
}

// tenantRule is what validTenant accepts.
const tenantRule = "want a tenant name of at most 64 printable bytes"

// validTenant reports whether s can name a tenant in a lockout ("" names
// none).
func validTenant(s string) bool {
	if len(s) > reputation.MaxTenant {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (a *repAPI) releaseLockout(w http.ResponseWriter, r *http.Request) {
	kind, subject, tenant := r.PathValue("kind"), r.PathValue("subject"), r.URL.Query().Get("tenant")
	if err := a.o.Store.ReleaseLockout(r.Context(), kind, tenant, subject); err != nil {
		repError(w, err)
		return
	}
	target := kind + "/" + subject
	if tenant != "" {
		target += "?tenant=" + tenant
	}
	if err := a.s.recordAudit(r.Context(), r, "lockout.release", target, nil); err != nil {
		storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type authEventRequest struct {
	IP        string `json:"ip"`
	Kind      string `json:"kind"` // auth_failure, unknown_account, acl, no_route, scan, auth_success, voicemail_pin
	Username  string `json:"username"`
	Tenant    string `json:"tenant"` // the account's tenant, when the reporter knows it
	Source    string `json:"source"` // asterisk, freeswitch, kamailio, sipfront, … (default api)
	UserAgent string `json:"user_agent"`
	Time      string `json:"time"`
}

// authEvent lets a PBX, Kamailio or the SIP front end report an attack
// signal; the answer says whether it led to a ban or lockout.
func (a *repAPI) authEvent(w http.ResponseWriter, r *http.Request) {
	var q authEventRequest
	if !decode(w, r, &q) {
		return
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(q.IP))
	if err != nil {
		fieldError(w, "ip", "want an IP address")
		return
	}
	switch q.Kind {
	case attack.KindAuthFailure, attack.KindUnknownAccount, attack.KindACL, attack.KindNoRoute, attack.KindScan,
		attack.KindScannerUA, attack.KindChallenge, attack.KindAuthSuccess, attack.KindVoicemailPIN:
	default:
		fieldError(w, "kind", "want auth_failure, unknown_account, acl, no_route, scan, scanner_ua, auth_challenge, auth_success or voicemail_pin")
		return
	}
	if len(q.Username) > 128 || len(q.UserAgent) > 256 || len(q.Source) > 32 {
		fieldError(w, "username", "username ≤ 128, user_agent ≤ 256, source ≤ 32 bytes")
		return
	}
	if !validTenant(q.Tenant) {
		fieldError(w, "tenant", tenantRule)
		return
	}
	if q.Source == "" {
		q.Source = attack.SourceAPI
	}
	ev := attack.Event{IP: ip, Kind: q.Kind, Username: q.Username, Tenant: q.Tenant, Source: q.Source, UserAgent: q.UserAgent, Time: a.o.Now()}
	if q.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, q.Time)
		if err != nil {
			fieldError(w, "time", "want RFC 3339")
			return
		}
		ev.Time = t
	}
	if a.o.Guard == nil {
		writeError(w, http.StatusServiceUnavailable, "attack blocking is not running")
		return
	}
	out, err := a.o.Guard.Observe(r.Context(), ev)
	if err != nil {
		repError(w, err)
		return
	}
	if out.Ban != nil {
		a.refresh(r.Context())
	}
	writeJSON(w, http.StatusOK, map[string]any{"trusted": out.Trusted, "ban": out.Ban, "lockout": out.Lockout})
}

func (a *repAPI) events(w http.ResponseWriter, r *http.Request) {
	if a.o.Events == nil {
		writeError(w, http.StatusNotFound, "no honeypot events store")
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	evs, err := a.o.Events.Events(r.Context(), honeypot.EventQuery{SourceIP: q.Get("ip"), Kind: q.Get("kind"), Limit: limit})
	if err != nil {
		repError(w, err)
		return
	}
	if evs == nil {
		evs = []honeypot.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (a *repAPI) hpNumber(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("number")
	// Only confirmed numbers: tools reading this API block what it finds,
	// and a suspected number may have been planted by one forged packet.
	if e, err := a.o.Store.Get(r.Context(), reputation.KindNumber, n); err == nil && e.Live(a.o.Now()) && !e.Suspected() {
		writeJSON(w, http.StatusOK, map[string]any{"phone_number_found": strings.TrimPrefix(e.Value, "+")})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "No phone number found"})
}

func (a *repAPI) hpIPs(w http.ResponseWriter, r *http.Request) {
	es, err := a.o.Store.List(r.Context(), reputation.Query{Kind: reputation.KindIP, Now: a.o.Now(), Limit: 100000})
	if err != nil {
		repError(w, err)
		return
	}
	if len(es) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "No bad actors found"})
		return
	}
	type ipJSON struct {
		IP       string    `json:"ip_address"`
		SeenLast time.Time `json:"seen_last"`
		Count    int64     `json:"seen_count"`
	}
	out := make([]ipJSON, len(es))
	for i, e := range es {
		out[i] = ipJSON{e.Value, e.LastSeen, e.Hits}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ip_addresses_total": len(out), "ip_addresses": out})
}

func (a *repAPI) hpIP(w http.ResponseWriter, r *http.Request) {
	ip := r.PathValue("ip")
	if a.o.Live != nil {
		if addr, err := netip.ParseAddr(ip); err == nil {
			if e := a.o.Live.Load().Addr(addr, a.o.Now()); e != nil {
				writeJSON(w, http.StatusOK, map[string]string{"bad_actor_found": addr.Unmap().String()})
				return
			}
		}
	} else if e, err := a.o.Store.Get(r.Context(), reputation.KindIP, ip); err == nil && e.Live(a.o.Now()) {
		writeJSON(w, http.StatusOK, map[string]string{"bad_actor_found": e.Value})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "No bad actor found"})
}
