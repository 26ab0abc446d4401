package cli

import (
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/tollgate-voip/tollgate/config"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from
// server.memory_limit_mb (MiB). 0 leaves what the runtime read from
// GOMEMLIMIT at start (no limit without it). It returns the limit in
// force, in bytes (math.MaxInt64 when there is none), and logs it.
func applyMemoryLimit(s config.Server, log *slog.Logger) int64 {
	if s.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(s.MemoryLimitMB) << 20)
	}
	lim := debug.SetMemoryLimit(-1) // -1 reads without changing it
	if lim != math.MaxInt64 {
		log.Info("soft memory limit", "mib", lim>>20)
	}
	return lim
}
