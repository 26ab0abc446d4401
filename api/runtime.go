package api

import (
	"io"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// newRuntimeRegistry holds what every Go service exposes and operators
// expect to find: the Go runtime (goroutines, GC, heap, scheduler), the
// process (RSS, open files, CPU) and go_build_info.
func newRuntimeRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// writeRuntime appends the runtime registry to a Prometheus text page.
func writeRuntime(w io.Writer, g prometheus.Gatherer) {
	mfs, err := g.Gather()
	if err != nil {
		return // a partial gather still returns what it has; nothing to add
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if enc.Encode(mf) != nil {
			return
		}
	}
}

// pprofRoutes serves the runtime profiles to admin tokens only: a heap or
// goroutine dump shows call data and a CPU profile costs CPU, so neither is
// for anyone who can reach the port.
func (s *Server) pprofRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", s.auth(RoleAdmin, pprof.Index))
	mux.HandleFunc("GET /debug/pprof/cmdline", s.auth(RoleAdmin, pprof.Cmdline))
	mux.HandleFunc("GET /debug/pprof/profile", s.auth(RoleAdmin, pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/symbol", s.auth(RoleAdmin, pprof.Symbol))
	mux.HandleFunc("GET /debug/pprof/trace", s.auth(RoleAdmin, pprof.Trace))
}
