package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// fuzzRoutes are the routes that decode a body or path value, with a
// well-formed body each as a seed.
var fuzzRoutes = []struct{ method, path, seed string }{
	{"POST", "/v1/screen", `{"call_id":"a","tenant":"acme","extension":"1001","callee":"+12125550100"}`},
	{"POST", "/v1/calls/c1/events", `{"type":"answer","time":"2026-11-23T03:00:00Z"}`},
	{"POST", "/v1/blocks", `{"kind":"extension","tenant":"acme","value":"1001","reason":"x","ttl_s":60}`},
	{"DELETE", "/v1/blocks/1", ``},
	{"DELETE", "/v1/blocks?kind=extension&value=1001", ``},
	{"POST", "/v1/killswitch", `{"scope":"tenant","tenant":"acme","on":true}`},
	{"POST", "/v1/alerts/1", `{"status":"closed"}`},
	{"POST", "/v1/counters/reset", `{"tenant":"acme","extension":"1001"}`},
	{"POST", "/v1/dnc", `{"number":"+12125550100"}`},
	{"DELETE", "/v1/dnc?number=%2B12125550100", ``},
	{"POST", "/v1/consents", `{"number":"+12125550100","tenant":"acme"}`},
	{"POST", "/v1/calls/c1/quality", `{"loss_pct":1,"jitter_ms":2,"rtt_ms":3,"mos":4}`},
	{"POST", "/v1/reputation", `{"kind":"number","value":"+12125550100","reason":"x"}`},
	{"DELETE", "/v1/reputation?kind=number&value=%2B12125550100", ``},
	{"POST", "/v1/reputation/import", `{"format":"sentrypeer","data":[]}`},
	{"POST", "/v1/bans", `{"ip":"192.0.2.1","reason":"x","ttl_s":60}`},
	{"DELETE", "/v1/bans/1", ``},
	{"DELETE", "/v1/lockouts/user/x", ``},
	{"POST", "/v1/auth-events", `{"ip":"192.0.2.1","username":"x","outcome":"failure"}`},
	{"GET", "/v1/decisions?since=2026-11-23T00:00:00Z&limit=5", ``},
	{"GET", "/v1/numbers/%2B12125550100", ``},
	{"GET", "/v1/audit?limit=3", ``},
	{"DELETE", "/v1/tokens/pbx-1", ``},
	{"GET", "/v1/reputation/entry?kind=number&value=%2B12125550100", ``},
	{"GET", "/v1/reputation/export?format=csv", ``},
	{"GET", "/v1/bans/export?format=kamcmd", ``},
}

// FuzzRoutes sends arbitrary bodies, and arbitrary path and query
// suffixes, to every API route that decodes input, as an admin: no
// handler may panic (the API would answer 500 and count it in
// tollgate_panics_recovered_total{component="api"}) and no request may
// get a 5xx for its input alone.
func FuzzRoutes(f *testing.F) {
	for i, r := range fuzzRoutes {
		f.Add(uint8(i), "", []byte(r.seed))
	}
	f.Add(uint8(0), "", []byte(`{"call_id":"\u0000","callee":"\xff"}`))
	f.Add(uint8(2), "", []byte(`{"ttl_s":-1,"value":"`+string(make([]byte, 300))+`"}`))
	f.Add(uint8(3), "999999999999999999999", []byte{})
	dir := f.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "t.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	db, err := sqlite.OpenReputation(filepath.Join(dir, "t.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		f.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n"))
	if err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	live := reputation.NewLive(reputation.DefaultPolicy)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Env: check.Env{Reputation: live}, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	guard := attack.NewGuard(attack.Policy{}, db, attack.NewTrust(netip.MustParsePrefix("192.0.2.10/32")), quiet)
	s := New(Options{Engine: eng, Store: st, Logger: quiet})
	s.EnableReputation(ReputationOptions{Store: db, Live: live, Guard: guard, Events: db})
	s.SetTokens(map[string]Principal{HashToken("admin"): {Name: "a", Role: RoleAdmin}})
	f.Fuzz(func(t *testing.T, route uint8, suffix string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		before := panics.Count(panics.API)
		req, err := http.NewRequest(r.method, "http://tollgate"+r.path+suffix, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer admin")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if panics.Count(panics.API) != before {
			t.Fatalf("%s %s%s with %q panicked", r.method, r.path, suffix, body)
		}
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s%s with %q: %d %s", r.method, r.path, suffix, body, rec.Code, rec.Body.String())
		}
	})
}
