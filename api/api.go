// Package api serves tollgate's HTTP API under /v1: screening, call
// events, blocks, the kill switch, decisions, alerts, number lookups,
// counters and the audit log, plus /healthz, /metrics and the OpenAPI
// document. Every /v1 route needs a bearer token whose role allows it.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/store"
)

//go:embed openapi.yaml
var openapi []byte

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() []byte { return openapi }

// Role is what a token may do. Roles do not nest: screen may only screen
// and post events; read may only read; operator may read and handle
// incidents (blocks, kill switch, alerts); admin may do everything. The
// console's people map onto them: admin → admin, operator → operator,
// viewer → read.
type Role string

// Roles.
const (
	RoleAdmin    Role = "admin"
	RoleScreen   Role = "screen"
	RoleRead     Role = "read"
	RoleOperator Role = "operator"
)

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role Role
	// Actor is who the audit log names; default "token:" + Name.
	Actor string
	// Expires is when a token stops working (zero: never).
	Expires time.Time
	// Config marks a token from the configuration file, which only an
	// edit of that file revokes.
	Config bool
}

// tokenState is an accepted token and when it was last used.
type tokenState struct {
	p Principal
	// used is the Unix second of the last use: an atomic store at most
	// once a second per token, never a write to the store on the request
	// path; FlushTokenUse hands the changes to the store in one batch.
	used    atomic.Int64
	flushed atomic.Int64 // used as of the last TokenUse
}

func (p Principal) actor() string {
	if p.Actor != "" {
		return p.Actor
	}
	return "token:" + p.Name
}

// Health reports on parts of the process the API does not own.
type Health func() map[string]any

// Server is the HTTP API.
type Server struct {
	eng    *engine.Engine
	st     store.Store
	log    *slog.Logger
	health Health
	comp   *Compliance          // compliance and quality routes (api/compliance.go)
	det    *Detection           // call-pattern analysis (cdr.go); nil = off
	voice  *voiceAPI            // voice biometrics (voice.go); nil = off
	deps   []Dependency         // what /readyz checks besides the store
	reg    *prometheus.Registry // /metrics: the engine, Options.Metrics, Go runtime, process and build_info
	// durable, when set, is waited for before a screening is answered:
	// it returns once the call's decision is in the store (group commit).
	durable func(context.Context) error

	mu     sync.RWMutex
	tokens map[string]*tokenState // hex SHA-256 of the secret → principal and use
	// revoked holds tokens this node revoked in the last minute, so a
	// reload that read the store just before the revocation cannot bring
	// them back.
	revoked map[string]time.Time
	// onTokens is called after a token is revoked (cluster: tell the
	// other nodes to reload at once); may be nil.
	onTokens func()

	mux *http.ServeMux
}

// Options configures New.
type Options struct {
	Engine *engine.Engine
	Store  store.Store
	Logger *slog.Logger
	Health Health
	// Metrics are the node's other collectors, served on /metrics beside
	// the engine's and the Go runtime's; may be nil.
	Metrics prometheus.Collector
	// Compliance serves the DNC, consent and quality routes; may be nil.
	Compliance *Compliance
	// Detection enables POST /v1/cdrs and the detection routes (cdr.go).
	Detection *Detection
	// Dependencies are what the node needs besides its store to screen
	// calls (in cluster mode: Redis); /readyz answers 503 while one fails.
	Dependencies []Dependency
	// TokensChanged is called after a token is revoked through the API,
	// so other nodes sharing the store reload their tokens at once.
	TokensChanged func()
	// Durable, when set, is called after a screening and before its
	// answer: a decision is acknowledged only once it is stored. Its
	// error (a bound ran out) does not hold the answer back; it is
	// counted where Durable is made.
	Durable func(context.Context) error
}

// Dependency is one thing /readyz checks: Check returns nil while it is
// usable. It is called with a deadline of two seconds.
type Dependency struct {
	Name  string
	Check func(context.Context) error
}

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// New returns the API server.
func New(o Options) *Server {
	s := &Server{eng: o.Engine, st: o.Store, log: o.Logger, health: o.Health, tokens: map[string]*tokenState{}, onTokens: o.TokensChanged}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.det = o.Detection
	s.durable = o.Durable
	s.deps = o.Dependencies
	s.reg = newRegistry(o.Engine, o.Metrics, s.log)
	s.comp = o.Compliance
	mux := http.NewServeMux()
	s.cdrRoutes(mux)
	mux.HandleFunc("POST /v1/screen", s.auth(RoleScreen, s.screen))
	mux.HandleFunc("POST /v1/calls/{call_id}/events", s.auth(RoleScreen, s.event))
	mux.HandleFunc("GET /v1/blocks", s.auth(RoleRead, s.listBlocks))
	mux.HandleFunc("POST /v1/blocks", s.auth(RoleOperator, s.addBlock))
	mux.HandleFunc("DELETE /v1/blocks/{id}", s.auth(RoleOperator, s.removeBlock))
	mux.HandleFunc("DELETE /v1/blocks", s.auth(RoleOperator, s.removeBlock))
	mux.HandleFunc("GET /v1/killswitch", s.auth(RoleRead, s.listKill))
	mux.HandleFunc("POST /v1/killswitch", s.auth(RoleOperator, s.setKill))
	mux.HandleFunc("GET /v1/decisions", s.auth(RoleRead, s.decisions))
	mux.HandleFunc("GET /v1/alerts", s.auth(RoleRead, s.alerts))
	mux.HandleFunc("POST /v1/alerts/{id}", s.auth(RoleOperator, s.setAlert))
	mux.HandleFunc("GET /v1/numbers/{number}", s.auth(RoleRead, s.number))
	mux.HandleFunc("GET /v1/counters", s.auth(RoleRead, s.counters))
	mux.HandleFunc("POST /v1/counters/reset", s.auth(RoleAdmin, s.resetCounters))
	mux.HandleFunc("GET /v1/audit", s.auth(RoleAdmin, s.audit))
	mux.HandleFunc("GET /v1/tokens", s.auth(RoleAdmin, s.listTokens))
	mux.HandleFunc("DELETE /v1/tokens/{name}", s.auth(RoleAdmin, s.revokeToken))
	mux.HandleFunc("POST /v1/dnc", s.auth(RoleAdmin, s.addDNC))
	mux.HandleFunc("DELETE /v1/dnc", s.auth(RoleAdmin, s.removeDNC))
	mux.HandleFunc("GET /v1/consents", s.auth(RoleRead, s.listConsents))
	mux.HandleFunc("POST /v1/consents", s.auth(RoleAdmin, s.addConsent))
	mux.HandleFunc("POST /v1/calls/{call_id}/quality", s.auth(RoleScreen, s.postQuality))
	mux.HandleFunc("GET /v1/quality", s.auth(RoleRead, s.getQuality))
	mux.HandleFunc("GET /v1/quality/calls/{call_id}", s.auth(RoleRead, s.getCallQuality))
	mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openapi)
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics)
	s.pprofRoutes(mux)
	// Anything else under /v1 needs a token before it learns that it does
	// not exist (or is not enabled on this node); anything outside /v1 is
	// plainly not found.
	mux.HandleFunc("/v1/", s.auth(anyRole, notFound))
	mux.HandleFunc("/v1", s.auth(anyRole, notFound))
	mux.HandleFunc("/", notFound)
	s.mux = mux
	return s
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+quoteID(strings.ToValidUTF8(r.URL.Path, "?")))
}

var nosniff = []string{"nosniff"}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer is JSON, YAML or metrics text: never let a browser
	// guess it is HTML.
	w.Header()["X-Content-Type-Options"] = nosniff
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			panics.Recovered(panics.API, s.log, v, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// HashToken returns the stored form of a token secret.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// SetTokens replaces the accepted tokens (hash → principal). Use
// recorded for a token that stays is kept.
func (s *Server) SetTokens(ts map[string]Principal) {
	next := make(map[string]*tokenState, len(ts))
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, at := range s.revoked {
		if time.Since(at) > time.Minute {
			delete(s.revoked, h)
		}
	}
	for h, p := range ts {
		if _, gone := s.revoked[h]; gone {
			continue
		}
		st := &tokenState{p: p}
		if old := s.tokens[h]; old != nil && old.p.Name == p.Name {
			st.used.Store(old.used.Load())
			st.flushed.Store(old.flushed.Load())
		}
		next[h] = st
	}
	s.tokens = next
}

// dropToken stops accepting every token named name on this node at once.
func (s *Server) dropToken(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*tokenState, len(s.tokens))
	for h, st := range s.tokens {
		if st.p.Name != name || st.p.Config {
			next[h] = st
			continue
		}
		if s.revoked == nil {
			s.revoked = map[string]time.Time{}
		}
		s.revoked[h] = time.Now()
	}
	s.tokens = next
}

// TokenUse returns, by token name, the last use of every token used since
// the previous call: what the caller should hand to store.TouchTokens.
func (s *Server) TokenUse() map[string]time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out map[string]time.Time
	for _, st := range s.tokens {
		u := st.used.Load()
		if u == 0 || u == st.flushed.Load() {
			continue
		}
		st.flushed.Store(u)
		if out == nil {
			out = map[string]time.Time{}
		}
		if t := time.Unix(u, 0).UTC(); t.After(out[st.p.Name]) {
			out[st.p.Name] = t
		}
	}
	return out
}

// anyRole, as the need of a route, lets any valid token in.
const anyRole Role = "*"

func allowed(have, need Role) bool {
	if need == anyRole {
		return have != ""
	}
	switch have {
	case RoleAdmin:
		return true
	case RoleScreen:
		return need == RoleScreen
	case RoleRead:
		return need == RoleRead
	case RoleOperator:
		return need == RoleOperator || need == RoleRead
	}
	return false
}

type ctxKey struct{}

// asKey marks a request already authenticated by someone else (the
// console's session login).
type asKey struct{}

// AsPrincipal returns r marked as already authenticated as p: the API's
// routes then skip the bearer token and check p's role as they would a
// token's. Only code in this process can set it (the operator console
// after its own session and CSRF checks).
func AsPrincipal(r *http.Request, p Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), asKey{}, p))
}

func principal(r *http.Request) Principal {
	p, _ := r.Context().Value(ctxKey{}).(Principal)
	return p
}

// auth wraps a handler with bearer-token authentication and a role check:
// the caller's role must allow one of needs. Once the caller is known,
// the path and query are checked for NUL, invalid UTF-8 and control
// characters in identifiers (text.go).
func (s *Server) auth(need Role, h http.HandlerFunc, more ...Role) http.HandlerFunc {
	needs := append([]Role{need}, more...)
	want := string(need)
	for _, m := range more {
		want += " or " + string(m)
	}
	permitted := func(have Role) bool {
		for _, n := range needs {
			if allowed(have, n) {
				return true
			}
		}
		return false
	}
	serve := func(w http.ResponseWriter, r *http.Request, p Principal) {
		if field, msg := requestTextProblem(r); msg != "" {
			fieldError(w, field, msg)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if p, isAs := r.Context().Value(asKey{}).(Principal); isAs {
			if !permitted(p.Role) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("%s has role %s; this needs %s", p.actor(), p.Role, want))
				return
			}
			serve(w, r, p)
			return
		}
		hdr := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(hdr, "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		s.mu.RLock()
		st := s.tokens[HashToken(strings.TrimSpace(secret))]
		s.mu.RUnlock()
		if st == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unknown or revoked token")
			return
		}
		now := time.Now()
		if !st.p.Expires.IsZero() && !now.Before(st.p.Expires) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "token expired")
			return
		}
		if sec := now.Unix(); st.used.Load() < sec {
			st.used.Store(sec)
		}
		p := st.p
		if !permitted(p.Role) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q has role %s; this needs %s", p.Name, p.Role, want))
			return
		}
		serve(w, r, p)
	}
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads one JSON value of at most MaxBody bytes into v, refusing
// unknown fields and trailing data.
// Strings holding NUL or invalid UTF-8, and identifiers holding control
// characters, are refused naming the field (text.go).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	// The body must be JSON whatever Content-Type says: curl -d sends
	// application/x-www-form-urlencoded, and operators use curl.
	b := bodyPool.Get().(*body)
	defer b.put()
	if _, err := b.buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBody)); err != nil {
		writeError(w, statusOf(err), "bad JSON: "+jsonError(err))
		return false
	}
	raw := b.buf.Bytes()
	if suspectJSON(raw) {
		if field, msg := jsonTextProblem(raw, !utf8.Valid(raw)); msg != "" {
			fieldError(w, field, msg)
			return false
		}
	}
	b.rd.Reset(raw)
	dec := json.NewDecoder(&b.rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, statusOf(err), "bad JSON: "+jsonError(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad JSON: more than one value in the body")
		return false
	}
	return true
}

// body is decode's reusable buffer and reader.
type body struct {
	buf bytes.Buffer
	rd  bytes.Reader
}

func (b *body) put() {
	if b.buf.Cap() > 64<<10 {
		return // a rare large body: let it go
	}
	b.buf.Reset()
	b.rd.Reset(nil)
	bodyPool.Put(b)
}

var bodyPool = sync.Pool{New: func() any { return new(body) }}

func statusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return fmt.Sprintf("body larger than %d bytes", mbe.Limit)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want %s, got %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated body"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// kindError answers err with the status of its kind; an error without a
// kind is answered with fallback and the message prefixed by what failed.
func kindError(w http.ResponseWriter, err error, fallback int, prefix string) {
	if code, ok := errkind.HTTPStatus(err); ok {
		writeError(w, code, err.Error())
		return
	}
	writeError(w, fallback, prefix+err.Error())
}

// engineError answers an engine error (unknown call 404, invalid request
// or unknown tenant 400, else 500).
func engineError(w http.ResponseWriter, err error) {
	kindError(w, err, http.StatusInternalServerError, "")
}

// storeError answers a store error (404, 400, else 503: the store is away).
func storeError(w http.ResponseWriter, err error) {
	kindError(w, err, http.StatusServiceUnavailable, "store: ")
}

// refresh rebuilds the block snapshot after a change.
func (s *Server) refresh(ctx context.Context) error {
	return blocks.Refresh(ctx, s.st, s.eng.Blocks(), time.Now())
}

// audit records a change made through the API.
func (s *Server) recordAudit(ctx context.Context, r *http.Request, action, object string, details any) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = s.st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: principal(r).actor(), Action: action, Object: object, Details: raw})
	return err
}
