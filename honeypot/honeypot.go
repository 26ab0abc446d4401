// Package honeypot is a decoy PBX: a SIP user agent server that looks like
// a stock Asterisk, answers OPTIONS, challenges REGISTER and eventually
// "accepts" a guessed password, answers INVITE with 100/180/200 and plays
// an IVR prompt over RTP (G.711 µ-law) while collecting RFC 4733 DTMF,
// then hangs up. It never forwards a call and never opens a connection of
// its own: every packet it sends goes back to the address the attacker
// sent from (RTP included). Every request is recorded with the full SIP
// message as evidence and feeds the attack guard and the reputation
// database: who scanned, which credentials were tried, which numbers
// were dialed.
//
// It is built on a plain UDP socket with sipgo's message parser rather
// than on sipgo's server: a decoy needs no transactions or dialogs, and
// keeping none lets it drop floods before allocating anything per request
// (sipgo's transaction layer keeps state for every request for tens of
// seconds, which a flood of distinct requests turns into unbounded memory).
package honeypot

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/sipframe"
)

// Options configures a Server. Zero values take the defaults noted.
type Options struct {
	// Listen is the UDP address (host:port) of the decoy.
	Listen string
	// ListenTCP, when set, is a TCP address the decoy also answers on
	// (scanners and dialers that try SIP over TCP). Empty: UDP only.
	ListenTCP string
	// MaxConns bounds open TCP connections (256); IdleTimeout closes a
	// connection that sends nothing for that long (30 s).
	MaxConns    int
	IdleTimeout time.Duration
	// Banner is the Server/User-Agent the decoy shows ("Asterisk PBX 18.20.2").
	Banner string
	// Realm is the digest realm ("asterisk").
	Realm string
	// AcceptAfter is how many credential guesses for one user from one
	// address are refused before one is accepted (3).
	AcceptAfter int
	// CallDuration is how long a decoy call lasts before the decoy hangs
	// up (20 s).
	CallDuration time.Duration
	// MaxCalls bounds concurrent decoy calls (RTP sockets) (32).
	MaxCalls int
	// RatePerSource and BurstPerSource bound the requests handled per
	// source address (20/s, burst 40); more are dropped unanswered.
	RatePerSource  float64
	BurstPerSource int
	// Rate bounds the requests handled in total (5000/s).
	Rate float64
	// MaxSources bounds the addresses tracked for rate limiting (10000).
	MaxSources int
	// MaxMessage bounds a datagram (8192 bytes).
	MaxMessage int
	// Normalize turns a dialed string into E.164 ("" when it cannot).
	Normalize func(dialed string) string
	// Events stores what happened (nil: events are only counted).
	Events EventStore
	// Reputation receives the scanners, fingerprints and dialed numbers.
	Reputation reputation.Store
	// Reporter receives attack events (the attack guard).
	Reporter attack.Reporter
	// IPTTL and NumberTTL are how long reputation entries from the
	// honeypot live unless seen again (30 d, 90 d).
	IPTTL, NumberTTL time.Duration
	// ScannerUAs are User-Agent prefixes recorded as fingerprints.
	ScannerUAs []string
	// Trusted reports addresses the decoy learns nothing from (the
	// operator's PBXs, trunks and proxies, attack.trusted): their
	// requests are answered and recorded as events, but give no address,
	// fingerprint or number entry. nil: none.
	Trusted func(netip.Addr) bool
	// Learning decides which dialed numbers are learned and when one is
	// confirmed (see Learning).
	Learning Learning
	// Now is the clock events are stamped with (time.Now); tests set it
	// to replay traffic spread over time.
	Now    func() time.Time
	Logger *slog.Logger

	testHook func(data []byte) // called before each packet is handled (tests)
}

func (o *Options) defaults() {
	if o.Banner == "" {
		o.Banner = "Asterisk PBX 18.20.2"
	}
	if o.Realm == "" {
		o.Realm = "asterisk"
	}
	if o.AcceptAfter <= 0 {
		o.AcceptAfter = 3
	}
	if o.CallDuration <= 0 {
		o.CallDuration = 20 * time.Second
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = 32
	}
	if o.RatePerSource <= 0 {
		o.RatePerSource = 20
	}
	if o.BurstPerSource <= 0 {
		o.BurstPerSource = 40
	}
	if o.Rate <= 0 {
		o.Rate = 5000
	}
	if o.MaxSources <= 0 {
		o.MaxSources = 10000
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 8192
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 256
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.IPTTL <= 0 {
		o.IPTTL = 30 * 24 * time.Hour
	}
	if o.NumberTTL <= 0 {
		o.NumberTTL = 90 * 24 * time.Hour
	}
	if o.ScannerUAs == nil {
		o.ScannerUAs = attack.DefaultScannerUAs
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Learning.defaults()
}

// Stats counts what the decoy did.
type Stats struct {
	Received       int64 `json:"received"`        // datagrams read
	Handled        int64 `json:"handled"`         // requests answered or recorded
	DroppedRate    int64 `json:"dropped_rate"`    // over a per-source or the global rate
	DroppedQueue   int64 `json:"dropped_queue"`   // workers busy
	Malformed      int64 `json:"malformed"`       // not SIP
	Calls          int64 `json:"calls"`           // decoy calls answered
	ActiveCalls    int64 `json:"active_calls"`    // decoy calls in progress
	EventsRecorded int64 `json:"events_recorded"` // events written to the store
	EventsDropped  int64 `json:"events_dropped"`  // events lost (recorder queue full, store errors)
	Protected      int64 `json:"protected"`       // calls to protected numbers, not learned
	Trusted        int64 `json:"trusted"`         // events from trusted sources, not learned from
}

// Server is a running decoy.
type Server struct {
	o    Options
	conn *net.UDPConn
	addr netip.AddrPort

	ln      net.Listener // nil without ListenTCP
	tcpAddr netip.AddrPort
	connMu  sync.Mutex
	tcp     map[net.Conn]struct{}

	packets chan packet
	limiter *limiter
	rec     *recorder
	secret  [32]byte

	mu       sync.Mutex
	calls    map[string]*call
	attempts map[attemptKey]int // credential guesses per (ip, user)
	answers  answers            // answered calls awaiting their ACK (learn.go)

	stats struct {
		received, handled, droppedRate, droppedQueue, malformed, calls, active atomic.Int64
	}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

type attemptKey struct {
	ip   netip.Addr
	user string
}

type packet struct {
	data []byte // exactly the datagram or framed message (at most MaxMessage+1 bytes)
	from netip.AddrPort
	at   time.Time
	conn net.Conn // the TCP connection it came on; nil for UDP
}

func (p *packet) transport() string {
	if p.conn != nil {
		return "tcp"
	}
	return "udp"
}

// Start opens the listener and serves until Close.
func Start(o Options) (*Server, error) {
	o.defaults()
	if o.Listen == "" {
		return nil, errors.New("honeypot: listen address is required")
	}
	ua, err := net.ResolveUDPAddr("udp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("honeypot: listen %q: %w", o.Listen, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("honeypot: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		o: o, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		packets:  make(chan packet, 4096),
		limiter:  newLimiter(o.RatePerSource, o.BurstPerSource, o.Rate, o.MaxSources),
		calls:    map[string]*call{},
		attempts: map[attemptKey]int{},
		cancel:   cancel,
	}
	if _, err := rand.Read(s.secret[:]); err != nil {
		conn.Close()
		cancel()
		return nil, err
	}
	s.tcp = map[net.Conn]struct{}{}
	if o.ListenTCP != "" {
		ln, err := net.Listen("tcp", o.ListenTCP)
		if err != nil {
			conn.Close()
			cancel()
			return nil, fmt.Errorf("honeypot: %w", err)
		}
		s.ln = ln
		s.tcpAddr = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	s.rec = newRecorder(o, o.Logger)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.rec.run(ctx) }()
	workers := 2
	for range workers {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.work(ctx) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.read() }()
	if s.ln != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.accept() }()
		o.Logger.Info("honeypot listening", "tcp", s.tcpAddr.String())
	}
	o.Logger.Info("honeypot listening", "udp", s.addr.String(), "banner", o.Banner)
	return s, nil
}

// Addr is the UDP address the decoy listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// TCPAddr is the TCP address, invalid without ListenTCP.
func (s *Server) TCPAddr() netip.AddrPort { return s.tcpAddr }

// Stats returns the decoy's counters.
func (s *Server) Stats() Stats {
	rs, rd := s.rec.counts()
	return Stats{
		Received: s.stats.received.Load(), Handled: s.stats.handled.Load(), DroppedRate: s.stats.droppedRate.Load(),
		DroppedQueue: s.stats.droppedQueue.Load(), Malformed: s.stats.malformed.Load(), Calls: s.stats.calls.Load(),
		ActiveCalls: s.stats.active.Load(), EventsRecorded: rs, EventsDropped: rd,
		Protected: s.rec.protected.Load(), Trusted: s.rec.trusted.Load(),
	}
}

// Close stops the decoy: ends calls, flushes recorded events.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.conn.Close()
	if s.ln != nil {
		s.ln.Close()
	}
	s.connMu.Lock()
	for c := range s.tcp {
		c.Close()
	}
	s.connMu.Unlock()
	s.mu.Lock()
	for _, c := range s.calls {
		c.stop()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

func (s *Server) read() {
	// One read buffer; a datagram that passes the limits is copied at its
	// own size, so the queue holds what was sent, not 8 KiB per entry.
	buf := make([]byte, s.o.MaxMessage+1)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				close(s.packets)
				return
			}
			continue
		}
		s.stats.received.Add(1)
		if !s.limiter.allow(from.Addr(), time.Now()) {
			s.stats.droppedRate.Add(1)
			continue
		}
		select {
		case s.packets <- packet{append([]byte(nil), buf[:n]...), from, s.o.Now(), nil}:
		default:
			s.stats.droppedQueue.Add(1)
		}
	}
}

// accept serves TCP connections, at most MaxConns at a time.
func (s *Server) accept() {
	slots := make(chan struct{}, s.o.MaxConns)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.stats.droppedRate.Add(1)
			c.Close()
			continue
		}
		s.connMu.Lock()
		if s.closed.Load() {
			s.connMu.Unlock()
			c.Close()
			return
		}
		s.tcp[c] = struct{}{}
		s.connMu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			s.serveConn(c)
			s.connMu.Lock()
			delete(s.tcp, c)
			s.connMu.Unlock()
			c.Close()
		}()
	}
}

// serveConn cuts one connection's stream into messages and queues them
// as the UDP reader does. A stream that cannot be framed is recorded as
// malformed and the connection closed.
func (s *Server) serveConn(c net.Conn) {
	defer func() { panics.Recovered(panics.Honeypot, s.o.Logger, recover(), "source", c.RemoteAddr().String()) }()
	from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	r := bufio.NewReaderSize(c, 4096)
	var msg []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
		var err error
		msg, err = sipframe.Read(r, msg, s.o.MaxMessage)
		broken := err != nil
		if broken && (!errors.Is(err, sipframe.ErrFrame) || len(msg) == 0) {
			return
		}
		if len(msg) == 0 {
			continue // keep-alive
		}
		s.stats.received.Add(1)
		if !s.limiter.allow(from.Addr(), time.Now()) {
			s.stats.droppedRate.Add(1)
			continue
		}
		s.enqueue(packet{append([]byte(nil), msg...), from, s.o.Now(), c})
		if broken {
			return // what could be read is recorded; the stream is lost
		}
	}
}

func (s *Server) enqueue(p packet) {
	defer func() { _ = recover() }() // the queue closed under us at shutdown
	select {
	case s.packets <- p:
	default:
		s.stats.droppedQueue.Add(1)
	}
}

func (s *Server) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-s.packets:
			if !ok {
				return
			}
			s.handleSafe(p)
		}
	}
}

func (s *Server) send(to netip.AddrPort, msg string) {
	_, _ = s.conn.WriteToUDPAddrPort([]byte(msg), to)
}

// sendOn sends msg back the way p came: on its TCP connection, or as a
// datagram to its source.
func (s *Server) sendOn(c net.Conn, to netip.AddrPort, msg string) {
	if c == nil {
		s.send(to, msg)
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte(msg))
}

// limiter is a token bucket per source plus a global one, with a bounded
// number of tracked sources.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	max    int
	srcs   map[netip.Addr]*bucket
	global bucket
	grate  float64
	swept  time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, global float64, max int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, srcs: map[netip.Addr]*bucket{}, grate: global,
		global: bucket{tokens: global}}
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if !b.last.IsZero() {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.global.take(now, l.grate, l.grate) {
		return false
	}
	b := l.srcs[a]
	if b == nil {
		if len(l.srcs) >= l.max && now.Sub(l.swept) > time.Second {
			// Forget sources whose bucket has refilled: they lose nothing.
			// At most once a second, so a flood of new sources costs O(1).
			l.swept = now
			for k, v := range l.srcs {
				if now.Sub(v.last).Seconds()*l.rate >= l.burst {
					delete(l.srcs, k)
				}
			}
			if len(l.srcs) >= l.max {
				return false // a flood of distinct sources: new ones wait
			}
		}
		b = &bucket{tokens: l.burst}
		l.srcs[a] = b
	}
	return b.take(now, l.rate, l.burst)
}
