package refresh

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestNoticeAndTick: a notice runs the loop at once (the period is an
// hour), a failure is logged with the loop's name, each run has its
// bound, and the loop ends with its context.
func TestNoticeAndTick(t *testing.T) {
	notices := make(chan struct{}, 1)
	runs := make(chan bool, 4)
	var n atomic.Int32
	var logged syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop{Name: "things", Every: time.Hour, Notices: notices, Timeout: time.Minute, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
			Run: func(ctx context.Context, now time.Time) error {
				_, bounded := ctx.Deadline()
				runs <- bounded
				if n.Add(1) == 1 {
					return errors.New("db away")
				}
				return nil
			}}.Start(ctx)
	}()
	for i := 0; i < 2; i++ {
		notices <- struct{}{}
		select {
		case bounded := <-runs:
			if !bounded {
				t.Errorf("run %d had no deadline", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("notice %d did not run the loop", i)
		}
	}
	cancel()
	<-done
	if !strings.Contains(logged.String(), "things: refresh failed") || !strings.Contains(logged.String(), "db away") {
		t.Errorf("log = %q", logged.String())
	}
	if strings.Count(logged.String(), "refresh failed") != 1 {
		t.Errorf("failures logged %d times, want 1", strings.Count(logged.String(), "refresh failed"))
	}
}

// TestPeriod: without notices the loop runs every period.
func TestPeriod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan struct{}, 8)
	go Loop{Every: time.Millisecond, Run: func(context.Context, time.Time) error { runs <- struct{}{}; return nil }}.Start(ctx)
	for i := 0; i < 3; i++ {
		select {
		case <-runs:
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d never came", i)
		}
	}
}
