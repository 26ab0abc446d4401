package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/number"
)

// TestRecoverPanic mounts a route that panics on a real API listener: it
// answers 500, the panic shows on /metrics, and the next request is
// served.
func TestRecoverPanic(t *testing.T) {
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Engine: eng, Logger: quiet, Metrics: panics.Collector})
	s.mux.HandleFunc("GET /v1/test-panic", func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		_ = p.Name // nil pointer dereference
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	before := panics.Count(panics.API)
	if code, body := get("/v1/test-panic"); code != 500 || !strings.Contains(body, "internal error") {
		t.Fatalf("panicking route: %d %s", code, body)
	}
	code, body := get("/metrics")
	want := `tollgate_panics_recovered_total{component="api"} ` + strconv.FormatInt(before+1, 10)
	if code != 200 || !strings.Contains(body, want) {
		t.Fatalf("after the panic /metrics: %d, want a line %q in\n%s", code, want, body)
	}
}
