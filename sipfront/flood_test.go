package sipfront

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statColumn reads the last value of a column of a SIPp -trace_stat file.
func statColumn(t *testing.T, path, name string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if h == name && i < len(last) {
			n, err := strconv.Atoi(strings.TrimSpace(last[i]))
			if err != nil {
				t.Fatalf("%s = %q", name, last[i])
			}
			return n
		}
	}
	t.Fatalf("no column %s in %s", name, path)
	return 0
}

// TestProxySilentPBXFlood: a SIPp UAC sends 1,500 INVITEs at 300/s
// through the proxy to a next hop that never answers (a UDP socket
// nobody reads), with a transaction table of 200. Every INVITE must get
// a final answer: 408 when Timer B (shortened to 1 s) runs out, or 503
// with Retry-After while the table is full; none may be lost (a SIPp
// call without a final answer within 60 s fails). Afterwards the table
// drains to nothing. Counts are asserted, never timings.
func TestProxySilentPBXFlood(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not installed (scripts/test.sh installs sip-tester)")
	}
	const calls, rate = 1500, 300
	pbx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pbx.Close() // never read: the PBX is silent
	port := freeUDPPort(t)
	policy := strings.Replace(fmt.Sprintf(proxyPolicy, port, fmt.Sprintf("sip:127.0.0.1:%d", pbx.LocalAddr().(*net.UDPAddr).Port)),
		"    requests_per_s: 0\n", "    requests_per_s: 0\n    max_transactions: 200\n", 1)
	eng, cfg := newEngine(t, policy)
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	s.proxy.timerB, s.proxy.keepDone = time.Second, time.Second
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&csv, "%d;+1212555%04d\n", 1000+i, i)
	}
	inf := filepath.Join(dir, "calls.csv")
	if err := os.WriteFile(inf, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sf, _ := filepath.Abs("testdata/uac_silent.xml")
	stat := filepath.Join(dir, "stat.csv")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sf", sf, "-inf", inf, "-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls), "-nostdin", "-timeout", "100s",
		"-trace_stat", "-fd", "1", "-stf", stat, fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sipp still running after 120 s:\n%s", out)
	}
	ok, failed := statColumn(t, stat, "SuccessfulCall(C)"), statColumn(t, stat, "FailedCall(C)")
	if ok != calls || failed != 0 || err != nil {
		t.Errorf("SIPp: %d calls got a final answer, %d did not (exit: %v); want all %d answered", ok, failed, err, calls)
	}
	st := s.Stats()
	full, timedOut, fwd := st.Full.Load(), st.TimedOut.Load(), st.Forwarded.Load()
	t.Logf("503 at the limit: %d, 408 after Timer B: %d, forwarded: %d", full, timedOut, fwd)
	if full == 0 || timedOut == 0 {
		t.Errorf("want both kinds of final answer: %d × 503 (table full), %d × 408 (Timer B)", full, timedOut)
	}
	if full+timedOut < calls {
		t.Errorf("503 + 408 = %d, fewer than the %d INVITEs", full+timedOut, calls)
	}
	if timedOut != fwd {
		t.Errorf("%d INVITEs forwarded to the silent PBX but %d timed out", fwd, timedOut)
	}
	var sv, cl, rl, dl, tm int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sv, cl, rl, dl, tm = s.proxy.stateSize(); sv+cl+rl+dl+tm == 0 {
			break
		}
	}
	if sv+cl+rl+dl+tm != 0 || s.proxy.txCount.Load() != 0 || s.proxy.dlgCount.Load() != 0 {
		t.Errorf("state left after the flood: %d server, %d client, %d relays, %d dialogs, %d timers; counts %d/%d",
			sv, cl, rl, dl, tm, s.proxy.txCount.Load(), s.proxy.dlgCount.Load())
	}
	if n := eng.LiveCalls(); n != 0 {
		t.Errorf("engine LiveCalls %d after the flood, want 0", n)
	}
}

// TestProxyTimersTouchOnlyWhatIsDue: with 5,000 INVITEs forwarded to a
// silent next hop, a timer run before any deadline runs nothing (the old
// timer scan looked at every transaction under the one lock, every
// 50 ms); at Timer A each transaction is retransmitted once; at Timer B
// each gets its 408 once; after the absorb period the table is empty.
func TestProxyTimersTouchOnlyWhatIsDue(t *testing.T) {
	eng, cfg := newEngine(t, fmt.Sprintf(proxyPolicy, 5070, "sip:127.0.0.1:5080")+"allow_unknown_tenants: true\n")
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	p := s.proxy
	self := netip.MustParseAddrPort("127.0.0.1:5070")
	p.self["udp"], p.ours[self] = self, true
	p.ready.Store(true)
	sent := map[string]int{}
	p.sendFn = func(f flow, b []byte) error {
		l, _, _ := strings.Cut(string(b), " ")
		if l == "SIP/2.0" {
			l = string(b[:11])
		}
		sent[l]++
		return nil
	}
	clock := time.Now()
	p.now = func() time.Time { return clock }
	w := s.newWorker()
	const n = 5000
	for i := 0; i < n; i++ {
		w.handle(t.Context(), []byte(invite("due-"+strconv.Itoa(i), fmt.Sprintf("sip:+1212555%04d@edge", i), fmt.Sprintf("X-Extension: %d\r\n", 1000+i))), src, "udp")
	}
	if sent["INVITE"] != n {
		t.Fatalf("forwarded %d INVITEs, want %d (sent %v)", sent["INVITE"], n, sent)
	}
	for _, c := range []struct {
		at          time.Duration
		ran         int
		invites, to int // INVITEs to the next hop, 408s to the caller
	}{
		{100 * time.Millisecond, 0, 0, 0},                   // nothing due
		{600 * time.Millisecond, n, n, 0},                   // Timer A, once each
		{700 * time.Millisecond, 0, 0, 0},                   // nothing due
		{timerB + 100*time.Millisecond, n, n, n},            // Timer A again, then Timer B: 408
		{timerB + 200*time.Millisecond, 0, 0, 0},            // nothing due
		{timerB + keepDone + 200*time.Millisecond, n, 0, n}, // Timer G repeats the 408, then the absorb period ends
		{timerB + keepDone + 2*time.Second, 0, 0, 0},        // nothing left
	} {
		sent = map[string]int{}
		ran := p.onTick(clock.Add(c.at))
		if ran != c.ran || sent["INVITE"] != c.invites || sent["SIP/2.0 408"] != c.to {
			t.Errorf("at +%s: ran %d timers, sent %d INVITEs and %d 408s; want %d, %d, %d", c.at, ran, sent["INVITE"], sent["SIP/2.0 408"], c.ran, c.invites, c.to)
		}
	}
	if sv, cl, rl, dl, tm := p.stateSize(); sv+cl+rl+dl+tm != 0 || p.txCount.Load() != 0 || p.dlgCount.Load() != 0 {
		t.Errorf("state left: %d server, %d client, %d relays, %d dialogs, %d timers; counts %d/%d", sv, cl, rl, dl, tm, p.txCount.Load(), p.dlgCount.Load())
	}
}
