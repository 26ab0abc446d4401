package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// TestReputationRoutes drives the reputation, ban, lockout and
// SentryPeer-shaped routes on a real listener with real SQLite stores,
// and checks that an entry added through the API changes POST /v1/screen.
func TestReputationRoutes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sqlite.OpenReputation(path) // the same file, its own tables
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	live := reputation.NewLive(reputation.DefaultPolicy)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Env: check.Env{Reputation: live}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	trust := attack.NewTrust(netip.MustParsePrefix("192.0.2.10/32"))
	guard := attack.NewGuard(attack.Policy{}, db, trust, quiet)
	s := New(Options{Engine: eng, Store: st, Logger: quiet})
	s.EnableReputation(ReputationOptions{Store: db, Live: live, Guard: guard, Events: db})
	s.SetTokens(map[string]Principal{HashToken("admin"): {Name: "a", Role: RoleAdmin}, HashToken("pbx"): {Name: "pbx", Role: RoleScreen}, HashToken("ro"): {Name: "ro", Role: RoleRead}})
	srv := httptest.NewServer(s)
	defer srv.Close()

	do := func(token, method, path, body string, wantCode int) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantCode {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, wantCode)
		}
		return string(b)
	}
	screenBody := `{"call_id":"%s","tenant":"acme","extension":"1001","callee":"011442079460123","source_ip":"198.51.100.20"}`
	if out := do("admin", "POST", "/v1/screen", strings.Replace(screenBody, "%s", "c1", 1), 200); !strings.Contains(out, `"action":"allow"`) {
		t.Fatalf("before: %s", out)
	}
	do("admin", "POST", "/v1/reputation", `{"kind":"number","value":"+44 20 7946 0123","reason":"honeypot elsewhere"}`, 201)
	if out := do("admin", "POST", "/v1/screen", strings.Replace(screenBody, "%s", "c2", 1), 200); !strings.Contains(out, `"action":"reject"`) || !strings.Contains(out, "attacker_dialed_number") {
		t.Fatalf("after adding the number: %s", out)
	}
	do("ro", "POST", "/v1/reputation", `{"kind":"ip","value":"198.51.100.1"}`, 403)
	if out := do("admin", "POST", "/v1/reputation", `{"kind":"ip","value":"192.0.2.0/24"}`, 400); !strings.Contains(out, `"field":"value"`) {
		t.Fatalf("trusted network: %s", out)
	}
	do("admin", "POST", "/v1/reputation", `{"kind":"ipv4","value":"x"}`, 400)

	// Import: the entry covering the trusted PBX is skipped.
	out := do("admin", "POST", "/v1/reputation/import?format=csv", "kind,value,score\nip,203.0.113.7,80\nip,192.0.2.10,90\nua,sipcli,90\n", 200)
	var imp struct {
		Imported int                  `json:"imported"`
		Skipped  []reputation.Skipped `json:"skipped"`
	}
	json.Unmarshal([]byte(out), &imp)
	if imp.Imported != 2 || len(imp.Skipped) != 1 || imp.Skipped[0].Value != "192.0.2.10" {
		t.Fatalf("import: %s", out)
	}
	if out := do("admin", "POST", "/v1/reputation/import?format=csv", "kind,value\nip,bogus\n", 400); !strings.Contains(out, "feed line 2: value") {
		t.Fatalf("bad feed: %s", out)
	}
	if out := do("ro", "GET", "/v1/reputation/export?format=csv", "", 200); !strings.Contains(out, "ip,203.0.113.7,feed,80") {
		t.Fatalf("export: %s", out)
	}
	// SentryPeer-shaped lookups.
	if out := do("ro", "GET", "/v1/honeypot/ip-address/203.0.113.7", "", 200); !strings.Contains(out, `"bad_actor_found":"203.0.113.7"`) {
		t.Fatalf("ip-address: %s", out)
	}
	do("ro", "GET", "/v1/honeypot/ip-address/203.0.113.8", "", 404)
	if out := do("ro", "GET", "/v1/honeypot/numbers/+442079460123", "", 200); !strings.Contains(out, `"phone_number_found":"442079460123"`) {
		t.Fatalf("numbers: %s", out)
	}
	do("ro", "GET", "/v1/honeypot/numbers/442079460124", "", 404)
	if out := do("ro", "GET", "/v1/honeypot/ip-addresses", "", 200); !strings.Contains(out, `"ip_addresses_total":1`) {
		t.Fatalf("ip-addresses: %s", out)
	}

	// Auth events from the PBX: three failures ban, five lock the account
	// (allowing the phone that logged in before); the trusted PBX is
	// never banned.
	do("pbx", "POST", "/v1/auth-events", `{"ip":"198.51.100.31","kind":"auth_success","username":"1001","source":"asterisk"}`, 200)
	for i := range 5 {
		out = do("pbx", "POST", "/v1/auth-events", `{"ip":"198.51.100.30","kind":"auth_failure","username":"1001","source":"asterisk"}`, 200)
		if i == 2 && !strings.Contains(out, `"ban":{`) {
			t.Fatalf("third failure: %s", out)
		}
	}
	if !strings.Contains(out, `"lockout":{`) || !strings.Contains(out, `"allowed":["198.51.100.31"]`) {
		t.Fatalf("fifth failure: %s; want a lockout allowing the phone", out)
	}
	for range 5 {
		if out := do("pbx", "POST", "/v1/auth-events", `{"ip":"192.0.2.10","kind":"acl","source":"kamailio"}`, 200); !strings.Contains(out, `"trusted":true`) || !strings.Contains(out, `"ban":null`) {
			t.Fatalf("trusted PBX: %s", out)
		}
	}
	do("pbx", "POST", "/v1/auth-events", `{"ip":"nope","kind":"auth_failure"}`, 400)
	do("pbx", "POST", "/v1/auth-events", `{"ip":"192.0.2.1","kind":"hacking"}`, 400)
	// The edge proxy asks with its screen token before a password check.
	if out := do("pbx", "GET", "/v1/lockouts/account/1001?ip=198.51.100.30", "", 200); !strings.Contains(out, `"locked":true`) {
		t.Fatalf("screen role asking about a lockout: %s", out)
	}
	do("pbx", "GET", "/v1/lockouts", "", 403) // the list stays read-only
	if out := do("ro", "GET", "/v1/lockouts/account/1001", "", 200); !strings.Contains(out, `"locked":true`) {
		t.Fatalf("lockout query: %s", out)
	}
	do("ro", "GET", "/v1/lockouts/account/1002", "", 404)
	do("ro", "GET", "/v1/lockouts/account/1001?ip=198.51.100.31", "", 404) // the phone may log in
	do("ro", "GET", "/v1/lockouts/account/1001?ip=198.51.100.30", "", 200)
	do("ro", "GET", "/v1/lockouts/account/1001?ip=pbx.example", "", 400)
	do("admin", "DELETE", "/v1/lockouts/account/1001", "", 204)
	do("ro", "GET", "/v1/lockouts/account/1001", "", 404)

	// Tenants: failures naming tenant acme lock acme's 2001 only; the
	// query for another tenant's 2001, or naming none, finds no lockout.
	for i := range 5 { // one guess per address: no ban
		do("pbx", "POST", "/v1/auth-events", fmt.Sprintf(`{"ip":"198.51.100.%d","kind":"auth_failure","username":"2001","tenant":"acme","source":"kamailio"}`, 50+i), 200)
	}
	if out := do("ro", "GET", "/v1/lockouts/account/2001?tenant=acme&ip=198.51.100.42", "", 200); !strings.Contains(out, `"tenant":"acme"`) {
		t.Fatalf("acme's 2001: %s", out)
	}
	do("ro", "GET", "/v1/lockouts/account/2001?tenant=other&ip=198.51.100.42", "", 404)
	do("ro", "GET", "/v1/lockouts/account/2001?ip=198.51.100.42", "", 404)
	do("ro", "GET", "/v1/lockouts/account/2001?tenant=a%20b", "", 400)
	do("pbx", "POST", "/v1/auth-events", `{"ip":"198.51.100.40","kind":"auth_failure","username":"2001","tenant":"bad
tenant"}`, 400)
	do("admin", "DELETE", "/v1/lockouts/account/2001", "", 404) // the tenant-less one: none
	do("admin", "DELETE", "/v1/lockouts/account/2001?tenant=acme", "", 204)
	do("ro", "GET", "/v1/lockouts/account/2001?tenant=acme", "", 404)

	// Bans: the banned address is refused by /v1/screen, exported for the
	// edge, and released.
	screenFrom := `{"call_id":"%s","tenant":"acme","callee":"12125550123","source_ip":"198.51.100.30"}`
	if out := do("admin", "POST", "/v1/screen", strings.Replace(screenFrom, "%s", "c3", 1), 200); !strings.Contains(out, "banned_ip") {
		t.Fatalf("call from a banned address: %s", out)
	}
	var bans struct{ Bans []reputation.Ban }
	json.Unmarshal([]byte(do("ro", "GET", "/v1/bans", "", 200)), &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].IP != "198.51.100.30" {
		t.Fatalf("bans: %+v", bans)
	}
	if out := do("ro", "GET", "/v1/bans/export?format=kamcmd", "", 200); !strings.Contains(out, "kamcmd htable.seti tollgate_ban 198.51.100.30 ") {
		t.Fatalf("kamcmd export: %s", out)
	}
	do("ro", "GET", "/v1/bans/export?format=pf", "", 400)
	do("admin", "POST", "/v1/bans", `{"ip":"192.0.2.0/28","reason":"peer said so"}`, 400)
	do("admin", "POST", "/v1/bans", `{"ip":"203.0.113.0/24","expires_in":3600}`, 201)
	// The honeypot learned the address too: releasing the ban frees it.
	if _, err := db.Upsert(t.Context(), reputation.Entry{Kind: "ip", Value: "198.51.100.30", Source: "honeypot", Score: 90}); err != nil {
		t.Fatal(err)
	}
	if out := do("admin", "DELETE", "/v1/bans/"+itoa(bans.Bans[0].ID), "", 200); !strings.Contains(out, `"freed":"ip/198.51.100.30"`) {
		t.Fatalf("release: %s", out)
	}
	do("ro", "GET", "/v1/reputation/entry?kind=ip&value=198.51.100.30", "", 404)
	do("admin", "DELETE", "/v1/bans/999", "", 404)
	if out := do("admin", "POST", "/v1/screen", strings.Replace(screenFrom, "%s", "c4", 1), 200); strings.Contains(out, "banned_ip") {
		t.Fatalf("after release: %s", out)
	}
	// A number learned at the honeypot from one unproven datagram: shown
	// with its evidence, listed as suspected, adds risk to a call without
	// refusing it, is not reported to SentryPeer-shaped clients, and can
	// be released.
	t0 := time.Now().UTC().Truncate(time.Second)
	if _, err := db.Upsert(t.Context(), reputation.Entry{Kind: "number", Value: "+12125550199", Source: "honeypot", Score: 90, Reason: "dialed at the honeypot",
		Status: reputation.StatusSuspected, Evidence: &reputation.Evidence{Need: reputation.Need{Networks: 3, SpanS: 600},
			Sightings: []reputation.Sighting{{Network: "203.0.113.0/24", Addr: "203.0.113.66", First: t0, Last: t0, Hits: 1}}}}); err != nil {
		t.Fatal(err)
	}
	var got reputation.Entry
	json.Unmarshal([]byte(do("ro", "GET", "/v1/reputation/entry?kind=number&value=%2B12125550199", "", 200)), &got)
	if got.Status != "suspected" || got.Evidence == nil || len(got.Evidence.Sightings) != 1 || got.Evidence.Sightings[0].Addr != "203.0.113.66" || got.Evidence.Need.Networks != 3 {
		t.Fatalf("entry: %+v %+v", got, got.Evidence)
	}
	if out := do("ro", "GET", "/v1/reputation?status=suspected", "", 200); !strings.Contains(out, `"value":"+12125550199"`) || strings.Contains(out, "203.0.113.7") {
		t.Fatalf("suspected list: %s", out)
	}
	do("ro", "GET", "/v1/reputation?status=maybe", "", 400)
	do("ro", "GET", "/v1/reputation/entry?kind=number", "", 400)
	if err := reputation.Refresh(t.Context(), db, live, time.Now()); err != nil {
		t.Fatal(err)
	}
	screenTo := `{"call_id":"c5","tenant":"acme","callee":"12125550199","source_ip":"198.51.100.20"}`
	if out := do("admin", "POST", "/v1/screen", screenTo, 200); !strings.Contains(out, `"action":"allow"`) || !strings.Contains(out, "suspected_dialed_number") {
		t.Fatalf("call to a suspected number: %s", out)
	}
	do("ro", "GET", "/v1/honeypot/numbers/+12125550199", "", 404)
	do("admin", "DELETE", "/v1/reputation?kind=number&value=%2B12125550199", "", 204)
	do("ro", "GET", "/v1/reputation/entry?kind=number&value=%2B12125550199", "", 404)

	if out := do("admin", "GET", "/v1/audit", "", 200); !strings.Contains(out, "ban.release") || !strings.Contains(out, "reputation.import") {
		t.Fatalf("audit lacks the changes: %s", out)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
