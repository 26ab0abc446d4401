// Package sipfront puts the screening engine on the wire as SIP: a
// stateless redirect server (302/403/603/503) or a dialog-stateful proxy.
package sipfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/certfile"
	"github.com/tollgate-voip/tollgate/screen"
)

// Engine is what the front end needs of the screening engine.
type Engine interface {
	Screen(ctx context.Context, c *screen.Call, v *screen.Verdict) error
	Event(ctx context.Context, ev engine.Event) (engine.EventResult, error)
}

// Options configures New.
type Options struct {
	Config *config.SIP
	Engine Engine
	Logger *slog.Logger
	// Reporter, if set, receives attack signals: scanner User-Agents,
	// probes for unknown users, failed digest authentication (the attack
	// guard; see report.go).
	Reporter attack.Reporter
	// ScannerUAs are the User-Agent prefixes of attack tools (nil:
	// attack.DefaultScannerUAs); pass the guard's list.
	ScannerUAs []string
	// ScreeningWaits says that screening a call waits on the network
	// (cluster mode: the shared counters), so every UDP reader waits on
	// its socket. Otherwise one does and the others join in only while a
	// backlog lasts (udpReaders).
	ScreeningWaits bool
}

// Stats counts what the front end did since it started.
type Stats struct {
	Messages    atomic.Int64 // every message read
	Malformed   atomic.Int64 // refused by the scanner or the mapping
	Limited     atomic.Int64 // dropped by the per-source rate limit
	Responses   atomic.Int64 // responses received (ignored by the redirect server, routed by the proxy)
	Invites     atomic.Int64
	Redirected  atomic.Int64
	Rejected    atomic.Int64
	Unavailable atomic.Int64
	Refused     atomic.Int64 // the engine refused the input
	Forwarded   atomic.Int64 // proxy: initial INVITEs forwarded to a next hop
	Answered    atomic.Int64 // proxy: calls answered
	TornDown    atomic.Int64 // proxy: answered calls tollgate ended (max duration, kill switch, disconnect)
	Reported    atomic.Int64 // attack signals handed to the reporter

	PerSourceRefused atomic.Int64 // TCP/TLS connections refused at the per-source cap (also in Limited)
	TimedOut         atomic.Int64 // proxy: forwarded INVITEs given up with 408 (Timer B or C)
	Full             atomic.Int64 // proxy: INVITEs answered 503 at sip.limits.max_transactions (also in Unavailable)
}

// Server is a running SIP front end.
type Server struct {
	cfg    *config.SIP
	eng    Engine
	log    *slog.Logger
	mapper *Mapper
	limit  *limiter
	stats  Stats
	proxy  *proxy

	reporter   attack.Reporter
	scannerUAs []string
	waits      bool // Options.ScreeningWaits

	mu     sync.Mutex
	closed bool
	lns    []net.Listener
	pcs    []net.PacketConn
	addrs  []net.Addr
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	cancel context.CancelFunc

	testHook   func(raw []byte) // called before each message is handled (tests)
	udpReaders int              // goroutines per UDP socket; 0: GOMAXPROCS (tests set it)
}

// New checks the options; Start opens the listeners.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Engine == nil {
		return nil, errors.New("sipfront: config and engine are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: o.Config, eng: o.Engine, log: log, mapper: NewMapper(o.Config.Map), conns: map[net.Conn]struct{}{},
		reporter: o.Reporter, scannerUAs: o.ScannerUAs, waits: o.ScreeningWaits}
	if s.scannerUAs == nil {
		s.scannerUAs = attack.DefaultScannerUAs
	}
	if l := o.Config.Limit; l.RequestsPerSecond > 0 {
		s.limit = newLimiter(float64(l.RequestsPerSecond), float64(l.Burst), o.Config.Map.Trusted)
	}
	if o.Config.Mode == config.SIPProxy {
		p, err := newProxy(s)
		if err != nil {
			return nil, err
		}
		s.proxy = p
	}
	return s, nil
}

// Stats returns the live counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Addrs returns the bound addresses in the order of the listen list.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Start binds every configured listener and serves until ctx ends or
// Close is called. A bind error closes what was opened and is returned.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	var tlsConf *tls.Config
	for _, l := range s.cfg.Listen {
		tr, addr, _ := strings.Cut(l, ":")
		var err error
		switch tr {
		case "udp":
			err = s.listenUDP(ctx, addr)
		case "tcp":
			err = s.listenStream(ctx, "tcp", addr, nil)
		case "tls":
			if tlsConf == nil {
				cf, cerr := certfile.Load(s.cfg.TLSCert, s.cfg.TLSKey)
				if cerr != nil {
					s.Close()
					return fmt.Errorf("sipfront: tls: %w", cerr)
				}
				tlsConf = cf.Config()
			}
			err = s.listenStream(ctx, "tls", addr, tlsConf)
		default:
			err = fmt.Errorf("unknown transport %q", tr)
		}
		if err != nil {
			s.Close()
			return fmt.Errorf("sipfront: listen %s: %w", l, err)
		}
	}
	if s.proxy != nil {
		if err := s.proxy.start(ctx); err != nil {
			s.Close()
			return err
		}
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return nil
}

// Close stops every listener and connection and waits for the readers.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	for _, l := range s.lns {
		l.Close()
	}
	for _, pc := range s.pcs {
		pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.proxy != nil {
		s.proxy.close()
	}
	s.wg.Wait()
	return nil
}
