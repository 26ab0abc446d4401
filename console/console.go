// Package console serves the operator console: a dashboard of live
// screening, alerts, blocks, the kill switch, per-extension timelines,
// decision search, the audit log and users, for people who log in with a
// password and a TOTP code. Its assets are embedded, so it works offline.
//
// The console reads what it shows straight from the store (scoped to the
// user's tenant) and makes every change through the HTTP API's own
// handlers, with the user as principal (api.AsPrincipal): one set of
// validation rules, one audit trail. Roles map onto API roles: admin →
// admin, operator → operator, viewer → read.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/store"
)

//go:embed assets
var assets embed.FS

// CookieName is the session cookie.
const CookieName = "tollgate_session"

// Options configures New.
type Options struct {
	API    *api.Server
	Engine *engine.Engine
	Store  store.Store
	Auth   *auth.Service
	Live   *Live
	Config config.Console
	Logger *slog.Logger
}

// Console is the operator console's HTTP handler.
type Console struct {
	o      Options
	log    *slog.Logger
	mux    *http.ServeMux
	static http.Handler

	ctx    context.Context // ends event streams on Close
	cancel context.CancelFunc

	logins  [3]atomic.Int64 // ok, failed (wrong, unknown or locked: one answer), throttled (per-source limit)
	streams atomic.Int64
	closeMu sync.Once
}

// New returns the console.
func New(o Options) *Console {
	c := &Console{o: o, log: o.Logger, mux: http.NewServeMux()}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	sub, _ := fs.Sub(assets, "assets")
	c.static = http.StripPrefix("/ui/static/", http.FileServerFS(sub))
	m := c.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	m.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	m.HandleFunc("GET /ui/{$}", c.index)
	m.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		c.static.ServeHTTP(w, r)
	})
	m.HandleFunc("POST /ui/login", c.login)
	m.HandleFunc("POST /ui/logout", c.session(auth.RoleViewer, c.logout))
	m.HandleFunc("GET /ui/api/me", c.session(auth.RoleViewer, c.me))
	m.HandleFunc("GET /ui/api/live", c.session(auth.RoleViewer, c.liveJSON))
	m.HandleFunc("GET /ui/events", c.session(auth.RoleViewer, c.events))
	m.HandleFunc("GET /ui/api/killswitch", c.session(auth.RoleViewer, c.killSwitches))
	m.HandleFunc("GET /ui/api/timeline", c.session(auth.RoleViewer, c.timeline))
	m.HandleFunc("GET /ui/api/mfa/new", c.session(auth.RoleViewer, c.mfaNew))
	m.HandleFunc("POST /ui/api/mfa", c.session(auth.RoleViewer, c.mfaSet))
	m.HandleFunc("GET /ui/api/users", c.session(auth.RoleAdmin, c.users))
	m.HandleFunc("POST /ui/api/users", c.session(auth.RoleAdmin, c.addUser))
	m.HandleFunc("DELETE /ui/api/users/{name}", c.session(auth.RoleAdmin, c.deleteUser))
	// Through to the API, scoped to the user's tenant.
	m.HandleFunc("GET /ui/api/v1/decisions", c.session(auth.RoleViewer, c.forward(scopeQuery)))
	m.HandleFunc("GET /ui/api/v1/alerts", c.session(auth.RoleViewer, c.forward(scopeQuery)))
	m.HandleFunc("GET /ui/api/v1/blocks", c.session(auth.RoleViewer, c.forward(scopeQuery)))
	m.HandleFunc("GET /ui/api/v1/numbers/{number}", c.session(auth.RoleViewer, c.forward(nil)))
	m.HandleFunc("GET /ui/api/v1/audit", c.session(auth.RoleAdmin, c.forward(unscopedOnly)))
	m.HandleFunc("GET /ui/api/v1/tokens", c.session(auth.RoleAdmin, c.forward(unscopedOnly)))
	m.HandleFunc("DELETE /ui/api/v1/tokens/{name}", c.session(auth.RoleAdmin, c.forward(unscopedOnly)))
	m.HandleFunc("POST /ui/api/v1/blocks", c.session(auth.RoleOperator, c.forward(scopeBody)))
	m.HandleFunc("DELETE /ui/api/v1/blocks/{id}", c.session(auth.RoleOperator, c.forward(c.scopeBlock)))
	m.HandleFunc("POST /ui/api/v1/killswitch", c.session(auth.RoleOperator, c.forward(scopeBody)))
	m.HandleFunc("POST /ui/api/v1/alerts/{id}", c.session(auth.RoleOperator, c.forward(c.scopeAlert)))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such page: "+r.Method+" "+r.URL.Path)
	})
	return c
}

// Mount returns a handler that serves the console at / and /ui/ and hands
// every other path (/v1, /healthz, /readyz, /metrics) to next.
func Mount(next http.Handler, c *Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			panics.Recovered(panics.Console, c.log, v, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	c.mux.ServeHTTP(w, r)
}

// Close ends the event streams (http.Server.Shutdown waits for them).
func (c *Console) Close() { c.closeMu.Do(c.cancel) }

// Metrics returns the console's metrics as a collector.
func (c *Console) Metrics() prometheus.Collector {
	set := metrics.Set{
		metrics.Counter("tollgate_console_logins_total", "Console logins by outcome.", []string{"outcome"}, func(emit metrics.Emit) {
			for i, o := range []string{"ok", "failed", "throttled"} {
				emit(float64(c.logins[i].Load()), o)
			}
		}),
		metrics.Gauge("tollgate_console_event_streams", "Open live-update streams.", nil, metrics.Value(func() float64 { return float64(c.streams.Load()) })),
	}
	if c.o.Live != nil {
		set = append(set,
			metrics.Counter("tollgate_console_live_dropped_total", "Decisions the live view did not count because its queue was full.", nil, metrics.Value(func() float64 { return float64(c.o.Live.Dropped()) })),
			metrics.Gauge("tollgate_console_live_queued", "Decisions waiting to be counted by the live view.", nil, metrics.Value(func() float64 { return float64(c.o.Live.Queued()) })))
	}
	return set
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "console assets missing")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// secure reports whether the session cookie gets the Secure attribute.
// Browsers accept Secure cookies from http://localhost and 127.0.0.1, so
// auto only leaves it off for plain HTTP to a non-loopback address.
func (c *Console) secure(r *http.Request) bool {
	switch c.o.Config.CookieSecure {
	case "always":
		return true
	case "never":
		return false
	}
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// sameOrigin refuses cross-site requests: a present Origin header must
// name this host. (SameSite=Strict and the CSRF token do the rest.)
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// clientIP is the address a login is counted against: the peer, or,
// when the peer is a trusted proxy (console.trusted_proxies), the
// right-most X-Forwarded-For entry that is not one (entries left of it
// are the client's to forge).
func (c *Console) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !c.trusted(host) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := strings.TrimSpace(parts[j])
			if _, err := netip.ParseAddr(a); err != nil {
				return host // garbage: count it against the proxy
			}
			if !c.trusted(a) {
				return a
			}
		}
	}
	return host
}

func (c *Console) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.o.Config.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	var q loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "want JSON {user, password, code}")
		return
	}
	cookie, sess, u, err := c.o.Auth.Login(r.Context(), q.User, q.Password, q.Code, c.clientIP(r))
	switch {
	case errors.Is(err, auth.ErrThrottled):
		c.logins[2].Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(int(c.o.Auth.Policy.SourceWindow/time.Second)))
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, auth.ErrBadLogin), errors.Is(err, auth.ErrNoMFA):
		c.logins[1].Add(1)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		c.log.Error("console: login", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot log in now")
		return
	}
	c.logins[0].Add(1)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: cookie, Path: "/", HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: int(c.o.Auth.Policy.MaxAge / time.Second)})
	writeJSON(w, http.StatusOK, me(sess, u))
}

type ctxKey struct{}

type who struct {
	sess auth.Session
	user auth.User
}

func current(r *http.Request) who { w, _ := r.Context().Value(ctxKey{}).(who); return w }

// session wraps a handler: a valid session cookie, the role, and for
// anything but GET the CSRF token and same origin.
func (c *Console) session(need auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(CookieName)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		sess, u, err := c.o.Auth.Authenticate(r.Context(), ck.Value)
		if err != nil {
			if !errors.Is(err, auth.ErrNotFound) {
				c.log.Error("console: session", "err", err)
			}
			writeError(w, http.StatusUnauthorized, "session expired; log in again")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) || !constantEq(r.Header.Get("X-CSRF-Token"), sess.CSRF) {
				writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		if !u.Role.Can(need) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("your role %s may not do this (needs %s)", u.Role, need))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, who{sess, u})))
	}
}

func constantEq(a, b string) bool {
	if len(a) != len(b) || a == "" {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

func me(sess auth.Session, u auth.User) map[string]any {
	return map[string]any{"user": u.Name, "role": u.Role, "tenant": u.Tenant, "csrf": sess.CSRF, "mfa": u.MFA(),
		"can_operate": u.Role.Can(auth.RoleOperator), "can_admin": u.Role.Can(auth.RoleAdmin) && u.Tenant == ""}
}

func (c *Console) me(w http.ResponseWriter, r *http.Request) {
	x := current(r)
	writeJSON(w, http.StatusOK, me(x.sess, x.user))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.o.Auth.Logout(r.Context(), current(r).sess); err != nil {
		c.log.Error("console: logout", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// apiRole maps a console role onto the API's.
func apiRole(r auth.Role) api.Role {
	switch r {
	case auth.RoleAdmin:
		return api.RoleAdmin
	case auth.RoleOperator:
		return api.RoleOperator
	}
	return api.RoleRead
}

// scoper checks or rewrites a request for the user's tenant before it
// goes to the API; it writes the error and returns false to stop.
type scoper func(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool)

func scopeQuery(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool) {
	if u.Tenant == "" {
		return r, true
	}
	q := r.URL.Query()
	if t := q.Get("tenant"); t != "" && t != u.Tenant {
		writeError(w, http.StatusForbidden, "you may see only tenant "+u.Tenant)
		return nil, false
	}
	q.Set("tenant", u.Tenant)
	r.URL.RawQuery = q.Encode()
	return r, true
}

func unscopedOnly(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool) {
	if u.Tenant != "" {
		writeError(w, http.StatusForbidden, "only users of every tenant may do this")
		return nil, false
	}
	return r, true
}

// scopeBody pins the JSON body's tenant to the user's.
func scopeBody(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool) {
	if u.Tenant == "" {
		return r, true
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return nil, false
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return nil, false
	}
	switch t := body["tenant"].(type) {
	case nil:
		body["tenant"] = u.Tenant
	case string:
		if t != u.Tenant {
			writeError(w, http.StatusForbidden, "you may change only tenant "+u.Tenant)
			return nil, false
		}
	default:
		writeError(w, http.StatusBadRequest, "tenant: want a string")
		return nil, false
	}
	raw, _ = json.Marshal(body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	return r, true
}

func (c *Console) scopeBlock(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool) {
	if u.Tenant == "" {
		return r, true
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	bs, err := c.o.Store.ListBlocks(r.Context(), time.Now())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return nil, false
	}
	for _, b := range bs {
		if b.ID == id {
			if b.Tenant != u.Tenant {
				writeError(w, http.StatusForbidden, "you may release only blocks of tenant "+u.Tenant)
				return nil, false
			}
			return r, true
		}
	}
	writeError(w, http.StatusNotFound, "no such block")
	return nil, false
}

func (c *Console) scopeAlert(w http.ResponseWriter, r *http.Request, u auth.User) (*http.Request, bool) {
	if u.Tenant == "" {
		return r, true
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	as, err := c.o.Store.ListAlerts(r.Context(), store.AlertQuery{Tenant: u.Tenant, Limit: 10000})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return nil, false
	}
	for _, a := range as {
		if a.ID == id {
			return r, true
		}
	}
	writeError(w, http.StatusNotFound, "no such alert")
	return nil, false
}

// forward runs the API route under /ui/api/v1/… as the logged-in user.
func (c *Console) forward(scope scoper) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := current(r).user
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui/api")
		r2.URL.RawPath = ""
		r2.Header.Del("Authorization")
		if scope != nil {
			var ok bool
			if r2, ok = scope(w, r2, u); !ok {
				return
			}
		}
		p := api.Principal{Name: u.Name, Role: apiRole(u.Role), Actor: "user:" + u.Name}
		c.o.API.ServeHTTP(w, api.AsPrincipal(r2, p))
	}
}

func (c *Console) killSwitches(w http.ResponseWriter, r *http.Request) {
	ks, err := c.visibleKills(r.Context(), current(r).user)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kill_switches": ks})
}

func (c *Console) visibleKills(ctx context.Context, u auth.User) ([]store.KillSwitch, error) {
	ks, err := c.o.Store.KillSwitches(ctx)
	out := []store.KillSwitch{}
	for _, k := range ks {
		if u.Tenant == "" || k.Tenant == u.Tenant || k.Tenant == "*" {
			out = append(out, k)
		}
	}
	return out, err
}
