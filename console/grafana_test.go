package console_test

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboardMetricsExist keeps deploy/grafana/tollgate.json
// honest: every tollgate metric it queries is on a real server's /metrics.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	dash, err := os.ReadFile("../deploy/grafana/tollgate.json")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	// One blocked call (Somalia: block) with a reason, so the reason counter has a
	// series: a Prometheus registry lists a family once it has one.
	if code, _ := s.api(t, "POST", "/v1/screen", map[string]any{"call_id": "grafana-1", "tenant": "acme", "extension": "2002", "caller": "+12125550100", "callee": "+252612345678"}); code != 200 {
		t.Fatalf("screen: %d", code)
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	names := regexp.MustCompile(`tollgate_[a-z_]+`).FindAllString(string(dash), -1)
	if len(names) < 8 {
		t.Fatalf("dashboard queries only %d metrics", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(body), "# TYPE "+strings.TrimSuffix(n, "_bucket")+" ") {
			t.Errorf("dashboard queries %s, which /metrics does not export", n)
		}
	}
	if r, err := http.Get(s.base + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Errorf("/readyz = %v, %v", r, err)
	}
}
