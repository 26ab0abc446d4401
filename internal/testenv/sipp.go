package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	portMu sync.Mutex
	given  = map[int]bool{}
)

// FreePort returns a loopback port that was free for both TCP and UDP a
// moment ago (SIP listens on both), never one it returned before in this
// process, so the peers of one test never get the same port.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if !given[p] {
			given[p] = true
			return p
		}
	}
	t.Fatal("testenv: no free port")
	return 0
}

// Tail returns the last n bytes of s, marked with "…" when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer a process and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a long-lived peer (SIPp, Kamailio, Asterisk) a test started.
type Proc struct {
	Cmd *exec.Cmd
	// Done is closed when the process has exited.
	Done <-chan struct{}
	out  *syncBuffer
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// StartProc starts name with args in dir, keeping its output. When t ends
// the process is interrupted (killed after 3 s) and, if t failed, the
// tail of its output is logged.
func StartProc(t testing.TB, dir, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), Tail(out.String(), 4000))
		}
	})
	return &Proc{Cmd: cmd, Done: done, out: out}
}

// SIPp returns the path of sipp (Debian's sip-tester package, which
// scripts/test.sh installs); the test fails when it is missing.
func SIPp(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("testenv: sipp not installed (apt-get install sip-tester)")
	}
	return p
}

// StartSIPpUAS starts a SIPp UAS (a phone or carrier that answers) on
// 127.0.0.1:port running the scenario file, in dir; extra are more sipp
// arguments (-trace_msg, -message_file FILE…). It is stopped as
// StartProc's processes are.
func StartSIPpUAS(t testing.TB, dir, scenario string, port int, extra ...string) *Proc {
	t.Helper()
	sf, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-sf", sf, "-i", "127.0.0.1", "-p", fmt.Sprint(port), "-nostdin"}, extra...)
	return StartProc(t, dir, SIPp(t), args...)
}
