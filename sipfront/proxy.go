package sipfront

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
)

// The proxy keeps its own small transaction and dialog state (see
// README.md, "Proxy mode"): server transactions for the callers' initial
// INVITEs, client transactions for what it forwards, a route memory for
// in-dialog requests and one dialog per Call-ID.

// RFC 3261 timer values.
const (
	t1     = 500 * time.Millisecond
	t2     = 4 * time.Second
	timerB = 64 * t1         // INVITE client transaction gives up
	timerC = 3 * time.Minute // no final answer after a provisional one
	// maxRingDefault bounds ringing when the engine does not say its call
	// setup window (proxy.maxRing).
	maxRingDefault = 4 * time.Minute
	keepDone       = 64 * t1 // how long finished transactions absorb retransmissions
	tick           = 50 * time.Millisecond
)

// branchPrefix marks the branches tollgate writes (RFC 3261 magic cookie
// followed by "tg").
const branchPrefix = "z9hG4bKtg"

// flow is where a message came from or goes to.
type flow struct {
	tr   string         // udp, tcp or tls
	addr netip.AddrPort // the peer: where a datagram goes, or where to connect
	udp  *net.UDPConn   // UDP: the socket to send from (nil: the first)
	conn net.Conn       // streams: the open connection, if any
}

// target is where the proxy sends new calls of one verdict.
type target struct {
	uri  string
	tr   string
	addr netip.AddrPort
}

// inviteTx pairs the caller's INVITE server transaction with the client
// transaction of the INVITE tollgate forwarded.
type inviteTx struct {
	serverKey string
	branch    string // our branch on the forwarded INVITE ("" when not forwarded)
	in        flow   // the caller: where responses go
	out       flow   // the callee
	dlg       *dialog

	req      []byte // the forwarded INVITE (retransmitted over UDP)
	ruri     string // its Request-URI
	from, to string // its From and To values
	callID   string
	cseq     string // the CSeq number
	routes   string // its Route lines

	last []byte // last response sent to the caller (for retransmitted INVITEs)

	sent        time.Time     // forwarded at
	aAt, gAt    time.Time     // next INVITE (Timer A) / final response (Timer G) retransmission
	aIval       time.Duration // Timer A interval
	gIval       time.Duration // Timer G interval
	lastProv    time.Time     // last provisional answer (Timer C runs from it)
	provisional bool          // a 1xx came from the callee
	final       int           // the callee's final answer (or ours)
	finalAt     time.Time     // when the transaction got its final answer
	acked       bool          // the caller ACKed our non-2xx final response
	cancelled   bool          // CANCEL wanted (sent once a provisional answer came)
	cancelSent  bool
	ackFor      []byte // our ACK of the callee's non-2xx answer, re-sent on retransmissions

	// For the attack guard (report.go): who the caller is, what its
	// INVITE said, and whether it was reported as a scanner already.
	src       netip.Addr
	ua        string
	creds     bool   // the INVITE carried digest credentials
	authUser  string // their username
	tenant    string // the account's tenant, named by a trusted proxy (report.go)
	scannerUA bool

	due time.Time // its timer entry (proxy_state.go)
}

// relay remembers a request forwarded within a dialog (or one tollgate
// sent itself), so its responses find their way back.
type relay struct {
	in      flow // where responses go; zero for tollgate's own requests
	own     bool // tollgate's own BYE or CANCEL: responses are absorbed
	req     []byte
	out     flow
	invite  bool
	retrans time.Time
	ival    time.Duration
	expires time.Time
	done    bool
	due     time.Time // its timer entry
	// byeOf is the Call-ID of the dialog a forwarded BYE ends once the
	// other side accepts it ("" for other requests).
	byeOf string
}

// Dialog states.
const (
	early = iota
	confirmed
	ending
)

// dialog is one call through the proxy.
type dialog struct {
	callID    string
	callerTag string
	calleeTag string
	state     int
	tenant    string
	extension string
	callee    string
	intl      bool
	outbound  bool
	maxDur    int
	answered  time.Time
	endedAt   time.Time
	killWhy   string // teardown asked for while early

	tx          *inviteTx
	callerFlow  flow
	calleeFlow  flow
	callerFrom  string // From of the INVITE (the caller's URI and tag)
	calleeTo    string // To of the 2xx (the callee's URI and tag)
	callerURI   string // the caller's Contact
	calleeURI   string // the callee's Contact
	callerRoute string // Route lines toward the caller beyond tollgate
	calleeRoute string // Route lines toward the callee beyond tollgate
	callerCSeq  uint32
	calleeCSeq  uint32

	due time.Time // its timer entry
}

// outMsg is one message to send once the lock is released.
type outMsg struct {
	f flow
	b []byte
}

// effects collects what a state change must do outside the lock.
type effects struct {
	out []outMsg
	ev  []engine.Event
}

func (e *effects) send(f flow, b []byte) { e.out = append(e.out, outMsg{f, b}) }

func (e *effects) event(id, typ string, now time.Time) {
	e.ev = append(e.ev, engine.Event{CallID: id, Type: typ, Time: now})
}

type proxy struct {
	s       *Server
	log     *slog.Logger
	targets [4]target // by screen.Action: allow, challenge, honeypot (reject unused)
	blocks  *blocks.Live
	now     func() time.Time

	self   map[string]netip.AddrPort // per transport: our address in Via and Record-Route
	ours   map[netip.AddrPort]bool   // every listener address
	udp    *net.UDPConn
	sendFn func(f flow, b []byte) error // replaced by tests

	// Transactions, relays and dialogs, sharded by Call-ID, with their
	// timers (proxy_state.go). txCount and dlgCount are the totals the
	// call limit (maxTx) is checked against.
	shards   [nShards]shard
	txCount  atomic.Int64
	dlgCount atomic.Int64
	maxTx    int
	// timerB and keepDone are the constants of the same names (tests
	// shorten them).
	timerB, keepDone time.Duration
	// maxRing bounds how long a forwarded INVITE may ring, whatever its
	// provisionals (which restart Timer C): the engine forgets a call with
	// no event after its call setup window (server.call_setup_s), so an
	// answer must come well before it — a callee that rang for longer
	// would have its answer refused and its call neither costed nor its
	// slot's lease extended. 4/5 of the engine's window (4 min by
	// default), else maxRingDefault.
	maxRing time.Duration
	lastSet *blocks.Set // the timer goroutine's last look at the kill switches
	// holds, when set (benchmarks), collects how long the timer goroutine
	// held each shard's lock: what a reader of that shard may wait.
	holds *[]time.Duration

	connMu sync.Mutex
	conns  map[string]net.Conn // outgoing stream connections by transport+address

	seed  maphash.Seed
	ready atomic.Bool // set once the listener addresses are known
	stop  chan struct{}
	done  chan struct{}
}

func newProxy(s *Server) (*proxy, error) {
	p := &proxy{s: s, log: s.log, now: time.Now, conns: map[string]net.Conn{}, seed: maphash.MakeSeed(),
		self: map[string]netip.AddrPort{}, ours: map[netip.AddrPort]bool{}, maxTx: s.cfg.Limit.MaxTransactions,
		timerB: timerB, keepDone: keepDone, maxRing: maxRingDefault}
	if p.maxTx <= 0 {
		p.maxTx = 100000
	}
	if cs, ok := s.eng.(interface{ CallSetup() time.Duration }); ok && cs.CallSetup() > 0 {
		p.maxRing = cs.CallSetup() * 4 / 5
	}
	p.initShards()
	p.sendFn = p.write
	cfg := s.cfg
	for i, t := range []struct {
		a   screen.Action
		uri string
	}{{screen.Allow, cfg.Upstream}, {screen.Challenge, cfg.Challenge}, {screen.Honeypot, cfg.Honeypot}} {
		if t.uri == "" {
			if i == 0 {
				return nil, errors.New("sipfront: proxy mode needs sip.upstream")
			}
			continue
		}
		tg, err := resolveTarget(t.uri)
		if err != nil {
			return nil, err
		}
		p.targets[t.a] = tg
		if s.limit != nil {
			// The next hops answer every call: the per-source limit is for callers.
			s.limit.trusted = append(slices.Clone(s.limit.trusted), netip.PrefixFrom(tg.addr.Addr(), tg.addr.Addr().BitLen()))
		}
	}
	if b, ok := s.eng.(interface{ Blocks() *blocks.Live }); ok {
		p.blocks = b.Blocks()
	}
	return p, nil
}

// resolveTarget reads a configured next hop: sip:[user@]host[:port][;transport=udp|tcp].
func resolveTarget(uri string) (target, error) {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return target{}, fmt.Errorf("sipfront: next hop %q: %v", uri, err)
	}
	tg := target{uri: uri, tr: "udp"}
	if v, ok := u.UriParams.Get("transport"); ok {
		tg.tr = strings.ToLower(v)
	}
	if tg.tr != "udp" && tg.tr != "tcp" {
		return target{}, fmt.Errorf("sipfront: next hop %q: proxy mode forwards over udp or tcp, not %s", uri, tg.tr)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return target{}, fmt.Errorf("sipfront: next hop %q: sips is not supported in proxy mode", uri)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(context.Background(), "ip", u.Host)
		if lerr != nil || len(ips) == 0 {
			return target{}, fmt.Errorf("sipfront: next hop %q: cannot resolve %s", uri, u.Host)
		}
		a = ips[0]
	}
	tg.addr = netip.AddrPortFrom(a.Unmap(), uint16(port))
	return tg, nil
}

// start learns the bound addresses and runs the timers.
func (p *proxy) start(ctx context.Context) error {
	p.s.mu.Lock()
	for i, l := range p.s.cfg.Listen {
		tr, _, _ := strings.Cut(l, ":")
		ap, err := netip.ParseAddrPort(p.s.addrs[i].String())
		if err != nil {
			p.s.mu.Unlock()
			return fmt.Errorf("sipfront: listener %s: %v", l, err)
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap.Addr().IsUnspecified() {
			p.s.mu.Unlock()
			return fmt.Errorf("sipfront: proxy mode writes its address into Via and Record-Route: listen on a specific address, not %s", l)
		}
		p.ours[ap] = true
		if _, ok := p.self[tr]; !ok {
			p.self[tr] = ap
		}
	}
	for _, pc := range p.s.pcs {
		if uc, ok := pc.(*net.UDPConn); ok && p.udp == nil {
			p.udp = uc
		}
	}
	p.s.mu.Unlock()
	for _, t := range p.targets {
		if t.uri != "" && !p.hasListener(t.tr) {
			return fmt.Errorf("sipfront: next hop %s is reached over %s: add a %s listener to sip.listen", t.uri, t.tr, t.tr)
		}
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.ready.Store(true)
	go p.timers(ctx)
	return nil
}

func (p *proxy) hasListener(tr string) bool { _, ok := p.self[tr]; return ok }

func (p *proxy) close() {
	if p.stop != nil {
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
		<-p.done
	}
	p.connMu.Lock()
	for k, c := range p.conns {
		c.Close()
		delete(p.conns, k)
	}
	p.connMu.Unlock()
}

// apply sends and emits what a state change collected.
func (p *proxy) apply(e *effects) {
	for _, m := range e.out {
		if err := p.sendFn(m.f, m.b); err != nil {
			p.log.Debug("sipfront: send failed", "transport", m.f.tr, "to", m.f.addr, "err", err)
		}
	}
	for _, ev := range e.ev {
		if _, err := p.s.eng.Event(context.Background(), ev); err != nil && !errors.Is(err, engine.ErrUnknownCall) {
			p.log.Warn("sipfront: call event refused", "call_id", ev.CallID, "type", ev.Type, "err", err)
		}
	}
}

// sendLocked sends, while the lock is still held, the datagrams a state
// change collected, so two answers relayed by two reader goroutines
// leave in the order they were handled (a 180 never overtakes its 200).
// Stream messages, which may have to connect first, are left to apply.
func (p *proxy) sendLocked(e *effects) {
	kept := e.out[:0]
	for _, m := range e.out {
		if m.f.tr != "udp" {
			kept = append(kept, m)
			continue
		}
		if err := p.sendFn(m.f, m.b); err != nil {
			p.log.Debug("sipfront: send failed", "transport", m.f.tr, "to", m.f.addr, "err", err)
		}
	}
	e.out = kept
}

// write sends one message on a flow, connecting when a stream flow has no
// open connection.
func (p *proxy) write(f flow, b []byte) error {
	if f.tr == "udp" {
		pc := f.udp
		if pc == nil {
			pc = p.udp
		}
		if pc == nil {
			return errors.New("no udp socket")
		}
		_, err := pc.WriteToUDPAddrPort(b, f.addr)
		return err
	}
	if f.conn != nil {
		_ = f.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := f.conn.Write(b); err == nil {
			return nil
		}
	}
	c, err := p.dial(f.tr, f.addr)
	if err != nil {
		return err
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write(b)
	return err
}

// dial returns the open outgoing connection to addr or opens one; what
// comes back on it is read like any other connection.
func (p *proxy) dial(tr string, addr netip.AddrPort) (net.Conn, error) {
	if tr != "tcp" || !addr.IsValid() {
		return nil, fmt.Errorf("cannot connect over %s to %s", tr, addr)
	}
	key := tr + ":" + addr.String()
	p.connMu.Lock()
	if c := p.conns[key]; c != nil {
		p.connMu.Unlock()
		return c, nil
	}
	p.connMu.Unlock()
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		return nil, err
	}
	if !p.s.track(c, true) {
		c.Close()
		return nil, net.ErrClosed
	}
	p.connMu.Lock()
	if old := p.conns[key]; old != nil {
		p.connMu.Unlock()
		p.s.track(c, false)
		c.Close()
		return old, nil
	}
	p.conns[key] = c
	p.connMu.Unlock()
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		defer p.s.track(c, false)
		defer c.Close()
		defer func() {
			p.connMu.Lock()
			if p.conns[key] == c {
				delete(p.conns, key)
			}
			p.connMu.Unlock()
		}()
		p.s.serveConn(context.Background(), c, tr)
	}()
	return c, nil
}

// from is the flow a worker's message came on.
func (w *worker) from() flow {
	return flow{tr: w.tr, addr: w.src, udp: w.udp, conn: w.conn}
}

// replyFlow is where responses to w's request go: the same connection,
// or for UDP the source address (rport) or the sent-by port.
func (w *worker) replyFlow() flow {
	f := w.from()
	if f.tr == "udp" {
		top, _ := splitComma(w.m.get(hVia))
		if _, has := viaParam(top, "rport"); !has {
			port := uint16(5060)
			if _, pt := viaSentBy(top); pt > 0 {
				port = uint16(pt)
			}
			f.addr = netip.AddrPortFrom(w.src.Addr(), port)
		}
	}
	return f
}

// serverKey identifies the caller's transaction: top Via branch and
// sent-by (RFC 3261 17.2.3).
func serverKey(m *message) string {
	top, _ := splitComma(m.get(hVia))
	br, _ := viaParam(top, "branch")
	host, port := viaSentBy(trimLWS(top))
	if !strings.HasPrefix(br, "z9hG4bK") {
		// RFC 2543 peers: Call-ID, From tag and CSeq number.
		num, _, _ := strings.Cut(m.get(hCSeq), " ")
		br = m.get(hCallID) + "|" + tagOf(m.get(hFrom)) + "|" + num
	}
	return br + "|" + host + ":" + strconv.Itoa(port)
}

// branchFor derives our branch from the caller's: a retransmission or a
// CANCEL gets the same one. The part after the dot is the loop hash of
// RFC 3261 16.6 step 8 (Request-URI, From tag, Call-ID, CSeq number).
func (p *proxy) branchFor(m *message, ruri string) string {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(serverKey(m))
	a := h.Sum64()
	return branchPrefix + strconv.FormatUint(a, 36) + "." + p.loopHash(m, ruri)
}

func (p *proxy) loopHash(m *message, ruri string) string {
	var h maphash.Hash
	h.SetSeed(p.seed)
	num, _, _ := strings.Cut(m.get(hCSeq), " ")
	for _, s := range [...]string{ruri, tagOf(m.get(hFrom)), tagOf(m.get(hTo)), m.get(hCallID), num} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// looped reports whether one of the request's Vias is ours with the loop
// hash this request would get: it came back unchanged (RFC 3261 16.3).
func (p *proxy) looped(m *message) bool {
	lh := "." + p.loopHash(m, m.ruri)
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != hVia {
			continue
		}
		for v := f.value; v != ""; {
			var one string
			one, v = splitComma(v)
			one = trimLWS(one)
			br, _ := viaParam(one, "branch")
			if !strings.HasPrefix(br, branchPrefix) || !strings.HasSuffix(br, lh) {
				continue
			}
			host, port := viaSentBy(one)
			if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && p.ours[netip.AddrPortFrom(a.Unmap(), uint16(port))] {
				return true
			}
		}
	}
	return false
}

// newBranch is a branch for a request tollgate originates.
func newBranch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return branchPrefix + hex.EncodeToString(b[:])
}

// tagOf returns the tag parameter of a From or To value.
func tagOf(v string) string {
	i := strings.LastIndex(v, ">")
	if i < 0 {
		i = 0
	}
	_, params, _ := strings.Cut(v[i:], ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(trimLWS(k), "tag") {
			return trimLWS(val)
		}
	}
	return ""
}

// ourVia is the Via tollgate puts on a request it sends on transport tr.
func (p *proxy) ourVia(tr, branch string) string {
	return "SIP/2.0/" + strings.ToUpper(tr) + " " + p.self[tr].String() + ";branch=" + branch + ";rport"
}

// ourRoute is the URI of tollgate's Record-Route on transport tr.
func (p *proxy) ourRoute(tr string) string {
	return "<sip:" + p.self[tr].String() + ";transport=" + tr + ";lr>"
}

// routeAddr reads the host and port of a Route or Record-Route entry when
// the host is an IP address.
func routeAddr(entry string) (netip.AddrPort, bool) {
	u := trimLWS(entry)
	if i := strings.IndexByte(u, '<'); i >= 0 {
		u = u[i+1:]
		if j := strings.IndexByte(u, '>'); j >= 0 {
			u = u[:j]
		}
	}
	return uriAddr(u)
}

// uriAddr reads the IP address and port of a sip URI (5060 when absent).
func uriAddr(u string) (netip.AddrPort, bool) {
	_, rest, ok := strings.Cut(u, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, ";?>"); i >= 0 {
		rest = rest[:i]
	}
	if ap, err := netip.ParseAddrPort(rest); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 5060), true
	}
	return netip.AddrPort{}, false
}

// uriTransport reads the transport parameter of a URI (udp when absent).
func uriTransport(u string) string {
	lu := strings.ToLower(u)
	if i := strings.Index(lu, ";transport="); i >= 0 {
		t := lu[i+len(";transport="):]
		if j := strings.IndexAny(t, ";>?"); j >= 0 {
			t = t[:j]
		}
		return t
	}
	return "udp"
}

// contactURI returns the URI of the first Contact value.
func contactURI(v string) string {
	one, _ := splitComma(v)
	one = trimLWS(one)
	if i := strings.IndexByte(one, '<'); i >= 0 {
		one = one[i+1:]
		if j := strings.IndexByte(one, '>'); j >= 0 {
			return one[:j]
		}
		return ""
	}
	if i := strings.IndexByte(one, ';'); i >= 0 {
		one = one[:i]
	}
	return one
}

// flowTo is a flow toward a URI's address over its transport.
func flowTo(uri string) (flow, bool) {
	ap, ok := uriAddr(uri)
	if !ok {
		return flow{}, false
	}
	return flow{tr: uriTransport(uri), addr: ap}, true
}
