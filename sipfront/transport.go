package sipfront

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/internal/procs"
	"github.com/tollgate-voip/tollgate/sipframe"
)

// listenUDP binds one UDP socket and reads it from procs.Max()
// goroutines, each with its own buffers: one waiting for datagrams and
// the others joining in while a backlog lasts (udpReaders), or all of
// them waiting when screening waits on the network (ScreeningWaits).
func (s *Server) listenUDP(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	uc := pc.(*net.UDPConn)
	_ = uc.SetReadBuffer(4 << 20)
	s.mu.Lock()
	s.pcs = append(s.pcs, pc)
	s.addrs = append(s.addrs, pc.LocalAddr())
	s.mu.Unlock()
	n := s.udpReaders
	if n <= 0 {
		n = procs.Max() // the Ps under load, not one P of a quiet moment
	}
	rs := &udpReaders{help: make(chan struct{}, 1), each: make(chan struct{})}
	for i := 0; i < n; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.readUDP(ctx, uc, rs, i > 0 && !s.waits)
		}()
	}
	return nil
}

// udpReaders coordinates the goroutines reading one UDP socket. One
// reader waits for datagrams; the others (helpers) wait on help, which a
// reader signals when one batch did not take every datagram queued, and
// read until the socket is empty. Several readers waiting on the socket
// at once would hand it to each other after every batch, waking a
// goroutine (and an OS thread) each time: a quarter of a redirected
// call's CPU with two Ps (docs/benchmarks.md, issue 17, sip17c). A
// reader that blocks holds up the datagrams behind it until its batch is
// done, so when screening waits on the network every reader waits on
// the socket instead (Options.ScreeningWaits).
type udpReaders struct {
	help chan struct{}
	// each is closed when batched system calls are not available: every
	// reader then reads one datagram at a time (readUDPEach).
	each     chan struct{}
	eachOnce sync.Once
}

// backlog asks one more reader to help, and every P for the process
// (procs.Busy) if it runs on one.
func (rs *udpReaders) backlog() {
	procs.Busy()
	select {
	case rs.help <- struct{}{}:
	default: // already asked
	}
}

// fallBack makes every reader read one datagram at a time.
func (rs *udpReaders) fallBack() { rs.eachOnce.Do(func() { close(rs.each) }) }

// admit reports whether a datagram of n octets from src is to be
// handled: not empty, not over sip.limits.max_message_bytes and within
// the source's request rate.
func (s *Server) admit(n int, src netip.AddrPort) bool {
	if n > s.cfg.Limit.MaxMessageBytes {
		s.stats.Malformed.Add(1)
		return false
	}
	if n == 0 {
		return false
	}
	if s.limit != nil && !s.limit.allow(src.Addr(), time.Now()) {
		s.stats.Limited.Add(1)
		return false
	}
	return true
}

// readUDPEach reads uc one datagram at a time (readUDP where batched
// system calls are not available).
func (s *Server) readUDPEach(ctx context.Context, uc *net.UDPConn) {
	w := s.newWorker()
	w.udp = uc
	// One octet more than allowed tells an oversized datagram apart.
	buf := make([]byte, s.cfg.Limit.MaxMessageBytes+1)
	for {
		n, src, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !s.admit(n, src) {
			continue
		}
		if resp, dst := w.handleSafe(ctx, buf[:n], src, "udp"); resp != nil {
			_, _ = uc.WriteToUDPAddrPort(resp, dst)
		}
	}
}

// listenStream binds a TCP (or, with conf, TLS) listener.
func (s *Server) listenStream(ctx context.Context, tr, addr string, conf *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.addrs = append(s.addrs, ln.Addr())
	s.mu.Unlock()
	slots := make(chan struct{}, s.cfg.Limit.MaxConnections)
	per := newConnCount(s.cfg.Limit.MaxConnectionsPerSource, s.exempt())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			// One source may hold only its share of the slots, so an
			// address that opens connections by the thousand locks out
			// itself, not every other caller.
			src := remoteAddr(c)
			if !per.take(src) {
				s.stats.Limited.Add(1)
				s.stats.PerSourceRefused.Add(1)
				c.Close()
				continue
			}
			select {
			case slots <- struct{}{}:
			default:
				s.stats.Limited.Add(1)
				per.give(src)
				c.Close() // at the connection limit
				continue
			}
			if conf != nil {
				c = tls.Server(c, conf)
			}
			if !s.track(c, true) {
				c.Close()
				per.give(src)
				<-slots
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-slots }()
				defer per.give(src)
				defer s.track(c, false)
				defer c.Close()
				s.serveConn(ctx, c, tr)
			}()
		}
	}()
	return nil
}

// remoteAddr is a connection's peer address (unmapped).
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// exempt lists the sources without a per-source connection cap: the
// trusted proxies and the proxy's next hops (which the rate limit exempts
// too).
func (s *Server) exempt() []netip.Prefix {
	out := slices.Clone(s.cfg.Map.Trusted)
	if s.proxy != nil {
		for _, t := range s.proxy.targets {
			if t.addr.IsValid() {
				out = append(out, netip.PrefixFrom(t.addr.Addr(), t.addr.Addr().BitLen()))
			}
		}
	}
	return out
}

// outgoing reports whether c is a connection the proxy opened itself.
func (s *Server) outgoing(c net.Conn) bool {
	p := s.proxy
	if p == nil {
		return false
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	for _, oc := range p.conns {
		if oc == c {
			return true
		}
	}
	return false
}

// connCount counts one listener's open connections per source address.
type connCount struct {
	max    int
	exempt []netip.Prefix
	mu     sync.Mutex
	n      map[netip.Addr]int
}

func newConnCount(max int, exempt []netip.Prefix) *connCount {
	return &connCount{max: max, exempt: exempt, n: map[netip.Addr]int{}}
}

// take counts a new connection from a; false when a is at its cap.
func (cc *connCount) take(a netip.Addr) bool {
	if cc.max <= 0 || trusted(cc.exempt, a) {
		return true
	}
	a = sourceKey(a)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.n[a] >= cc.max {
		return false
	}
	cc.n[a]++
	return true
}

// give forgets a closed connection from a.
func (cc *connCount) give(a netip.Addr) {
	if cc.max <= 0 || trusted(cc.exempt, a) {
		return
	}
	a = sourceKey(a)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.n[a] <= 1 {
		delete(cc.n, a)
	} else {
		cc.n[a]--
	}
}

func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// serveConn reads framed messages off one stream connection; a framing
// error, an oversized message or an idle timeout closes it.
func (s *Server) serveConn(ctx context.Context, c net.Conn, tr string) {
	w := s.newWorker()
	w.conn = c
	idle := s.cfg.Limit.IdleTimeout.Duration()
	max := s.cfg.Limit.MaxMessageBytes
	r := bufio.NewReaderSize(c, 4096)
	src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	msg := make([]byte, 0, 4096)
	// A new connection has the handshake timeout for its TLS handshake
	// and first message, so connections that never speak (or stall the
	// handshake) give their slot back soon; later ones the idle timeout.
	wait := idle
	if hs := s.cfg.Limit.HandshakeTimeout.Duration(); hs > 0 && !s.outgoing(c) {
		wait = hs
		_ = c.SetWriteDeadline(time.Now().Add(hs))
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		var err error
		msg, err = sipframe.Read(r, msg, max)
		wait = idle
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.stats.Malformed.Add(1)
			}
			return
		}
		if len(msg) == 0 {
			continue // keep-alive CRLFs
		}
		if s.limit != nil && !s.limit.allow(src.Addr(), time.Now()) {
			s.stats.Limited.Add(1)
			continue
		}
		if resp, _ := w.handleSafe(ctx, msg, src, tr); resp != nil {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}
}
