//go:build linux && (amd64 || arm64)

package sipfront

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUDPBacklogHelper: one goroutine waits on a UDP socket and, when a
// batch does not take every queued datagram, a second reader joins and
// handles datagrams while the first is still busy with its own.
//
// Three batches of requests queue behind a first request held until they
// are sent; the request at 2×batch−1 then falls in a full batch, read
// when more than a batch is still queued, and is held until another
// request is handled at the same time: with no helper it would be held
// to the deadline.
func TestUDPBacklogHelper(t *testing.T) {
	b := batchSize(testSIPMaxBytes(t))
	testUDPReaders(t, false, 3*b, "backlog-"+strconv.Itoa(2*b-1))
}

// TestUDPReadersWaitWhenScreeningWaits: when screening waits on the
// network (cluster mode), a reader held by one request does not hold up
// the next datagram: another reader is waiting on the socket.
func TestUDPReadersWaitWhenScreeningWaits(t *testing.T) {
	testUDPReaders(t, true, 1, "")
}

func testSIPMaxBytes(t *testing.T) int {
	s, _ := newTestServer(t, testPolicy)
	return s.cfg.Limit.MaxMessageBytes
}

func testUDPReaders(t *testing.T, waits bool, n int, held string) {
	policy := strings.Replace(testPolicy, "listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]", "listen: [\"udp:127.0.0.1:0\"]", 1)
	s, _ := newTestServer(t, policy)
	s.waits = waits
	SetUDPReaders(s, 2)
	gate, entered := make(chan struct{}), make(chan struct{})
	var gateOnce sync.Once
	open := func() { gateOnce.Do(func() { close(gate) }) }
	together := make(chan struct{})
	var inFlight, maxInFlight atomic.Int32
	var met sync.Once
	SetTestHook(s, func(raw []byte) {
		if strings.Contains(string(raw), "Call-ID: backlog-gate\r\n") {
			close(entered)
			<-gate // holds its reader until the others are queued
			return
		}
		k := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if k <= m || maxInFlight.CompareAndSwap(m, k) {
				break
			}
		}
		if k >= 2 {
			met.Do(func() { close(together) })
		}
		if strings.Contains(string(raw), "Call-ID: "+held+"\r\n") {
			select {
			case <-together:
			case <-time.After(10 * time.Second):
			}
		}
	})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(open) // first: a failed test must not leave a reader held
	to, err := net.ResolveUDPAddr("udp", addr(s, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: to.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(id string) {
		if _, err := c.WriteToUDP([]byte(invite(id, "sip:+12125550100@edge", "")), to); err != nil {
			t.Fatal(err)
		}
	}
	send("backlog-gate")
	if waits {
		// Its reader is held before the next request is sent: that one
		// must go to another reader.
		select {
		case <-entered:
		case <-time.After(15 * time.Second):
			t.Fatal("the first request never reached a reader")
		}
	}
	for i := 0; i < n; i++ {
		send("backlog-" + strconv.Itoa(i))
	}
	if !waits {
		open()
	}
	got := 0
	buf := make([]byte, 4096)
	for got < n+1 {
		if waits && got == n {
			open() // every other request was answered past the held reader
		}
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			t.Fatalf("%d of %d answered: %v", got, n+1, err)
		}
		got++
	}
	if m := maxInFlight.Load(); !waits && m < 2 {
		t.Errorf("at most %d request handled at once; want a helper handling the backlog beside the first reader", m)
	}
}

// TestUDPArrivalWhileServing: the reader waiting on the socket serves a
// short batch before waiting again, without a receive that would find
// the socket empty. A datagram that arrives while it serves must still
// wake it. One reader; in each round a request is held inside the reader
// until a second one is queued (and the poller has seen it), then both
// must be answered, and then a lone request must be answered.
func TestUDPArrivalWhileServing(t *testing.T) {
	policy := strings.Replace(testPolicy, "listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]", "listen: [\"udp:127.0.0.1:0\"]", 1)
	s, _ := newTestServer(t, policy)
	SetUDPReaders(s, 1)
	const rounds = 6
	var entered, gates [rounds]chan struct{}
	for i := range gates {
		entered[i], gates[i] = make(chan struct{}), make(chan struct{})
	}
	SetTestHook(s, func(raw []byte) {
		for i := range gates {
			if strings.Contains(string(raw), "Call-ID: held-"+strconv.Itoa(i)+"\r\n") {
				close(entered[i])
				<-gates[i]
			}
		}
	})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opened := 0
	t.Cleanup(func() { // a failed test must not leave the reader held
		for ; opened < rounds; opened++ {
			close(gates[opened])
		}
	})
	to, err := net.ResolveUDPAddr("udp", addr(s, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: to.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(id string) {
		if _, err := c.WriteToUDP([]byte(invite(id, "sip:+12125550100@edge", "")), to); err != nil {
			t.Fatal(err)
		}
	}
	answers := func(round, want int) {
		buf := make([]byte, 4096)
		for got := 0; got < want; got++ {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("round %d: %d of %d answered: %v", round, got, want, err)
			}
			if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 302") {
				t.Fatalf("round %d: answer %q", round, buf[:n])
			}
		}
	}
	for i := 0; i < rounds; i++ {
		send("held-" + strconv.Itoa(i))
		select {
		case <-entered[i]:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: the held request never reached the reader", i)
		}
		send("behind-" + strconv.Itoa(i)) // queued while the reader is busy
		time.Sleep(20 * time.Millisecond) // every P idle: the poller takes its readiness
		close(gates[i])
		opened++
		answers(i, 2)
		send("alone-" + strconv.Itoa(i))
		answers(i, 1)
	}
}
