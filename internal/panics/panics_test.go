package panics_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/metrics"
)

// TestHandler: a handler that panics answers 500, the panic is counted
// and logged without the request's secrets, and the server answers the
// next request.
func TestHandler(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) {
		var xs []int
		_ = xs[len(r.URL.Path)] // index out of range
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	srv := httptest.NewServer(panics.Handler("test-http", log, mux))
	defer srv.Close()
	before := panics.Count("test-http")

	req, _ := http.NewRequest("GET", srv.URL+"/boom", nil)
	req.Header.Set("Authorization", "Bearer s3cret-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 500 || !strings.Contains(string(body), "internal error") {
		t.Fatalf("panicking handler: %d %q", res.StatusCode, body)
	}
	if got := panics.Count("test-http"); got != before+1 {
		t.Fatalf("counter %d, want %d", got, before+1)
	}
	if !strings.Contains(logs.String(), "index out of range") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("log: %s", logs.String())
	}
	// An aborted response is not a crash: not counted.
	if _, err := http.Get(srv.URL + "/abort"); err == nil {
		t.Fatal("aborted handler: a response came back")
	}
	if got := panics.Count("test-http"); got != before+1 {
		t.Fatalf("ErrAbortHandler counted: %d", got)
	}
	res, err = http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "fine" {
		t.Fatalf("after the panic: %d %q", res.StatusCode, body)
	}
	m, err := metrics.Text(panics.Collector)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tollgate_panics_recovered_total{component="test-http"} ` + strconv.FormatInt(before+1, 10), `tollgate_panics_recovered_total{component="sipfront"} `, "# TYPE tollgate_panics_recovered_total counter"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
