package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// masterLines returns n Asterisk Master.csv lines: international calls of
// one extension 20 s apart (a burst for the default detector).
func masterLines(ext, idp string, n int, t0 time.Time) string {
	var b strings.Builder
	for i := range n {
		s := t0.Add(time.Duration(i*20) * time.Second)
		f := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
		fmt.Fprintf(&b, "\"acme\",%q,\"01149301234%s%02d\",\"from-internal\",\"\",\"PJSIP/%s-1\",\"\",\"Dial\",\"\",%q,%q,%q,63,60,\"ANSWERED\",\"DOCUMENTATION\",\"%s-%d\",\"\"\n",
			ext, idp, i, ext, f(s), f(s.Add(3*time.Second)), f(s.Add(63*time.Second)), ext, i)
	}
	return b.String()
}

// TestFollowCDRFile: serve follows detectors.follow; lines appended to the
// file reach the detectors (their block bites), a malformed line is
// skipped, and after a rename rotation the old file's last lines and the
// new file's lines are read too.
func TestFollowCDRFile(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "cdr-csv", "Master.csv")
	if err := os.MkdirAll(filepath.Dir(logf), 0o750); err != nil {
		t.Fatal(err)
	}
	// History already in the file is not replayed (from_start is off).
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	if err := os.WriteFile(logf, []byte(masterLines("1009", "9", 12, t0)), 0o640); err != nil {
		t.Fatal(err)
	}
	policy := detectPolicy + fmt.Sprintf("detectors:\n  follow:\n    - {path: %q, format: asterisk, poll_ms: 20}\n", logf)
	s, tok := start(t, filepath.Join(dir, "data"), policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	blocked := func(ext string) func() bool {
		return func() bool {
			return s.Engine.Blocks().Load().Extension("acme", ext, t0.Add(time.Hour)) != nil
		}
	}
	appendTo := func(path, text string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the follower open the file at its end
	// Appended in two writes, the second splitting a line; a bad line between.
	burst := masterLines("1001", "1", 10, t0)
	appendTo(logf, burst[:len(burst)/2])
	appendTo(logf, burst[len(burst)/2:])
	appendTo(logf, "\"acme\",\"1001\",\"x\",\"from-internal\",\"\",\"\",\"\",\"\",\"\",\"yesterday\",\"\",\"\",1,1,\"ANSWERED\",\"\"\n")
	poll(t, "the block of 1001 from the appended burst", blocked("1001"))
	// Rotation: the last lines go to the old file after the rename, the
	// rest to a new file.
	rot := masterLines("1002", "2", 10, t0.Add(time.Hour))
	lines := strings.SplitAfter(rot, "\n")
	if err := os.Rename(logf, logf+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(logf+".1", strings.Join(lines[:4], ""))
	appendTo(logf, strings.Join(lines[4:], ""))
	poll(t, "the block of 1002 from lines on both sides of the rotation", blocked("1002"))
	if blocked("1009")() {
		t.Error("history in the file before serve started was replayed")
	}
	poll(t, "every followed CDR observed", func() bool {
		_, out := c.call("GET", "/v1/detection", nil)
		st, _ := out["stats"].(map[string]any)
		return st["observed"] == 20.0
	})
}
