package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestRuntimeMetrics: /metrics carries the Go runtime, process and build
// metrics beside tollgate's own.
func TestRuntimeMetrics(t *testing.T) {
	_, base := hostileServer(t)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	page := string(raw)
	for _, want := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "go_gc_duration_seconds", "process_resident_memory_bytes ", "go_build_info{"} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Count(page, "# TYPE go_goroutines ") != 1 {
		t.Errorf("go_goroutines declared %d times", strings.Count(page, "# TYPE go_goroutines "))
	}
	// The page parses as the text format, the engine's families included.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"tollgate_engine_decisions_total", "tollgate_engine_shadow_total", "tollgate_engine_screen_seconds", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks the family %s", name)
		}
	}
	if h := fams["tollgate_engine_screen_seconds"]; h != nil && len(h.Metric[0].GetHistogram().GetBucket()) != 12 {
		t.Errorf("tollgate_engine_screen_seconds has %d buckets, want 12 (11 bounds and +Inf)", len(h.Metric[0].GetHistogram().GetBucket()))
	}
}

// TestPprofAdminOnly: the profiles answer an admin token and nobody else.
func TestPprofAdminOnly(t *testing.T) {
	_, base := hostileServer(t)
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"nope", 401}, {"read", 403}, {"screen", 403}, {"operator", 403}, {"admin", 200}} {
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			resp, _ := hostileDo(t, "GET", base+path, c.token, "", nil)
			if resp.StatusCode != c.want {
				t.Errorf("GET %s as %q: %d, want %d", path, c.token, resp.StatusCode, c.want)
			}
		}
	}
}
