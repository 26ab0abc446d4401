package sipfront

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/tollgate-voip/tollgate/sipframe"
)

// listenUDP binds one UDP socket and reads it from one goroutine per CPU,
// each with its own buffers, so datagrams are screened in parallel.
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
	n := runtime.GOMAXPROCS(0)
	for i := 0; i < n; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.readUDP(ctx, uc)
		}()
	}
	return nil
}

func (s *Server) readUDP(ctx context.Context, uc *net.UDPConn) {
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
		if n > s.cfg.Limit.MaxMessageBytes {
			s.stats.Malformed.Add(1)
			continue
		}
		if n == 0 || s.limit != nil && !s.limit.allow(src.Addr(), time.Now()) {
			if n > 0 {
				s.stats.Limited.Add(1)
			}
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
			select {
			case slots <- struct{}{}:
			default:
				s.stats.Limited.Add(1)
				c.Close() // at the connection limit
				continue
			}
			if conf != nil {
				c = tls.Server(c, conf)
			}
			if !s.track(c, true) {
				c.Close()
				<-slots
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-slots }()
				defer s.track(c, false)
				defer c.Close()
				s.serveConn(ctx, c, tr)
			}()
		}
	}()
	return nil
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
	idle := time.Duration(s.cfg.Limit.IdleTimeout) * time.Second
	max := s.cfg.Limit.MaxMessageBytes
	r := bufio.NewReaderSize(c, 4096)
	src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	msg := make([]byte, 0, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		var err error
		msg, err = sipframe.Read(r, msg, max)
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
