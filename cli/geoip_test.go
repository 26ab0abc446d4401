package cli

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/geoip/geoiptest"
)

// TestSourceCountryThroughAPI: with a country database configured, a
// tenant's source-country rules decide calls screened through /v1/screen;
// a database that cannot be opened stops the server with the file, the
// line and the field.
func TestSourceCountryThroughAPI(t *testing.T) {
	db := geoiptest.Write(t, map[string]string{"192.0.2.0/24": "US", "198.51.100.0/24": "KP"})
	// apiPolicy ends with its tenants: section; one more tenant joins it.
	policy := "attack: {geoip_db: " + db + "}\n" + apiPolicy + `  acme-geo:
    destinations: {default: allow}
    source_ips: {countries: {allow: [US], deny: [KP]}, outside: honeypot}
`
	s, _ := start(t, t.TempDir(), policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: "test"}
	for _, tc := range []struct{ ip, action, code string }{
		{"192.0.2.10", "allow", ""},
		{"198.51.100.7", "reject", "source_country_denied"},
		{"203.0.113.5", "allow", ""}, // not in the database: address rules decide
	} {
		code, out := c.call("POST", "/v1/screen", map[string]string{"call_id": "geo-" + tc.ip, "tenant": "acme-geo", "extension": "200",
			"callee": "+12125550100", "source_ip": tc.ip})
		if code != 200 || out["action"] != tc.action || !strings.Contains(strings.Join(reasonCodes(out), ","), tc.code) {
			t.Errorf("from %s: %d %v, want %s %s", tc.ip, code, out, tc.action, tc.code)
		}
	}

	cfg, err := config.Parse("policy.yaml", []byte("attack:\n  geoip_db: "+filepath.Join(t.TempDir(), "none.mmdb")+"\ndefaults: {country: US, on_error: fail_open}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "policy.yaml") || !strings.Contains(err.Error(), "attack.geoip_db") || !strings.Contains(err.Error(), "none.mmdb") {
		t.Errorf("missing database: %v", err)
	}
}

func reasonCodes(out map[string]any) []string {
	var cs []string
	rs, _ := out["reasons"].([]any)
	for _, r := range rs {
		if m, ok := r.(map[string]any); ok {
			cs = append(cs, m["code"].(string))
		}
	}
	return cs
}
