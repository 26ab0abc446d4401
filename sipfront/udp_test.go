package sipfront

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUDPBurst holds the readers until a burst of datagrams is queued on
// the socket, so that they are taken several at a time (recvmmsg on
// Linux): every request gets its own response, at the address its Via
// names, and an oversized or garbled datagram in the middle is dropped
// without costing its neighbours their answers.
func TestUDPBurst(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "udp6" {
				host = "[::1]"
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback:", err)
				} else {
					c.Close()
				}
			}
			testUDPBurst(t, host)
		})
	}
}

func testUDPBurst(t *testing.T, host string) {
	policy := strings.Replace(testPolicy, "listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]", "listen: [\"udp:"+host+":0\"]", 1)
	s, _ := newTestServer(t, policy)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	defer open()
	SetTestHook(s, func([]byte) { <-gate })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open(); s.Close() })
	to, err := net.ResolveUDPAddr("udp", addr(s, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	// a answers with rport (its own port), b is named by sent-by only.
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: to.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: to.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bPort := b.LocalAddr().(*net.UDPAddr).Port
	viaHost := host
	const n = 40
	want := map[string]int{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("burst-%d", i)
		ruri, code := "sip:+12125550100@edge", 302
		if i%3 == 0 {
			ruri, code = "sip:+25261234567@edge", 403
		}
		req := invite(id, ruri, "")
		if i%2 == 1 {
			req = strings.Replace(req, "127.0.0.1:5099;branch=z9hG4bK-"+id+";rport", fmt.Sprintf("%s:%d;branch=z9hG4bK-%s", viaHost, bPort, id), 1)
		}
		want[id] = code
		if _, err := a.WriteToUDP([]byte(req), to); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 10:
			big := invite("too-big", "sip:+12125550100@edge", "X-Pad: "+strings.Repeat("x", s.cfg.Limit.MaxMessageBytes)+"\r\n")
			if _, err := a.WriteToUDP([]byte(big), to); err != nil {
				t.Fatal(err)
			}
		case 20:
			if _, err := a.WriteToUDP([]byte("\x00\x01garbage\r\n\r\n"), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	open()
	got := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range []*net.UDPConn{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				k, _, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				code, text := status(t, buf[:k])
				id := header(text, "Call-ID")
				var i int
				fmt.Sscanf(id, "burst-%d", &i)
				if (c == b) != (i%2 == 1) {
					t.Errorf("%s answered at the wrong socket", id)
				}
				mu.Lock()
				if _, dup := got[id]; dup {
					t.Errorf("%s answered twice", id)
				}
				got[id] = code
				done := len(got) == n
				mu.Unlock()
				if done {
					a.SetReadDeadline(time.Now())
					b.SetReadDeadline(time.Now())
					return
				}
			}
		}()
	}
	wg.Wait()
	for id, code := range want {
		if got[id] != code {
			t.Errorf("%s: got %d, want %d", id, got[id], code)
		}
	}
	if len(got) != n {
		t.Errorf("%d responses, want %d: %v", len(got), n, got)
	}
	if m := s.Stats().Malformed.Load(); m < 2 {
		t.Errorf("malformed %d, want the oversized and the garbled datagram counted", m)
	}
}
