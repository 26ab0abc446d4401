package api

import (
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/metrics"
)

// newRegistry holds what /metrics serves: the engine's metrics, the
// node's other collectors, and what every Go service exposes and
// operators expect to find: the Go runtime (goroutines, GC, heap,
// scheduler), the process (RSS, open files, CPU) and go_build_info.
func newRegistry(eng *engine.Engine, extra prometheus.Collector, log *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	cs := []prometheus.Collector{extra}
	if eng != nil {
		cs = append(cs, eng.Metrics())
	}
	for _, c := range cs {
		if c == nil {
			continue
		}
		if err := reg.Register(c); err != nil {
			log.Error("metrics: a collector was not registered", "err", err)
		}
	}
	return reg
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", metrics.ContentType)
	if err := metrics.WriteText(w, s.reg); err != nil {
		s.log.Warn("metrics: gather", "err", err)
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
