package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/store"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

func (c *client) do(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, out
}

func (c *client) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	return c.do(method, path, c.token, body)
}

var tokenRE = regexp.MustCompile(`TOLLGATE_TOKEN=(tg_[A-Za-z0-9_-]+)`)

// start runs a real server on a loopback port with its data in dir.
func start(t *testing.T, dir, policy string) (*Server, string) {
	t.Helper()
	cfg := config.Default()
	if policy != "" {
		var err error
		if cfg, err = config.Parse("test.yaml", []byte(policy)); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	s, err := Start(context.Background(), Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	tok := ""
	if m := tokenRE.FindStringSubmatch(out.String()); m != nil {
		tok = m[1]
	}
	return s, tok
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

const apiPolicy = `
server:
  tokens:
    - {name: pbx, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
    - {name: noc, role: read, sha256: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752}
# The detectors are tested in detect_test.go; here their off-hours rule
# would pin extensions whenever the test runs at night in New York.
detectors:
  enabled: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"44": auth, "49": allow, "252": block}
  limits:
    extension:
      international_calls_per_hour: 10
tenants:
  acme: {}
`

// Tokens above: "test" has role screen, "test2" has role read.

func TestAPIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s, admin := start(t, dir, apiPolicy)
	defer func() {
		if s != nil {
			stop(t, s)
		}
	}()
	if admin != "" {
		t.Fatalf("config has tokens, yet a first-start admin token was printed")
	}
	c := &client{t: t, base: "http://" + s.Addr.String(), token: "test"}

	// Auth: none → 401, wrong role → 403.
	if code, _ := c.do("POST", "/v1/screen", "", `{}`); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := c.do("POST", "/v1/screen", "wrong", `{}`); code != 401 {
		t.Errorf("unknown token: %d, want 401", code)
	}
	if code, _ := c.do("POST", "/v1/screen", "test2", map[string]any{"call_id": "x", "callee": "1"}); code != 403 {
		t.Errorf("read token screening: %d, want 403", code)
	}
	if code, _ := c.do("POST", "/v1/blocks", "test", map[string]any{"kind": "number", "value": "+441"}); code != 403 {
		t.Errorf("screen token adding a block: %d, want 403", code)
	}

	// Times relative to now: the restart below restores the last day.
	base := time.Now().UTC().Add(-90 * time.Minute).Truncate(time.Minute)
	at := base.Format(time.RFC3339)
	code, v := c.call("POST", "/v1/screen", map[string]any{"call_id": "c1", "tenant": "acme", "extension": "1001", "caller": "+12125550100", "callee": "+252612345678", "time": at})
	if code != 200 || v["action"] != "reject" || v["sip_code"] != 403.0 {
		t.Fatalf("screen +252: %d %v", code, v)
	}
	info := v["callee_info"].(map[string]any)
	if info["country"] != "SO" || info["type"] != "mobile" || info["e164"] != "+252612345678" {
		t.Errorf("callee_info = %v", info)
	}
	if rs := v["reasons"].([]any); len(rs) == 0 {
		t.Errorf("no reasons")
	}

	// Ten international calls in an hour, the eleventh refused.
	for i := 0; i < 11; i++ {
		ts := base.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("de%d", i)
		code, v := c.call("POST", "/v1/screen", map[string]any{"call_id": id, "tenant": "acme", "extension": "1001", "callee": "+4930123456", "time": ts.Format(time.RFC3339)})
		if code != 200 {
			t.Fatalf("call %d: %d %v", i, code, v)
		}
		if i < 10 && v["action"] != "allow" {
			t.Fatalf("call %d: %v", i+1, v)
		}
		if i == 10 {
			if v["action"] != "reject" || !strings.Contains(v["reason"].(string), "international calls per hour") {
				t.Fatalf("11th call: %v", v)
			}
			break
		}
		if code, r := c.call("POST", "/v1/calls/"+id+"/events", map[string]any{"type": "end", "time": ts.Add(30 * time.Second).Format(time.RFC3339), "duration_s": 20}); code != 200 || r["duration_s"] != 20.0 {
			t.Fatalf("end %s: %d %v", id, code, r)
		}
	}
	if code, _ := c.call("POST", "/v1/calls/nope/events", map[string]any{"type": "end"}); code != 404 {
		t.Errorf("unknown call event: %d, want 404", code)
	}

	// Bad input: 400 with a JSON error naming the problem.
	for _, tc := range []struct {
		body, want string
		code       int
	}{
		{`{"call_id":"b1","callee":"banana"}`, "callee", 400},
		{`{"call_id":"b1","callee":"+4930123456","time":"yesterday"}`, "time", 400},
		{`{"call_id":"b1","callee":"+4930123456","source_ip":"300.1.1.1"}`, "source_ip", 400},
		{`{"call_id":"b1","callee":"+4930123456","tenant":"ghost"}`, "", 200}, // unknown tenants use the defaults by default
		{`{"call_id":1}`, "call_id", 400},
		{`{"call_id":"b1",`, "truncated", 400},
		{`{"call_id":"b1","calee":"1"}`, "calee", 400},
		{`{"call_id":"b1","callee":"1"} {}`, "more than one", 400},
		{`{"call_id":"` + strings.Repeat("x", 2<<20) + `"}`, "larger than", 413},
	} {
		code, v := c.call("POST", "/v1/screen", tc.body)
		if code != tc.code {
			t.Errorf("%.60s: %d %v, want %d", tc.body, code, v, tc.code)
			continue
		}
		if tc.want != "" && !strings.Contains(fmt.Sprint(v["error"]), tc.want) {
			t.Errorf("%.60s: error %q, want it to mention %q", tc.body, v["error"], tc.want)
		}
	}

	// Number intelligence.
	if code, v := c.do("GET", "/v1/numbers/+441632960000", "test2", nil); code != 200 || v["country"] != "GB" {
		t.Errorf("numbers: %d %v", code, v)
	}

	// Blocks with the admin token (configured via sha256 of "admin" is not
	// present; add an admin token through the store as a real deployment would).
	stop(t, s)
	s = nil
	s2, _ := start(t, dir, apiPolicy+"  beta: {}\n")
	s = s2
	c.base = "http://" + s.Addr.String()
	// A token made by 'tollgate token add' while the server runs.
	if code := Main([]string{"token", "add", "root", "-role", "admin", "-data", dir}, nil, io.Discard, io.Discard); code != 0 {
		t.Fatalf("token add exit %d", code)
	}
	if err := s.Store.PutToken(context.Background(), store.Token{Name: "root", Role: "admin", Hash: api.HashToken("root-secret"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTokens(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.token = "root-secret"
	// The hour's ten international calls survived the restart: the
	// decision log rebuilt the window.
	code, v = c.call("POST", "/v1/screen", map[string]any{"call_id": "de-restart", "tenant": "acme", "extension": "1001", "callee": "+4930123456", "time": base.Add(30 * time.Minute).Format(time.RFC3339)})
	if code != 200 || v["action"] != "reject" || !strings.Contains(fmt.Sprint(v["reasons"]), "rate_limit") {
		t.Errorf("limit after restart: %d %v", code, v)
	}
	code, b := c.call("POST", "/v1/blocks", map[string]any{"kind": "number", "value": "+49 30 123456", "tenant": "acme", "reason": "pumping", "expires_in": 3600})
	if code != 201 || b["value"] != "+4930123456" {
		t.Fatalf("add block: %d %v", code, b)
	}
	code, v = c.call("POST", "/v1/screen", map[string]any{"call_id": "after-block", "tenant": "acme", "extension": "1002", "callee": "+4930123456"})
	if v["action"] != "reject" || !strings.Contains(fmt.Sprint(v["reasons"]), "blocked_number") {
		t.Errorf("blocked number: %d %v", code, v)
	}
	if code, _ := c.call("DELETE", fmt.Sprintf("/v1/blocks/%v", b["id"]), nil); code != 200 {
		t.Errorf("remove block: %d", code)
	}
	if code, _ := c.call("DELETE", "/v1/blocks/99999", nil); code != 404 {
		t.Errorf("remove unknown block: %d", code)
	}
	if code, v := c.call("POST", "/v1/blocks", map[string]any{"kind": "ip", "value": "10.0.0.0/33"}); code != 400 || v["field"] != "value" {
		t.Errorf("bad CIDR: %d %v", code, v)
	}

	// Kill switch, then restart: it survives.
	if code, v := c.call("POST", "/v1/killswitch", map[string]any{"tenant": "acme", "active": true, "reason": "incident 7"}); code != 200 {
		t.Fatalf("killswitch: %d %v", code, v)
	}
	stop(t, s)
	s = nil
	s3, _ := start(t, dir, apiPolicy)
	s = s3
	c.base = "http://" + s.Addr.String()
	code, v = c.call("POST", "/v1/screen", map[string]any{"call_id": "after-restart", "tenant": "acme", "extension": "1003", "callee": "+4930123456"})
	if code != 200 || v["action"] != "reject" || !strings.Contains(fmt.Sprint(v["reasons"]), "kill_switch") {
		t.Errorf("kill switch after restart: %d %v", code, v)
	}
	if code, v := c.call("GET", "/v1/decisions?call_id=c1", nil); code != 200 || len(v["decisions"].([]any)) != 1 {
		t.Errorf("decisions: %d %v", code, v)
	}
	if code, v := c.call("GET", "/v1/audit", nil); code != 200 || v["chain_ok"] != true || len(v["entries"].([]any)) < 3 {
		t.Errorf("audit: %d %v", code, v)
	}
	if code, _ := c.do("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	req, _ := http.Get(c.base + "/metrics")
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	if !strings.Contains(string(raw), `tollgate_engine_decisions_total{action="reject",enforced="reject"}`) {
		t.Errorf("metrics lack decision counts:\n%s", raw)
	}
	// Every component that recovers panics is listed, at zero until one does.
	for _, c := range []string{"api", "console", "honeypot", "http", "quality", "sipfront"} {
		if !strings.Contains(string(raw), `tollgate_panics_recovered_total{component="`+c+`"} `) {
			t.Errorf("metrics lack tollgate_panics_recovered_total for %s", c)
		}
	}
	// The page parses as the Prometheus text format, and each part's
	// families are there with their types.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for name, typ := range map[string]dto.MetricType{
		"tollgate_engine_decisions_total": dto.MetricType_COUNTER, "tollgate_engine_screen_seconds": dto.MetricType_HISTOGRAM,
		"tollgate_decisionlog_records_total": dto.MetricType_COUNTER, "tollgate_decisionlog_queued": dto.MetricType_GAUGE,
		"tollgate_decisionlog_late_acks_total": dto.MetricType_COUNTER, "tollgate_compliance_records": dto.MetricType_GAUGE,
		"tollgate_quality_hep_packets_total": dto.MetricType_COUNTER, "tollgate_console_logins_total": dto.MetricType_COUNTER,
		"tollgate_console_event_streams": dto.MetricType_GAUGE, "tollgate_panics_recovered_total": dto.MetricType_COUNTER,
		"go_goroutines": dto.MetricType_GAUGE,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("/metrics family %s = %v, want type %v", name, f, typ)
		}
	}
	if f := fams["tollgate_engine_decisions_total"]; f != nil {
		var rejects float64
		for _, m := range f.Metric {
			if len(m.Label) == 2 && m.Label[0].GetValue() == "reject" && m.Label[1].GetValue() == "reject" {
				rejects = m.GetCounter().GetValue()
			}
		}
		if rejects < 1 {
			t.Errorf("tollgate_engine_decisions_total{action=reject,enforced=reject} = %v, want at least 1", rejects)
		}
	}
}

func TestFirstStartPrintsAdminTokenOnce(t *testing.T) {
	dir := t.TempDir()
	s, tok := start(t, dir, "")
	if tok == "" {
		t.Fatal("no admin token printed on first start")
	}
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	if code, v := c.call("GET", "/v1/blocks", nil); code != 200 {
		t.Errorf("admin token rejected: %d %v", code, v)
	}
	stop(t, s)
	s, tok2 := start(t, dir, "")
	defer stop(t, s)
	if tok2 != "" {
		t.Errorf("a second start printed another token")
	}
	c.base = "http://" + s.Addr.String()
	if code, _ := c.call("GET", "/v1/blocks", nil); code != 200 {
		t.Errorf("admin token lost across restart: %d", code)
	}
	toks, _ := s.Store.ListTokens(context.Background())
	for _, x := range toks {
		if strings.Contains(x.Hash, tok) || x.Hash == tok {
			t.Errorf("token stored in clear")
		}
	}
}
