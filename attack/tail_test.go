package attack_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
)

// TestTailFollowsRotationAndTruncation writes, rotates (rename + new
// file) and truncates a log while Tail follows it: every line written
// after the start is delivered once, in order.
func TestTailFollowsRotationAndTruncation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "security")
	os.WriteFile(path, []byte("old line before start\n"), 0o600)
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Tail(ctx, path, false, 10*time.Millisecond, func(l string) { mu.Lock(); got = append(got, l); mu.Unlock() })
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	appendTo := func(p, s string) {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %q, want %d lines", got, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	appendTo(path, "one\ntw")
	time.Sleep(30 * time.Millisecond)
	appendTo(path, "o\r\n")
	wait(2)
	// Rotation: the old file is renamed and gets a last line; a new one appears.
	os.Rename(path, path+".1")
	appendTo(path+".1", "three\n")
	appendTo(path, "four\n")
	wait(4)
	// Truncation (copytruncate).
	os.Truncate(path, 0)
	time.Sleep(50 * time.Millisecond)
	appendTo(path, "five\n")
	wait(5)
	cancel()
	<-done
	want := []string{"one", "two", "three", "four", "five"}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
