package console

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate-voip/tollgate/internal/panics"
)

// TestRecoverPanic: a console page that panics answers 500, is counted,
// and the console serves the next request.
func TestRecoverPanic(t *testing.T) {
	c := New(Options{Logger: slog.New(slog.DiscardHandler)})
	defer c.Close()
	c.mux.HandleFunc("GET /ui/test-panic", func(w http.ResponseWriter, r *http.Request) { panic("injected") })
	srv := httptest.NewServer(c)
	defer srv.Close()
	before := panics.Count(panics.Console)
	res, err := http.Get(srv.URL + "/ui/test-panic")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 500 {
		t.Fatalf("panicking page: %d, want 500", res.StatusCode)
	}
	if got := panics.Count(panics.Console) - before; got != 1 {
		t.Fatalf("tollgate_panics_recovered_total{component=console} moved by %d, want 1", got)
	}
	res, err = http.Get(srv.URL + "/ui/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("after the panic: %d, want 200", res.StatusCode)
	}
}
