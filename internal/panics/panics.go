// Package panics keeps one bad packet or request from stopping tollgate.
// Every network goroutine (SIP front end, honeypot, HEP listener, HTTP
// API and console) handles each message under a deferred recover that
// hands the panic to Recovered: it is logged, without the message that
// caused it (which may carry credentials), and counted in
// tollgate_panics_recovered_total{component=...}, and the goroutine goes
// on with the next message.
//
// The counters are process-wide: one process has one /metrics.
package panics

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tollgate-voip/tollgate/metrics"
)

// The components that recover, listed at zero on /metrics before any
// panic so an alert rule can rely on the series existing.
const (
	SIPFront  = "sipfront"
	Honeypot  = "honeypot"
	Quality   = "quality"
	API       = "api"
	Console   = "console"
	HTTP      = "http"
	maxDetail = 200
	maxStack  = 4096
)

var counts sync.Map // component → *atomic.Int64

func init() {
	for _, c := range []string{SIPFront, Honeypot, Quality, API, Console, HTTP} {
		counts.Store(c, new(atomic.Int64))
	}
}

func counter(component string) *atomic.Int64 {
	if v, ok := counts.Load(component); ok {
		return v.(*atomic.Int64)
	}
	v, _ := counts.LoadOrStore(component, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Recovered records a panic value v that component recovered from: it
// counts it and logs the panic's own text (cut to 200 bytes) and the
// goroutine's stack (cut to 4 KiB). The stack shows code locations and
// argument words, never message contents; callers must not add the
// offending input to the log. A nil v is ignored, so the usual form is
//
//	defer func() { panics.Recovered(panics.SIPFront, log, recover()) }()
//
// attrs are extra log attributes (a request path, a source address).
func Recovered(component string, log *slog.Logger, v any, attrs ...any) bool {
	if v == nil {
		return false
	}
	counter(component).Add(1)
	if log == nil {
		log = slog.Default()
	}
	detail := fmt.Sprint(v)
	if len(detail) > maxDetail {
		detail = detail[:maxDetail] + "…"
	}
	stack := debug.Stack()
	if len(stack) > maxStack {
		stack = stack[:maxStack]
	}
	log.Error("recovered from a panic; the message was dropped and serving goes on",
		append([]any{"component", component, "panic", detail, "stack", string(stack)}, attrs...)...)
	return true
}

// Count returns how many panics component has recovered from.
func Count(component string) int64 { return counter(component).Load() }

// Collector exposes tollgate_panics_recovered_total per component. The
// counts are process-wide, so every registry may hold it.
var Collector prometheus.Collector = metrics.Counter("tollgate_panics_recovered_total",
	"Panics recovered while handling one packet or request (the listener kept serving), by component.",
	[]string{"component"}, func(emit metrics.Emit) {
		counts.Range(func(k, v any) bool { emit(float64(v.(*atomic.Int64).Load()), k.(string)); return true })
	})

// Handler is middleware that recovers a panicking request: it counts and
// logs it as component and answers 500 when nothing was written yet.
// http.ErrAbortHandler, the standard way to abort a response, passes
// through untouched.
func Handler(component string, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			Recovered(component, log, v, "method", r.Method, "path", r.URL.Path)
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"internal error"}`+"\n")
		}()
		next.ServeHTTP(w, r)
	})
}
