package cli

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	debug.SetMemoryLimit(math.MaxInt64)
	if got := applyMemoryLimit(config.Server{}, log); got != math.MaxInt64 {
		t.Errorf("memory_limit_mb 0 without GOMEMLIMIT: limit %d, want none", got)
	}
	if got := applyMemoryLimit(config.Server{MemoryLimitMB: 300}, log); got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("memory_limit_mb 300: limit %d, want %d", got, 300<<20)
	}
	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB would
	if got := applyMemoryLimit(config.Server{}, log); got != 123<<20 {
		t.Errorf("memory_limit_mb 0 under GOMEMLIMIT: limit %d, want the environment's %d", got, 123<<20)
	}
}
