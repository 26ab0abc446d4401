// Package honeypot_bench measures the decoy PBX on loopback: the request
// rate it answers without loss, and its memory under a flood from many
// source addresses. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/honeypot
package honeypot_bench

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

func options(b *testing.B) (*sqlite.Reputation, honeypot.Options) {
	db, err := sqlite.OpenReputation(filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db, honeypot.Options{Listen: "127.0.0.1:0", Events: db, Reputation: db, Logger: slog.New(slog.DiscardHandler)}
}

func options1(callID string, from netip.AddrPort, to netip.AddrPort) []byte {
	return []byte("OPTIONS sip:100@" + to.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK-" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: \"sipvicious\"<sip:100@1.1.1.1>;tag=6162\r\nTo: \"sipvicious\"<sip:100@1.1.1.1>\r\n" +
		"User-Agent: friendly-scanner\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContact: <sip:100@1.1.1.1>\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n")
}

// client is one sender bound to its own loopback address, counting the
// answers it gets.
type client struct {
	conn *net.UDPConn
	got  atomic.Int64
}

func newClients(b *testing.B, n int) []*client {
	var cs []*client
	for i := range n {
		a := netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(1 + i%250)})
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			b.Fatal(err)
		}
		conn.SetReadBuffer(1 << 20)
		c := &client{conn: conn}
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, err := conn.Read(buf); err != nil {
					return
				}
				c.got.Add(1)
			}
		}()
		cs = append(cs, c)
	}
	b.Cleanup(func() {
		for _, c := range cs {
			c.conn.Close()
		}
	})
	return cs
}

// pace sends rate requests/s for d spread over the clients and returns
// how many were sent.
func pace(cs []*client, to netip.AddrPort, rate int, d time.Duration, seq *atomic.Int64) int64 {
	var wg sync.WaitGroup
	var sent atomic.Int64
	per := rate / len(cs)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
			interval := time.Second / time.Duration(max(per, 1))
			next := time.Now()
			end := next.Add(d)
			for next.Before(end) {
				msg := options1(strconv.FormatInt(seq.Add(1), 10), from, to)
				c.conn.WriteToUDPAddrPort(msg, to)
				sent.Add(1)
				next = next.Add(interval)
				if w := time.Until(next); w > 0 {
					time.Sleep(w)
				}
			}
		}()
	}
	wg.Wait()
	return sent.Load()
}

// BenchmarkNoLoss raises the offered OPTIONS rate step by step (per-source
// limits lifted) and reports the highest rate at which every request got
// its answer and every event was recorded in SQLite.
func BenchmarkNoLoss(b *testing.B) {
	for range b.N {
		db, o := options(b)
		o.RatePerSource, o.BurstPerSource, o.Rate = 1e6, 1e6, 1e6
		hp, err := honeypot.Start(o)
		if err != nil {
			b.Fatal(err)
		}
		cs := newClients(b, 16)
		var seq atomic.Int64
		best := 0
		for _, rate := range []int{1000, 2000, 4000, 8000, 12000, 16000, 24000, 32000} {
			before := int64(0)
			for _, c := range cs {
				before += c.got.Load()
			}
			st0 := hp.Stats()
			sent := pace(cs, hp.Addr(), rate, 2*time.Second, &seq)
			time.Sleep(500 * time.Millisecond)
			got := -before
			for _, c := range cs {
				got += c.got.Load()
			}
			st := hp.Stats()
			lost := sent - got
			b.Logf("offered %6d/s: sent %d, answered %d, lost %d, queue drops %d, events lost %d", rate, sent, got, lost, st.DroppedQueue-st0.DroppedQueue, st.EventsDropped-st0.EventsDropped)
			if lost > 0 || st.EventsDropped > st0.EventsDropped {
				break
			}
			best = rate
		}
		hp.Close()
		_ = db
		b.ReportMetric(float64(best), "req/s-no-loss")
	}
}

// BenchmarkFlood sends as fast as it can from 1,000 source addresses with
// a fresh Call-ID each time, with the decoy's default limits (20/s per
// source, 5,000/s in all), and reports the heap before and at the end.
func BenchmarkFlood(b *testing.B) {
	for range b.N {
		_, o := options(b)
		hp, err := honeypot.Start(o)
		if err != nil {
			b.Fatal(err)
		}
		cs := newClients(b, 1000)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var seq atomic.Int64
		var wg sync.WaitGroup
		var sent atomic.Int64
		stop := time.Now().Add(10 * time.Second)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; time.Now().Before(stop); i += 4 {
					c := cs[i%len(cs)]
					from := c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
					c.conn.WriteToUDPAddrPort(options1(strconv.FormatInt(seq.Add(1), 10), from, hp.Addr()), hp.Addr())
					sent.Add(1)
				}
			}()
		}
		peak := uint64(0)
		for time.Now().Before(stop) {
			time.Sleep(500 * time.Millisecond)
			runtime.ReadMemStats(&m1)
			peak = max(peak, m1.HeapInuse)
		}
		wg.Wait()
		time.Sleep(time.Second)
		st := hp.Stats()
		hp.Close()
		b.Logf("flood: sent %d in 10 s (%.0f/s), received %d, handled %d, dropped %d (rate) %d (queue), events recorded %d, lost %d",
			sent.Load(), float64(sent.Load())/10, st.Received, st.Handled, st.DroppedRate, st.DroppedQueue, st.EventsRecorded, st.EventsDropped)
		b.Logf("heap in use: %s before, peak %s during the flood", mib(m0.HeapInuse), mib(peak))
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
		b.ReportMetric(float64(st.Handled)/10, "handled/s")
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
