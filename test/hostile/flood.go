package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sender sends messages at one listener and drains what comes back.
// Over UDP all go from one socket. Over TCP each message goes on its own
// connection, half-closed after the message, so a message that breaks
// the stream's framing cannot swallow the ones after it: every message
// reaches the parser on its own. At most 16 connections are open at
// once, half the front end's default per-source cap
// (sip.limits.max_connections_per_source).
type Sender struct {
	network, target string
	udp             *net.UDPConn
	dst             *net.UDPAddr

	sem        chan struct{}
	inflight   sync.WaitGroup
	DialErrors atomic.Int64 // TCP connections that could not be opened
	Answers    atomic.Int64 // datagrams / stream reads received back
	wg         sync.WaitGroup
}

// NewSender opens a loopback socket (udp) or prepares connections (tcp)
// to target.
func NewSender(network, target string) (*Sender, error) {
	s := &Sender{network: network, target: target, sem: make(chan struct{}, 16)}
	if network != "udp" {
		return s, nil
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	if s.dst, err = net.ResolveUDPAddr("udp", target); err != nil {
		c.Close()
		return nil, err
	}
	s.udp = c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			if _, err := c.Read(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			s.Answers.Add(1)
		}
	}()
	return s, nil
}

// Local is the address generated messages name in Via: the UDP socket,
// or for TCP a placeholder on loopback (answers come back on the
// connection whatever the Via says).
func (s *Sender) Local() string {
	if s.udp != nil {
		return s.udp.LocalAddr().String()
	}
	return "127.0.0.1:5060"
}

// Send sends one message (over TCP, in the background: Sync waits).
func (s *Sender) Send(b []byte) error {
	if s.udp != nil {
		if _, err := s.udp.WriteToUDP(b, s.dst); err != nil && !strings.Contains(err.Error(), "message too long") {
			return err
		}
		return nil
	}
	s.sem <- struct{}{}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer func() { <-s.sem }()
		c, err := net.DialTimeout("tcp", s.target, 2*time.Second)
		if err != nil {
			s.DialErrors.Add(1)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(b); err != nil {
			return
		}
		_ = c.(*net.TCPConn).CloseWrite()
		buf := make([]byte, 8192)
		for {
			if _, err := c.Read(buf); err != nil {
				return // the listener closed the stream after our end
			}
			s.Answers.Add(1)
		}
	}()
	return nil
}

// Sync waits until every message sent over TCP has been written and its
// connection closed by the listener (or timed out).
func (s *Sender) Sync() { s.inflight.Wait() }

// Close closes the socket and waits for the readers.
func (s *Sender) Close() {
	s.Sync()
	if s.udp != nil {
		s.udp.Close()
	}
	s.wg.Wait()
}

// Exchange sends msg from a fresh socket or connection and returns the
// first answer starting with want ("" and an error when none came within
// wait). "PORT" in msg is replaced by the fresh socket's port.
func Exchange(network, target, msg, want string, wait time.Duration) (string, error) {
	var c net.Conn
	var err error
	if network == "udp" {
		c, err = net.Dial("udp", target)
	} else {
		c, err = net.DialTimeout("tcp", target, wait)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	if _, err := c.Write([]byte(strings.ReplaceAll(msg, "PORT", port))); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if network == "udp" {
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return "", fmt.Errorf("no %q within %s: %w", want, wait, err)
			}
			if m := string(buf[:n]); strings.HasPrefix(m, want) {
				return m, nil
			}
		}
	}
	r := bufio.NewReader(c)
	for {
		var b strings.Builder
		clen := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", fmt.Errorf("no %q within %s: %w", want, wait, err)
			}
			b.WriteString(line)
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
				clen, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, max(clen, 0))
		if _, err := io.ReadFull(r, body); err != nil {
			return "", err
		}
		b.Write(body)
		if m := b.String(); strings.HasPrefix(m, want) {
			return m, nil
		}
	}
}

// OptionsRequest is a valid OPTIONS; PORT stands for the sender's port,
// id makes its Call-ID and branch unique.
func OptionsRequest(network, target, id string) string {
	tr := strings.ToUpper(network)
	return "OPTIONS sip:" + target + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + tr + " 127.0.0.1:PORT;branch=z9hG4bK-probe-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe" + id + "\r\nTo: <sip:" + target + ">\r\n" +
		"Call-ID: probe-" + id + "@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
}

// Alive checks that the listener answers a valid OPTIONS with 200, up
// to three tries (UDP may lose one while the socket buffer is full).
func Alive(network, target, id string) error {
	var err error
	for try := 0; try < 3; try++ {
		if _, err = Exchange(network, target, OptionsRequest(network, target, id+"-"+strconv.Itoa(try)), "SIP/2.0 200", 2*time.Second); err == nil {
			return nil
		}
	}
	return err
}

// Result is what one flood did.
type Result struct {
	Sent, SendErrors, Probes, Wedges int
	Duration                         time.Duration
}

// Flood sends msgs in order, checking every probeEvery messages (and at
// the end) that the listener still answers; a failed check is a wedge.
// It stops early after the first wedge or when budget is spent.
func Flood(s *Sender, msgs [][]byte, probeEvery int, budget time.Duration, alive func(n int) error) (Result, error) {
	var r Result
	start := time.Now()
	var firstErr error
	for i, m := range msgs {
		if err := s.Send(m); err != nil {
			r.SendErrors++
			if firstErr == nil {
				firstErr = err
			}
		}
		r.Sent++
		if (i+1)%probeEvery == 0 || i == len(msgs)-1 {
			s.Sync()
			r.Probes++
			if err := alive(i); err != nil {
				r.Wedges++
				r.Duration = time.Since(start)
				return r, fmt.Errorf("after message %d: %w", i, err)
			}
			if time.Since(start) > budget {
				r.Duration = time.Since(start)
				return r, fmt.Errorf("time budget %s spent after %d of %d messages", budget, i+1, len(msgs))
			}
		}
	}
	r.Duration = time.Since(start)
	return r, firstErr
}
