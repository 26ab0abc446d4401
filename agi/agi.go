// Package agi is tollgate's FastAGI server: Asterisk's dialplan calls
// AGI(agi://tollgate:4573/screen,${EXTEN}) before dialing out, tollgate
// screens the call with its engine and applies the verdict on the channel
// itself — it sets TOLLGATE_* variables, limits the call's length and hangs
// rejected calls up with the right cause — so the dialplan holds no API
// token and a dialplan that forgets to look at the verdict still cannot
// place a rejected call.
//
// Scripts (the path of the agi:// URL):
//
//	screen[,callee[,tenant[,direction]]]  screen the call; callee defaults to agi_extension
//	pin,DIGITS                            verify a PIN after a challenge verdict
//	end[,billsec]                         the call ended (h extension): frees its concurrency slot
//
// Variables set by screen: TOLLGATE_ACTION (allow, challenge, honeypot,
// reject, unavailable), TOLLGATE_CAUSE (the hangup cause of a reject: 21,
// which chan_pjsip answers as 403; 34 → 503 when tollgate cannot decide),
// TOLLGATE_SIPCODE, TOLLGATE_RISK, TOLLGATE_REASON, TOLLGATE_MAXDUR (s, 0 =
// none) and TOLLGATE_DIAL_OPTS (L(ms) for Dial when a maximum duration
// applies). When max_duration_s applies, TIMEOUT(absolute) is set as well
// (the maximum plus RingAllowance) so the limit holds even if the dialplan
// drops TOLLGATE_DIAL_OPTS.
package agi

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
)

// Screener screens calls and takes their events (*engine.Engine).
type Screener interface {
	Screen(ctx context.Context, c *screen.Call, v *screen.Verdict) error
	Event(ctx context.Context, ev engine.Event) (engine.EventResult, error)
}

// Options configure a Server.
type Options struct {
	Engine Screener
	// Tenant is used when neither the dialplan nor the channel's
	// accountcode names one ("" = the default policy).
	Tenant string
	// Allow lists the networks PBXs may connect from (FastAGI has no
	// authentication); empty = loopback only.
	Allow []netip.Prefix
	// PINs maps "tenant/extension" (or "extension" for any tenant) to a
	// PIN hash made by HashPIN.
	PINs map[string]string
	// PINMaxFailures wrong PINs within PINLock lock an extension's PIN
	// (defaults 3 and 15 minutes).
	PINMaxFailures int
	PINLock        time.Duration
	// RingAllowance is added to max_duration_s for TIMEOUT(absolute),
	// which counts from the screening rather than from the answer
	// (default 120 s).
	RingAllowance time.Duration
	Logger        *slog.Logger
}

// Server answers FastAGI connections.
type Server struct {
	o  Options
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	fails map[string][]time.Time // PIN failures by tenant/extension

	// Stats.
	Screened, Rejected, PINOK, PINBad, Refused, Errors counter
}

type counter struct{ atomic.Int64 }

func (c *counter) add() { c.Add(1) }

// New makes a server.
func New(o Options) *Server {
	if o.PINMaxFailures <= 0 {
		o.PINMaxFailures = 3
	}
	if o.PINLock <= 0 {
		o.PINLock = 15 * time.Minute
	}
	if o.RingAllowance <= 0 {
		o.RingAllowance = 120 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, fails: map[string][]time.Time{}}
}

// Listen starts serving on addr (host:port).
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
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
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	return nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the listener and waits for sessions to end.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) allowed(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	if len(s.o.Allow) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range s.o.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

const (
	maxLine    = 4096
	maxHeaders = 128
	ioTimeout  = 10 * time.Second
)

// Session is one FastAGI conversation.
type session struct {
	c    net.Conn
	r    *bufio.Reader
	env  map[string]string
	args []string
	// lastResult is the N of the last "200 result=N" as sent (GET DATA
	// answers with the digits, which may start with 0 or hold * and #).
	lastResult string
}

var errProto = errors.New("agi: protocol error")

func (ss *session) line() (string, error) {
	_ = ss.c.SetReadDeadline(time.Now().Add(ioTimeout))
	l, err := ss.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("%w: line longer than %d bytes", errProto, maxLine)
		}
		return "", err
	}
	return strings.TrimRight(string(l), "\r\n"), nil
}

// readEnv reads the agi_* header up to the blank line.
func (ss *session) readEnv() error {
	ss.env = map[string]string{}
	for i := 0; ; i++ {
		if i > maxHeaders {
			return fmt.Errorf("%w: more than %d header lines", errProto, maxHeaders)
		}
		l, err := ss.line()
		if err != nil {
			return err
		}
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(k, "agi_") {
			return fmt.Errorf("%w: not an agi_ header line", errProto)
		}
		ss.env[k] = strings.TrimPrefix(v, " ")
	}
	if _, ok := ss.env["agi_channel"]; !ok {
		return fmt.Errorf("%w: no agi_channel", errProto)
	}
	for i := 1; ; i++ {
		v, ok := ss.env["agi_arg_"+strconv.Itoa(i)]
		if !ok {
			break
		}
		ss.args = append(ss.args, v)
	}
	return nil
}

func (ss *session) arg(i int) string {
	if i < len(ss.args) {
		return ss.args[i]
	}
	return ""
}

// cmd sends one AGI command and returns the result and the text in
// parentheses of Asterisk's "200 result=N (data)" answer.
func (ss *session) cmd(c string) (int, string, error) {
	_ = ss.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := ss.c.Write([]byte(c + "\n")); err != nil {
		return 0, "", err
	}
	for {
		l, err := ss.line()
		if err != nil {
			return 0, "", err
		}
		if l == "HANGUP" { // AGISIGHUP notice: the channel hung up
			continue
		}
		rest, ok := strings.CutPrefix(l, "200 result=")
		if !ok {
			// 510/511/520 errors (520 is multi-line up to "520 End of proper usage.")
			for strings.HasPrefix(l, "520-") {
				if l, err = ss.line(); err != nil {
					return 0, "", err
				}
			}
			return 0, "", fmt.Errorf("agi: %q answered %q", c, l)
		}
		num, data, _ := strings.Cut(rest, " ")
		ss.lastResult = num
		n, _ := strconv.Atoi(num)
		if i := strings.IndexByte(data, '('); i >= 0 {
			if j := strings.LastIndexByte(data, ')'); j > i {
				data = data[i+1 : j]
			}
		}
		return n, data, nil
	}
}

// get reads a channel variable or function; "" when unset or failing.
func (ss *session) get(name string) string {
	n, v, err := ss.cmd("GET VARIABLE " + name)
	if err != nil || n != 1 {
		return ""
	}
	return v
}

// set sets a channel variable, quoting the value.
func (ss *session) set(name, value string) error {
	_, _, err := ss.cmd("SET VARIABLE " + name + " " + quote(value))
	return err
}

// quote makes v one AGI argument: double-quoted, with quotes, backslashes
// and control characters removed (variables hold reasons and digits only).
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			continue
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	if !s.allowed(c.RemoteAddr()) {
		s.Refused.add()
		s.o.Logger.Warn("agi: connection refused: address not in asterisk.agi_allow", "remote", c.RemoteAddr().String())
		return
	}
	ss := &session{c: c, r: bufio.NewReaderSize(c, maxLine)}
	if err := ss.readEnv(); err != nil {
		s.Errors.add()
		s.o.Logger.Warn("agi: bad request", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	script := ss.env["agi_network_script"]
	if i := strings.IndexAny(script, "?/"); i >= 0 {
		script = script[:i]
	}
	var err error
	switch script {
	case "screen":
		err = s.screen(ss)
	case "pin":
		err = s.pin(ss)
	case "end":
		err = s.end(ss)
	default:
		err = fmt.Errorf("unknown script %q (want screen, pin or end)", script)
		_ = ss.set("TOLLGATE_ERROR", err.Error())
	}
	if err != nil {
		s.Errors.add()
		s.o.Logger.Warn("agi: request failed", "script", script, "channel", ss.env["agi_channel"], "err", err)
	}
}

// who names the call's tenant and extension: the dialplan's argument,
// else the channel's accountcode, else Options.Tenant; the extension is
// the PJSIP endpoint (the authenticated or identified peer), else the
// caller id number.
func (s *Server) who(ss *session, tenantArg string) (tenant, ext string) {
	tenant = tenantArg
	if tenant == "" {
		tenant = ss.env["agi_accountcode"]
	}
	if tenant == "" {
		tenant = s.o.Tenant
	}
	ext = ss.get("CHANNEL(endpoint)")
	if ext == "" {
		ext = channelPeer(ss.env["agi_channel"])
	}
	if ext == "" {
		ext = ss.env["agi_callerid"]
	}
	return tenant, ext
}

// channelPeer is the peer of a channel name: "1001" of PJSIP/1001-0000002a
// (the endpoint or peer name; not Local channels, whose name is a dialed
// number).
func channelPeer(ch string) string {
	tech, rest, ok := strings.Cut(ch, "/")
	if !ok || tech == "Local" || tech == "" {
		return ""
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		return rest[:i]
	}
	return ""
}

func (s *Server) screen(ss *session) error {
	callee := ss.arg(0)
	if callee == "" {
		callee = ss.env["agi_extension"]
	}
	tenant, ext := s.who(ss, ss.arg(1))
	q := screen.Call{ID: ss.env["agi_uniqueid"], Tenant: tenant, Extension: ext, Callee: callee,
		Caller: ss.env["agi_callerid"], Time: time.Now()}
	if q.Caller == "unknown" {
		q.Caller = ""
	}
	if d, ok := screen.ParseDirection(ss.arg(2)); ok {
		q.Direction = d
	}
	if ra := ss.get("CHANNEL(pjsip,remote_addr)"); ra != "" {
		if ap, err := netip.ParseAddrPort(ra); err == nil {
			q.SourceIP = ap.Addr().Unmap()
		} else if a, err := netip.ParseAddr(ra); err == nil {
			q.SourceIP = a.Unmap()
		}
	}
	q.UserAgent = ss.get("PJSIP_HEADER(read,User-Agent)")
	var v screen.Verdict
	if err := s.o.Engine.Screen(context.Background(), &q, &v); err != nil {
		// Bad input (an unknown tenant): reject rather than let it through.
		_ = ss.set("TOLLGATE_ACTION", "reject")
		_ = ss.set("TOLLGATE_CAUSE", "21")
		_ = ss.set("TOLLGATE_REASON", err.Error())
		_, _, _ = ss.cmd("EXEC Hangup 21")
		s.Rejected.add()
		return err
	}
	s.Screened.add()
	return s.apply(ss, &q, &v)
}

// apply sets the verdict's variables and enforces it on the channel.
func (s *Server) apply(ss *session, q *screen.Call, v *screen.Verdict) error {
	action := v.Enforced.String()
	cause := ""
	switch {
	case v.Unavailable:
		action, cause = "unavailable", "34"
	case v.Enforced == screen.Reject:
		cause = "21"
	}
	vars := [][2]string{{"TOLLGATE_ACTION", action}, {"TOLLGATE_SIPCODE", strconv.Itoa(engine.SIPCode(v))},
		{"TOLLGATE_RISK", strconv.Itoa(int(v.Risk))}, {"TOLLGATE_REASON", engine.ReasonText(v)},
		{"TOLLGATE_MAXDUR", strconv.Itoa(v.MaxDuration)}, {"TOLLGATE_CAUSE", cause}, {"TOLLGATE_DIAL_OPTS", ""}}
	if cause == "" && v.MaxDuration > 0 {
		vars[6][1] = "L(" + strconv.Itoa(v.MaxDuration*1000) + ")"
	}
	for _, kv := range vars {
		if err := ss.set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	s.o.Logger.Info("agi: screened", "call_id", q.ID, "tenant", q.Tenant, "extension", q.Extension, "callee", q.Callee, "action", action, "max_duration_s", v.MaxDuration)
	if cause != "" {
		s.Rejected.add()
		_, _, _ = ss.cmd("EXEC Hangup " + cause) // the channel may close before it answers
		return nil
	}
	if v.MaxDuration > 0 {
		abs := time.Duration(v.MaxDuration)*time.Second + s.o.RingAllowance
		if err := ss.set("TIMEOUT(absolute)", strconv.Itoa(int(abs/time.Second))); err != nil {
			return err
		}
	}
	if v.Enforced == screen.Challenge {
		return s.challenge(ss, q.Tenant, q.Extension)
	}
	return nil
}

// challenge collects the PIN on the channel: it answers, plays the
// dialplan's TOLLGATE_PIN_PROMPT (a sound file; none = silence), reads up
// to 8 digits ended by # (10 s), and allows the call on the right PIN.
func (s *Server) challenge(ss *session, tenant, ext string) error {
	if !s.hasPIN(tenant, ext) {
		// Nothing to verify against: refuse without answering.
		s.o.Logger.Warn("agi: challenged call refused: no PIN for the extension in asterisk.pins", "tenant", tenant, "extension", ext)
		_ = ss.set("TOLLGATE_PIN", "none")
		_ = ss.set("TOLLGATE_ACTION", "reject")
		_ = ss.set("TOLLGATE_CAUSE", "21")
		_, _, _ = ss.cmd("EXEC Hangup 21")
		return nil
	}
	prompt := ss.get("TOLLGATE_PIN_PROMPT")
	if _, _, err := ss.cmd("ANSWER"); err != nil {
		return err
	}
	if _, _, err := ss.cmd("GET DATA " + quote(prompt) + " 10000 8"); err != nil {
		return err
	}
	// "200 result=<digits>[ (timeout)]"; -1 when the prompt failed or the
	// caller hung up.
	digits := ss.lastResult
	if digits == "-1" {
		digits = ""
	}
	return s.verdictPIN(ss, tenant, ext, digits)
}

func (s *Server) hasPIN(tenant, ext string) bool {
	_, ok := s.o.PINs[tenant+"/"+ext]
	if !ok {
		_, ok = s.o.PINs[ext]
	}
	return ok
}

func (s *Server) pin(ss *session) error {
	tenant, ext := s.who(ss, ss.arg(1))
	return s.verdictPIN(ss, tenant, ext, ss.arg(0))
}

// verdictPIN checks digits and allows the call or hangs it up (cause 21).
func (s *Server) verdictPIN(ss *session, tenant, ext, digits string) error {
	ok, locked := s.checkPIN(tenant, ext, digits, time.Now())
	if ok {
		s.PINOK.add()
		s.o.Logger.Info("agi: PIN accepted", "call_id", ss.env["agi_uniqueid"], "tenant", tenant, "extension", ext)
		if err := ss.set("TOLLGATE_PIN", "ok"); err != nil {
			return err
		}
		return ss.set("TOLLGATE_ACTION", "allow")
	}
	s.PINBad.add()
	s.o.Logger.Warn("agi: PIN refused", "call_id", ss.env["agi_uniqueid"], "tenant", tenant, "extension", ext, "locked", locked) // never the digits
	res := "bad"
	if locked {
		res = "locked"
	}
	_ = ss.set("TOLLGATE_PIN", res)
	_ = ss.set("TOLLGATE_ACTION", "reject")
	_ = ss.set("TOLLGATE_CAUSE", "21")
	_, _, _ = ss.cmd("EXEC Hangup 21") // the channel may close before it answers
	return nil
}

// checkPIN verifies digits for tenant/extension; locked reports an
// extension locked by repeated failures (then even the right PIN fails).
func (s *Server) checkPIN(tenant, ext, digits string, now time.Time) (ok, locked bool) {
	key := tenant + "/" + ext
	s.mu.Lock()
	recent := s.fails[key][:0]
	for _, t := range s.fails[key] {
		if now.Sub(t) < s.o.PINLock {
			recent = append(recent, t)
		}
	}
	s.fails[key] = recent
	locked = len(recent) >= s.o.PINMaxFailures
	s.mu.Unlock()
	if locked {
		return false, true
	}
	h, found := s.o.PINs[key]
	if !found {
		h, found = s.o.PINs[ext]
	}
	ok = found && digits != "" && VerifyPIN(h, digits)
	if !ok {
		s.mu.Lock()
		s.fails[key] = append(s.fails[key], now)
		locked = len(s.fails[key]) >= s.o.PINMaxFailures
		s.mu.Unlock()
	}
	return ok, locked
}

func (s *Server) end(ss *session) error {
	ev := engine.Event{CallID: ss.env["agi_uniqueid"], Type: "end", Time: time.Now()}
	if b, err := strconv.Atoi(ss.arg(0)); err == nil && b >= 0 {
		ev.Duration = &b
	}
	_, err := s.o.Engine.Event(context.Background(), ev)
	if errors.Is(err, engine.ErrUnknownCall) {
		return nil // a call tollgate did not screen (internal, or screened elsewhere)
	}
	return err
}

const pinIter = 200_000

// HashPIN returns the stored form of a PIN: pbkdf2-sha256$iter$salt$key.
// A PIN has few digits, so its hash resists little offline: keep the file
// that holds it private; the lockout is what stops guessing on calls.
func HashPIN(pin string) (string, error) {
	if pin == "" || strings.Trim(pin, "0123456789*#") != "" {
		return "", errors.New("a PIN is keypad digits (0-9, * and #)")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	k, err := pbkdf2.Key(sha256.New, pin, salt, pinIter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(pinIter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(k), nil
}

// ValidPINHash reports whether h has HashPIN's form.
func ValidPINHash(h string) bool {
	_, _, _, ok := splitHash(h)
	return ok
}

func splitHash(h string) (iter int, salt, key []byte, ok bool) {
	p := strings.Split(h, "$")
	if len(p) != 4 || p[0] != "pbkdf2-sha256" {
		return 0, nil, nil, false
	}
	iter, err := strconv.Atoi(p[1])
	if err != nil || iter < 1000 || iter > 10_000_000 {
		return 0, nil, nil, false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(p[2])
	key, err2 := enc.DecodeString(p[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != 32 {
		return 0, nil, nil, false
	}
	return iter, salt, key, true
}

// VerifyPIN reports whether pin matches the hash h.
func VerifyPIN(h, pin string) bool {
	iter, salt, key, ok := splitHash(h)
	if !ok {
		return false
	}
	k, err := pbkdf2.Key(sha256.New, pin, salt, iter, 32)
	return err == nil && subtle.ConstantTimeCompare(k, key) == 1
}
