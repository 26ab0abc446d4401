package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// hostileServer is the API on a real listener with a real SQLite store
// and tokens admin, screen, read and operator (secret = role name).
func hostileServer(t *testing.T) (*Server, string) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\ntenants:\n  acme: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Engine: eng, Store: st, Logger: quiet})
	ts := map[string]Principal{}
	for _, r := range []Role{RoleAdmin, RoleScreen, RoleRead, RoleOperator} {
		ts[HashToken(string(r))] = Principal{Name: string(r), Role: r}
	}
	s.SetTokens(ts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func hostileDo(t *testing.T, method, url, token, ctype string, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

// TestNosniffEverywhere: every API answer, the JSON ones, errors, the
// screening fast path and the non-JSON ones, says nosniff.
func TestNosniffEverywhere(t *testing.T) {
	_, base := hostileServer(t)
	cases := []struct{ method, path, token, body string }{
		{"GET", "/v1/blocks", "read", ""},
		{"GET", "/v1/blocks", "", ""},
		{"POST", "/v1/screen", "screen", `{"call_id":"n-1","tenant":"acme","extension":"1001","caller":"+12125550100","callee":"+12125550111"}`},
		{"POST", "/v1/screen", "screen", `{"bad json`},
		{"GET", "/v1/openapi.yaml", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/nothing-here", "", ""},
	}
	for _, c := range cases {
		resp, _ := hostileDo(t, c.method, base+c.path, c.token, "", []byte(c.body))
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options = %q, want nosniff", c.method, c.path, resp.StatusCode, got)
		}
	}
}

// TestAuthBeforeNotFound: without a token every /v1 path is 401, whether
// it exists, is disabled on this node (calls, voice, cdrs here) or never
// existed; so an anonymous scan cannot map what a node runs.
func TestAuthBeforeNotFound(t *testing.T) {
	_, base := hostileServer(t)
	for _, p := range []string{"GET /v1/calls", "POST /v1/calls/x/disconnect", "POST /v1/voice/enroll", "GET /v1/voice/subjects/x",
		"POST /v1/cdrs", "GET /v1/no-such-thing", "PUT /v1/blocks", "GET /v1/", "GET /v1", "GET /v1/blocks"} {
		method, path, _ := strings.Cut(p, " ")
		resp, out := hostileDo(t, method, base+path, "", "", nil)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without a token = %d %v, want 401 with WWW-Authenticate", p, resp.StatusCode, out)
		}
		if resp, _ := hostileDo(t, method, base+path, "not-a-token", "", nil); resp.StatusCode != 401 {
			t.Errorf("%s with an unknown token = %d, want 401", p, resp.StatusCode)
		}
	}
	// With a token, what is not there is 404.
	if resp, _ := hostileDo(t, "GET", base+"/v1/calls", "read", "", nil); resp.StatusCode != 404 {
		t.Errorf("GET /v1/calls (proxy off) with a token = %d, want 404", resp.StatusCode)
	}
}

// TestIdentifiersRefuseNULAndBadUTF8: one such extension used to reach an
// alert. Each is now 400 naming the field, on the JSON body, the query
// and the path.
func TestIdentifiersRefuseNULAndBadUTF8(t *testing.T) {
	s, base := hostileServer(t)
	screenBody := func(field, value string) []byte {
		m := map[string]string{"call_id": "u-1", "tenant": "acme", "extension": "1001", "caller": "+12125550100", "callee": "+12125550111"}
		m[field] = value
		b, _ := json.Marshal(m)
		return b
	}
	type tc struct {
		name, method, path, token string
		body                      []byte
		field                     string
	}
	cases := []tc{
		{"NUL in extension", "POST", "/v1/screen", "screen", screenBody("extension", "10\x0001"), "extension"},
		{"NUL in tenant", "POST", "/v1/screen", "screen", screenBody("tenant", "acme\x00"), "tenant"},
		{"newline in caller", "POST", "/v1/screen", "screen", screenBody("caller", "+1212\n5550100"), "caller"},
		{"NUL in call_id", "POST", "/v1/screen", "screen", screenBody("call_id", "a\x00b"), "call_id"},
		// Raw invalid UTF-8: json.Marshal would fix it, so splice the bytes in.
		{"invalid UTF-8 in extension", "POST", "/v1/screen", "screen", bytes.Replace(screenBody("extension", "EXT"), []byte("EXT"), []byte{'1', 0xff, 0xfe}, 1), "extension"},
		{"NUL in block value", "POST", "/v1/blocks", "operator", []byte(`{"kind":"extension","tenant":"acme","value":"10\u000001","reason":"x"}`), "value"},
		{"NUL in block reason", "POST", "/v1/blocks", "operator", []byte(`{"kind":"extension","tenant":"acme","value":"1001","reason":"x\u0000y"}`), "reason"},
		{"NUL in a call event path", "POST", "/v1/calls/a%00b/events", "screen", []byte(`{"type":"answer"}`), "call_id"},
		{"invalid UTF-8 in a number path", "GET", "/v1/numbers/%2B1212%FF", "read", nil, "number"},
		{"NUL in a query", "GET", "/v1/decisions?extension=10%0001", "read", nil, "extension"},
	}
	for _, c := range cases {
		resp, out := hostileDo(t, c.method, base+c.path, c.token, "application/json", c.body)
		if resp.StatusCode != 400 || out["field"] != c.field {
			t.Errorf("%s: %s %s = %d %v, want 400 naming %q", c.name, c.method, c.path, resp.StatusCode, out, c.field)
		}
	}
	// Nothing of it reached the store.
	if bs, _ := s.st.ListBlocks(t.Context(), time.Now()); len(bs) != 0 {
		t.Errorf("blocks stored from refused requests: %+v", bs)
	}
	// Ordinary text still passes: a reason with a newline and accents.
	resp, out := hostileDo(t, "POST", base+"/v1/blocks", "operator", "application/json", []byte(`{"kind":"extension","tenant":"acme","value":"1001","reason":"Zürich PBX\nticket 42"}`))
	if resp.StatusCode != 201 {
		t.Errorf("a block with an accented, two-line reason = %d %v, want 201", resp.StatusCode, out)
	}
}

// TestVoiceEnrolRoles: the operator path for fraudster enrolment the
// OpenAPI document describes is reachable; an operator still cannot
// enrol customers, nor the screen role fraudsters. (No voice service is
// needed: a bad form field is answered after the role check.)
func TestVoiceEnrolRoles(t *testing.T) {
	s, base := hostileServer(t)
	s.EnableVoice(nil)
	form := func(kind string) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("tenant", "acme")
		mw.WriteField("subject", "f-1")
		mw.WriteField("kind", kind)
		mw.WriteField("append", "not a bool")
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	for _, c := range []struct {
		token, kind string
		want        int
	}{
		{"operator", "fraudster", 400}, // past the role check, stopped by append
		{"admin", "fraudster", 400},
		{"screen", "fraudster", 403},
		{"operator", "customer", 403},
		{"screen", "customer", 400},
		{"read", "fraudster", 403},
	} {
		body, ct := form(c.kind)
		resp, out := hostileDo(t, "POST", base+"/v1/voice/enroll", c.token, ct, body)
		if resp.StatusCode != c.want {
			t.Errorf("%s enrolling a %s = %d %v, want %d", c.token, c.kind, resp.StatusCode, out, c.want)
		}
	}
}
