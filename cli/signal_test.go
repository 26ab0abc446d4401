package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
)

// serveChild runs 'tollgate serve' as a child process (TestMain) with the
// policy file cfgFile and data directory data, logging to logFile.
type serveChild struct {
	t       *testing.T
	cmd     *exec.Cmd
	c       *client
	logFile string
	exited  chan error
}

func startServeChild(t *testing.T, cfgFile, data, logFile string) *serveChild {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$") // TestMain runs Main instead of the tests
	cmd.Env = append(os.Environ(), "TOLLGATE_TEST_SERVE_CHILD=serve -config "+cfgFile+" -data "+data+" -listen "+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveChild{t: t, cmd: cmd, c: &client{t: t, base: "http://" + addr, token: "test"}, logFile: logFile, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})
	for t0 := time.Now(); time.Since(t0) < 60*time.Second; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.c.base + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("serve exited at start (%v): %s", err, s.log())
		default:
		}
	}
	t.Fatalf("serve did not start: %s", s.log())
	return nil
}

func (s *serveChild) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// waitLog waits until the log matches re, at least n times.
func (s *serveChild) waitLog(re *regexp.Regexp, n int) string {
	s.t.Helper()
	for t0 := time.Now(); time.Since(t0) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if m := re.FindAllString(s.log(), -1); len(m) >= n {
			return m[n-1]
		}
	}
	s.t.Fatalf("log never matched %v %d times: %s", re, n, s.log())
	return ""
}

func (s *serveChild) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the child to exit and returns its exit error.
func (s *serveChild) wait() error {
	s.t.Helper()
	select {
	case err := <-s.exited:
		s.exited <- err
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve did not exit: %s", s.log())
		return nil
	}
}

func (s *serveChild) screen(id, ext, callee string) string {
	s.t.Helper()
	code, v := s.c.call("POST", "/v1/screen", screenBody(id, "acme", ext, callee))
	if code != 200 {
		s.t.Fatalf("screen %s: %d %v", id, code, v)
	}
	s.t.Logf("%s: %s %v", id, v["action"], v["reasons"])
	return fmt.Sprint(v["action"])
}

func storedDecisions(t *testing.T, data string) map[string]string {
	t.Helper()
	st, err := openEmbedded(context.Background(), data, config.Retention{}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := st.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range ds {
		out[d.CallID] = d.Enforced
	}
	return out
}

// TestSignalsReloadAndDrain sends real signals to a serve process: SIGHUP
// with a bad file keeps the running policy and says where the file is
// wrong; SIGHUP with a good one applies it without a restart; SIGTERM and
// SIGINT drain, so every acknowledged decision is in the store.
func TestSignalsReloadAndDrain(t *testing.T) {
	dir := t.TempDir()
	cfgFile, data, logFile := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "data"), filepath.Join(dir, "serve.log")
	if err := os.WriteFile(cfgFile, []byte(apiPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeChild(t, cfgFile, data, logFile)
	acked := map[string]string{}
	n := 0
	screen := func(callee string) string {
		n++
		id := fmt.Sprint("sig-", n)
		a := s.screen(id, fmt.Sprint(200+n), callee)
		acked[id] = a
		return a
	}
	if a := screen("+4930123456"); a != "allow" {
		t.Fatalf("Germany under the first policy: %s, want allow", a)
	}

	// A bad file: the policy stays, the log names file and line.
	bad := strings.Replace(apiPolicy, "  country: US\n", "  country: US\n  contry: US\n", 1)
	if err := os.WriteFile(cfgFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	line := s.waitLog(regexp.MustCompile(`config reload refused.*`), 1)
	if !regexp.MustCompile(regexp.QuoteMeta(cfgFile) + `:\d+`).MatchString(line) {
		t.Errorf("refusal does not name file:line: %s", line)
	}
	if a := screen("+4930123456"); a != "allow" {
		t.Fatalf("Germany after a refused reload: %s, want allow (old policy kept)", a)
	}

	// A good file that blocks Germany applies at once.
	good := strings.Replace(apiPolicy, `"49": allow`, `"49": block`, 1)
	if err := os.WriteFile(cfgFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	s.waitLog(regexp.MustCompile(`config reloaded`), 1)
	if a := screen("+4930123456"); a != "reject" {
		t.Fatalf("Germany after the reload: %s, want reject", a)
	}
	for range 50 {
		screen("+4930123456")
	}

	// SIGTERM drains: exit 0 and every acknowledged decision stored.
	s.signal(syscall.SIGTERM)
	if err := s.wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, s.log())
	}
	got := storedDecisions(t, data)
	for id, a := range acked {
		if got[id] != a {
			t.Errorf("decision %s: stored %q, acknowledged %q", id, got[id], a)
		}
	}

	// SIGINT drains the same way.
	s = startServeChild(t, cfgFile, data, logFile)
	for range 50 {
		screen("+4420123456")
	}
	s.signal(os.Interrupt)
	if err := s.wait(); err != nil {
		t.Fatalf("serve after SIGINT: %v\n%s", err, s.log())
	}
	got = storedDecisions(t, data)
	for id, a := range acked {
		if got[id] != a {
			t.Errorf("decision %s: stored %q, acknowledged %q", id, got[id], a)
		}
	}
	if len(acked) != 103 {
		t.Errorf("acknowledged %d decisions, want 103", len(acked))
	}
}

// TestKill9KeepsLimitUsage kills serve with SIGKILL right after the 10th
// allowed international call of an extension (limit 10 an hour): after
// the restart the 11th is refused, because an answered screening's
// decision is already in the store that the restart rebuilds counters
// from. Run 0 is killed before any state snapshot was written (the
// restart reads the decision log's last day); run 1 after one, halfway
// through the ten calls (the restart loads the snapshot and replays the
// log's tail since); run 2 finds the snapshot damaged, says so, moves it
// aside and reads the log instead.
func TestKill9KeepsLimitUsage(t *testing.T) {
	dir := t.TempDir()
	cfgFile, data, logFile := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "data"), filepath.Join(dir, "serve.log")
	policy := strings.Replace(apiPolicy, "server:\n", "server:\n  max_clock_skew_s: 60\n", 1)
	if err := os.WriteFile(cfgFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(data, stateFile)
	restoredRe := regexp.MustCompile(`state restored from the snapshot.*`)
	for run := range 3 {
		ext := fmt.Sprint("ext-", run)
		os.Remove(snap)
		s := startServeChild(t, cfgFile, data, logFile)
		for i := range 10 {
			if a := s.screen(fmt.Sprint("k9-", run, "-", i), ext, "+4930123456"); a != "allow" {
				t.Fatalf("run %d call %d: %s, want allow", run, i+1, a)
			}
			if run > 0 && i == 4 {
				// Wait for the periodic snapshot (every snapshotEvery).
				waitFile(t, snap, 3*snapshotEvery)
			}
		}
		s.signal(syscall.SIGKILL)
		s.wait()
		_, snapErr := os.Stat(snap)
		restored := len(restoredRe.FindAllString(s.log(), -1))
		if run == 2 {
			b, err := os.ReadFile(snap)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x20
			os.WriteFile(snap, b, 0o600)
		}
		s = startServeChild(t, cfgFile, data, logFile)
		if a := s.screen(fmt.Sprint("k9-", run, "-11"), ext, "+4930123456"); a != "reject" {
			t.Fatalf("run %d: 11th international call after kill -9: %s, want reject", run, a)
		}
		now := len(restoredRe.FindAllString(s.log(), -1))
		switch run {
		case 0:
			if snapErr == nil {
				// A loaded machine took longer than snapshotEvery for the
				// ten calls: this run went through the snapshot too.
				t.Logf("run 0: a snapshot was written before the kill")
			} else if now != restored {
				t.Errorf("run 0: restored from a snapshot though none was written: %s", s.log())
			}
		case 1:
			if now != restored+1 {
				t.Errorf("run 1: the restart did not go through the snapshot: %s", s.log())
			}
			if !strings.Contains(s.log(), "snapshot and the decision log written since") {
				t.Errorf("run 1: the tail was not read from the snapshot's mark in the decision log: %s", s.log())
			}
		case 2:
			if now != restored || !strings.Contains(s.log(), "state snapshot unusable") {
				t.Errorf("run 2: a damaged snapshot was not reported and set aside: %s", s.log())
			}
			if _, err := os.Stat(snap + ".corrupt"); err != nil {
				t.Errorf("run 2: damaged snapshot not moved aside: %v", err)
			}
		}
		s.signal(syscall.SIGKILL)
		s.wait()
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	for t0 := time.Now(); time.Since(t0) < within; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s not written within %s", path, within)
}
