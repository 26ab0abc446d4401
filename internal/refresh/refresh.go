// Package refresh runs the loop that keeps a node's copy of shared data
// current: re-read it every period, and at once on a change notice.
//
// Runs are one at a time: a notice that arrives during a run leaves one
// value pending on its channel and causes one more run, never a queue.
package refresh

import (
	"context"
	"log/slog"
	"time"
)

// Loop describes one refresh loop.
type Loop struct {
	// Name is what the log calls the loop ("compliance").
	Name string
	// Every is the period (a second when zero or less): the safety net for
	// a notice that was lost.
	Every time.Duration
	// Notices triggers a run at once; nil means periodic runs only.
	Notices <-chan struct{}
	// Timeout bounds each run, so a stalled dependency cannot hold up the
	// next one for long; zero means no bound beyond the loop's context.
	Timeout time.Duration
	// Run re-reads the data; now is the tick's time (the wall clock for
	// a notice). A failure is logged and the next run tries again.
	Run func(ctx context.Context, now time.Time) error
	// Logger receives failures (slog.Default() when nil).
	Logger *slog.Logger
}

// Start runs the loop until ctx ends.
func (l Loop) Start(ctx context.Context) {
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case <-l.Notices:
			now = time.Now()
		case now = <-t.C:
		}
		l.once(ctx, now, log)
	}
}

func (l Loop) once(ctx context.Context, now time.Time, log *slog.Logger) {
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if l.Timeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, l.Timeout)
	}
	err := l.Run(rctx, now)
	cancel()
	if err != nil && ctx.Err() == nil {
		log.Warn(l.Name+": refresh failed", "err", err)
	}
}
