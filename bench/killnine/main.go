// Command killnine measures how many acknowledged decisions a tollgate
// node loses when it is killed with SIGKILL under load: it starts
// 'tollgate serve' on loopback with a fresh data directory, screens calls
// at a bounded rate for a bounded time, kills the node without warning,
// then reads the SQLite decision log and reports every answered screening
// whose decision is missing, and how long before the kill it was answered.
//
// With -sip the calls are SIP INVITEs over UDP to the node's redirect
// front end (one datagram each, no retransmission) and an answer is the
// final response; the SIP front end does not wait for the store, so this
// measures its documented flush window instead of the API's durable
// acknowledgement.
//
//	go build -o /tmp/tollgate ./cmd/tollgate
//	go run ./bench/killnine -bin /tmp/tollgate -rate 2000 -for 10s
//	go run ./bench/killnine -bin /tmp/tollgate -rate 1000 -for 10s -sip
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
)

// policy allows every call; the token "test" (its SHA-256 below) screens.
const policy = `
server:
  tokens:
    - {name: pbx, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: allow
tenants:
  acme: {}
`

// sipPolicy adds the redirect front end; unknown tenants take the
// defaults, so every call is allowed (a 302).
const sipPolicy = `
allow_unknown_tenants: true
sip:
  listen: [udp:%s]
  upstream: sip:127.0.0.1:5090
  map: {extension_header: X-Extension}
  limits: {requests_per_s: 0}
`

func main() {
	bin := flag.String("bin", "tollgate", "tollgate binary")
	sipMode := flag.Bool("sip", false, "screen SIP INVITEs over UDP instead of POST /v1/screen")
	rate := flag.Int("rate", 2000, "screenings a second (bounded)")
	dur := flag.Duration("for", 10*time.Second, "load time before the kill (at most 60s)")
	conns := flag.Int("conns", 32, "concurrent clients")
	flag.Parse()
	*dur = min(*dur, time.Minute)
	if err := run(*bin, *rate, *dur, *conns, *sipMode); err != nil {
		fmt.Fprintln(os.Stderr, "killnine:", err)
		os.Exit(1)
	}
}

func run(bin string, rate int, dur time.Duration, conns int, sipMode bool) error {
	dir, err := os.MkdirTemp("", "killnine-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pol, sipAddr := policy, ""
	if sipMode {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		sipAddr = pc.LocalAddr().String()
		pc.Close()
		pol += fmt.Sprintf(sipPolicy, sipAddr)
	}
	cfg := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(cfg, []byte(pol), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "-config", cfg, "-data", data, "-listen", addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	base := "http://" + addr
	for t0 := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(t0) > 30*time.Second {
			cmd.Process.Kill()
			return fmt.Errorf("serve did not start: %s", logs.String())
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 5 * time.Second}
	type ack struct {
		id  string
		at  time.Time
		lat time.Duration
	}
	var (
		mu   sync.Mutex
		acks []ack
		fail atomic.Int64
		seq  atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	work := make(chan struct{}, conns)
	var wg sync.WaitGroup
	closeSIP := func() {}
	if sipMode {
		// One socket: this goroutine sends an INVITE per tick token, the
		// reader below takes each final response as the answer.
		uc, err := net.Dial("udp", sipAddr)
		if err != nil {
			cmd.Process.Kill()
			return err
		}
		closeSIP = func() { uc.Close() }
		local := uc.LocalAddr().String()
		var sentMu sync.Mutex
		sent := map[string]time.Time{}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range work {
				n := seq.Add(1)
				id := fmt.Sprint("k-", n)
				msg := fmt.Sprintf("INVITE sip:+12125550100@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-%[3]s;rport\r\n"+
					"From: <sip:%[4]d@%[2]s>;tag=t%[3]s\r\nTo: <sip:+12125550100@%[1]s>\r\nCall-ID: %[3]s\r\nCSeq: 1 INVITE\r\n"+
					"Contact: <sip:%[4]d@%[2]s>\r\nMax-Forwards: 70\r\nX-Extension: %[4]d\r\nContent-Length: 0\r\n\r\n",
					sipAddr, local, id, 1000+n%500)
				sentMu.Lock()
				sent[id] = time.Now()
				sentMu.Unlock()
				if _, err := uc.Write([]byte(msg)); err != nil {
					fail.Add(1)
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				n, err := uc.Read(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // ICMP refusals after the kill
				}
				code, id := sipAnswer(buf[:n])
				if code < 200 {
					continue
				}
				now := time.Now()
				sentMu.Lock()
				t0, ok := sent[id]
				delete(sent, id)
				sentMu.Unlock()
				if !ok {
					continue
				}
				if code >= 400 {
					fail.Add(1)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{id, now, now.Sub(t0)})
				mu.Unlock()
			}
		}()
		conns = 0
	}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				n := seq.Add(1)
				id := fmt.Sprint("k-", n)
				body := fmt.Sprintf(`{"call_id":%q,"tenant":"acme","extension":"%d","caller":"+12125550100","callee":"+4930123456"}`, id, n%500)
				req, _ := http.NewRequest("POST", base+"/v1/screen", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer test")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					fail.Add(1)
					continue
				}
				var buf [512]byte
				for {
					if _, err := resp.Body.Read(buf[:]); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					fail.Add(1)
					continue
				}
				now := time.Now()
				mu.Lock()
				acks = append(acks, ack{id, now, now.Sub(t0)})
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
load:
	for {
		select {
		case <-ctx.Done():
			break load
		case <-tick.C:
			select {
			case work <- struct{}{}:
			default: // all clients busy: the offered load is bounded, not queued
			}
		}
	}
	// Kill while requests are still in flight.
	mu.Lock()
	killAt := time.Now()
	cmd.Process.Kill()
	acked := slices.Clone(acks)
	mu.Unlock()
	cmd.Wait()
	close(work)
	if sipMode {
		time.Sleep(200 * time.Millisecond) // let the sender drain its queue
		closeSIP()
	}
	wg.Wait()
	elapsed := killAt.Sub(start)

	st, err := seglog.Open(filepath.Join(data, "records"), seglog.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	ds, err := st.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		return err
	}
	stored := make(map[string]bool, len(ds))
	for _, d := range ds {
		stored[d.CallID] = true
	}
	lost, window := 0, time.Duration(0)
	lats := make([]time.Duration, 0, len(acked))
	for _, a := range acked {
		lats = append(lats, a.lat)
		if !stored[a.id] {
			lost++
			window = max(window, killAt.Sub(a.at))
		}
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	fmt.Printf("answered %d screenings in %s (%.0f/s), %d failed; stored %d decisions\n", len(acked), elapsed.Round(time.Millisecond), float64(len(acked))/elapsed.Seconds(), fail.Load(), len(ds))
	fmt.Printf("latency p50 %s p99 %s max %s\n", pct(0.5), pct(0.99), pct(1))
	fmt.Printf("acknowledged but lost after kill -9: %d; oldest answered %s before the kill\n", lost, window.Round(time.Millisecond))
	return nil
}

// sipAnswer returns a SIP response's status code and Call-ID (0 for a
// request or a datagram that is not SIP).
func sipAnswer(b []byte) (code int, callID string) {
	if !bytes.HasPrefix(b, []byte("SIP/2.0 ")) || len(b) < 11 {
		return 0, ""
	}
	for _, c := range b[8:11] {
		if c < '0' || c > '9' {
			return 0, ""
		}
		code = code*10 + int(c-'0')
	}
	for line := range bytes.SplitSeq(b, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && (bytes.EqualFold(k, []byte("Call-ID")) || bytes.Equal(k, []byte("i"))) {
			return code, string(bytes.TrimSpace(v))
		}
	}
	return code, ""
}
