package sipfront

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestProxyRingBounded (attack): a callee that keeps ringing — a 180
// every 200 ms, each restarting Timer C — cannot hold an INVITE open
// past the proxy's ring bound (the engine's call_setup_s × 4/5; shortened
// to 1 s here). The proxy CANCELs it upstream, the caller gets a final
// answer, and the call's end reaches the engine while it still knows the
// call, freeing its slot; an answer after the engine had forgotten the
// call would have been refused. Counts, never timings, are asserted.
func TestProxyRingBounded(t *testing.T) {
	uas := newPeer(t)
	port := freeUDPPort(t)
	eng, cfg := newEngine(t, fmt.Sprintf(proxyPolicy, port, fmt.Sprintf("sip:127.0.0.1:%d", uas.port())))
	if got, want := eng.CallSetup(), 5*time.Minute; got != want {
		t.Fatalf("engine call setup window %s, want the default %s", got, want)
	}
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if s.proxy.maxRing != 4*time.Minute {
		t.Errorf("ring bound %s, want 4/5 of the engine's window (4m0s)", s.proxy.maxRing)
	}
	s.proxy.maxRing = time.Second
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	uac := newPeer(t)
	uac.send(addr, uac.invite("ring1", "sip:+12125550100@tollgate", "r1", ""))
	inv, from := uas.expect("INVITE ", 3*time.Second)
	if eng.LiveCalls() != 1 {
		t.Fatalf("%d live calls after the INVITE, want 1", eng.LiveCalls())
	}
	cancelled := false
	for range 40 { // up to 8 s of ringing
		uas.send(from.String(), reply(inv, 180, "Ringing"))
		m, _ := uas.recv(200 * time.Millisecond)
		if strings.HasPrefix(m, "CANCEL ") {
			uas.send(from.String(), reply(m, 200, "OK"))
			uas.send(from.String(), reply(inv, 487, "Request Terminated"))
			cancelled = true
			break
		}
	}
	if !cancelled {
		t.Fatal("no CANCEL upstream after 8 s of ringing; the ring bound is 1 s")
	}
	final := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		m, _ := uac.recv(time.Until(deadline))
		if strings.HasPrefix(m, "SIP/2.0 4") {
			final = firstLine(m)
			break
		}
	}
	if !strings.HasPrefix(final, "SIP/2.0 408 ") && !strings.HasPrefix(final, "SIP/2.0 487 ") {
		t.Errorf("the caller's final answer %q, want 408 or 487", final)
	}
	for deadline := time.Now().Add(5 * time.Second); eng.LiveCalls() != 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := eng.LiveCalls(); n != 0 {
		t.Errorf("%d live calls after the ring bound; want 0 (the end reached the engine)", n)
	}
}
