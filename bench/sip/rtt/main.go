// Command rtt measures SIP INVITE round trips with microsecond timing: it
// sends INVITEs at a fixed rate over UDP, matches each final response by
// Call-ID, ACKs it and prints p50/p99/max (SIPp reports whole ms only).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("target", "127.0.0.1:5070", "SIP server (UDP host:port)")
	rate := flag.Int("rate", 2000, "INVITEs per second")
	dur := flag.Duration("duration", 5*time.Second, "how long to send")
	flag.Parse()
	c, err := net.Dial("udp", *target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtt:", err)
		os.Exit(1)
	}
	local := c.LocalAddr().String()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var rtts []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 8192)
		for {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			msg := buf[:n]
			id := header(msg, "Call-ID")
			mu.Lock()
			t0, ok := sent[string(id)]
			delete(sent, string(id))
			mu.Unlock()
			if ok && bytes.HasPrefix(msg, []byte("SIP/2.0 ")) && len(msg) > 9 && msg[8] >= '2' {
				rtts = append(rtts, now.Sub(t0))
				fmt.Fprintf(c, "ACK sip:+12125550100@%s SIP/2.0\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
					*target, header(msg, "Via"), header(msg, "From"), header(msg, "To"), id)
			}
		}
	}()
	interval := time.Second / time.Duration(*rate)
	total := int(dur.Seconds() * float64(*rate))
	start := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		id := fmt.Sprintf("rtt-%d-%d", start.UnixNano(), i)
		mu.Lock()
		sent[id] = time.Now()
		mu.Unlock()
		fmt.Fprintf(c, "INVITE sip:+12125550100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nFrom: <sip:1001@%s>;tag=r%d\r\nTo: <sip:+12125550100@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@%s>\r\nMax-Forwards: 70\r\nX-Extension: 1001\r\nContent-Length: 0\r\n\r\n",
			*target, local, id, local, i, *target, id, local)
	}
	<-done
	slices.Sort(rtts)
	if len(rtts) == 0 {
		fmt.Println("no responses")
		os.Exit(1)
	}
	q := func(p float64) time.Duration { return rtts[int(p*float64(len(rtts)-1))] }
	fmt.Printf("sent %d answered %d lost %d p50 %dus p99 %dus max %dus\n", total, len(rtts), total-len(rtts),
		q(0.5).Microseconds(), q(0.99).Microseconds(), rtts[len(rtts)-1].Microseconds())
}

// header returns the value of the first header named name.
func header(msg []byte, name string) []byte {
	for _, line := range bytes.Split(msg, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}
