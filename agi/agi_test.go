package agi

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
)

var (
	intelOnce sync.Once
	intel     *number.Intel
	intelErr  error
)

const policy = `
allow_unknown_tenants: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "33": auth}
  hours:
    after_hours_international: allow
    night_international: allow
tenants:
  acme:
    limits:
      account: {max_call_duration_intl: 7}
detectors:
  off_hours_international: {enabled: false}
`

func newServer(t *testing.T, pins map[string]string, allow ...netip.Prefix) *Server {
	t.Helper()
	intelOnce.Do(func() { intel, intelErr = number.New(number.Options{}) })
	if intelErr != nil {
		t.Fatal(intelErr)
	}
	cfg, err := config.Parse("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Engine: eng, PINs: pins, Allow: allow})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// channel plays Asterisk's side of FastAGI: it sends the agi_* header,
// answers GET VARIABLE from vars, records every command, and returns
// when tollgate closes the connection.
func channel(t *testing.T, s *Server, script string, args []string, vars map[string]string) (cmds []string, set map[string]string) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "agi_network: yes\nagi_network_script: %s\nagi_request: agi://127.0.0.1/%s\nagi_channel: PJSIP/1001-00000001\n", script, script)
	b.WriteString("agi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1700000000.1\nagi_version: 22.10.1\nagi_callerid: 1001\nagi_calleridname: unknown\n")
	b.WriteString("agi_context: phones\nagi_extension: 011442079460001\nagi_priority: 3\nagi_accountcode: acme\n")
	for i, a := range args {
		fmt.Fprintf(&b, "agi_arg_%d: %s\n", i+1, a)
	}
	b.WriteString("\n")
	c.Write([]byte(b.String()))
	set = map[string]string{}
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return cmds, set
		}
		l = strings.TrimSuffix(l, "\n")
		cmds = append(cmds, l)
		switch {
		case strings.HasPrefix(l, "GET VARIABLE "):
			if v, ok := vars[strings.TrimPrefix(l, "GET VARIABLE ")]; ok {
				fmt.Fprintf(c, "200 result=1 (%s)\n", v)
			} else {
				fmt.Fprintf(c, "200 result=0\n")
			}
		case strings.HasPrefix(l, "SET VARIABLE "):
			name, val, _ := strings.Cut(strings.TrimPrefix(l, "SET VARIABLE "), " ")
			set[name] = strings.Trim(val, `"`)
			fmt.Fprintf(c, "200 result=1\n")
		case strings.HasPrefix(l, "GET DATA "):
			fmt.Fprintf(c, "200 result=%s\n", vars["DIGITS"])
		default:
			fmt.Fprintf(c, "200 result=0\n")
		}
	}
}

var phone = map[string]string{"CHANNEL(endpoint)": "1001", "CHANNEL(pjsip,remote_addr)": "127.0.0.4:5060"}

func TestScreenReject(t *testing.T) {
	s := newServer(t, nil)
	cmds, set := channel(t, s, "screen", []string{"0112526123456"}, phone)
	if set["TOLLGATE_ACTION"] != "reject" || set["TOLLGATE_CAUSE"] != "21" || set["TOLLGATE_SIPCODE"] != "403" {
		t.Fatalf("variables %v: want reject, cause 21, 403", set)
	}
	if cmds[len(cmds)-1] != "EXEC Hangup 21" {
		t.Errorf("last command %q: tollgate must hang the rejected channel up itself", cmds[len(cmds)-1])
	}
	if s.Rejected.Load() != 1 {
		t.Errorf("rejected count %d", s.Rejected.Load())
	}
}

func TestScreenAllowLimitsDuration(t *testing.T) {
	s := newServer(t, nil)
	cmds, set := channel(t, s, "screen", nil, phone) // callee from agi_extension
	if set["TOLLGATE_ACTION"] != "allow" || set["TOLLGATE_MAXDUR"] != "7" || set["TOLLGATE_DIAL_OPTS"] != "L(7000)" {
		t.Fatalf("variables %v: want allow, 7 s, L(7000)", set)
	}
	if set["TIMEOUT(absolute)"] != "127" {
		t.Errorf("TIMEOUT(absolute) %q: want 7 + 120", set["TIMEOUT(absolute)"])
	}
	for _, c := range cmds {
		if strings.HasPrefix(c, "EXEC Hangup") {
			t.Errorf("allowed call hung up: %q", c)
		}
	}
}

func TestUnknownTenantRejected(t *testing.T) {
	// A tenant the policy does not know (allow_unknown_tenants: false) is
	// refused, not let through.
	s := newServer(t, nil)
	cmds, set := channel(t, s, "screen", []string{"011442079460001", "nosuch"}, phone)
	if set["TOLLGATE_ACTION"] != "reject" || cmds[len(cmds)-1] != "EXEC Hangup 21" {
		t.Fatalf("unknown tenant: %v %q", set, cmds)
	}
}

func TestPIN(t *testing.T) {
	h, err := HashPIN("4711")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, map[string]string{"acme/1001": h})
	// France is "auth": tollgate answers, reads the PIN and allows.
	withPIN := map[string]string{"DIGITS": "4711"}
	for k, v := range phone {
		withPIN[k] = v
	}
	cmds, set := channel(t, s, "screen", []string{"01133149600001"}, withPIN)
	if set["TOLLGATE_PIN"] != "ok" || set["TOLLGATE_ACTION"] != "allow" || set["TOLLGATE_DIAL_OPTS"] != "L(7000)" {
		t.Fatalf("France with the right PIN: %v", set)
	}
	if !strings.HasPrefix(strings.Join(cmds, "|"), "GET VARIABLE") || !strings.Contains(strings.Join(cmds, "|"), "ANSWER|GET DATA") {
		t.Errorf("commands %q: want ANSWER then GET DATA", cmds)
	}
	withPIN["DIGITS"] = "1234"
	cmds, set = channel(t, s, "screen", []string{"01133149600002"}, withPIN)
	if set["TOLLGATE_PIN"] != "bad" || cmds[len(cmds)-1] != "EXEC Hangup 21" {
		t.Fatalf("France with a wrong PIN: %v %q", set, cmds)
	}
	// A challenged extension without a PIN is refused without answering.
	cmds, set = channel(t, s, "screen", []string{"01133149600003"}, map[string]string{"CHANNEL(endpoint)": "1003"})
	if set["TOLLGATE_PIN"] != "none" || strings.Contains(strings.Join(cmds, "|"), "ANSWER") {
		t.Fatalf("no PIN configured: %v %q", set, cmds)
	}
	_, set = channel(t, s, "pin", []string{"4711"}, phone)
	if set["TOLLGATE_PIN"] != "ok" || set["TOLLGATE_ACTION"] != "allow" {
		t.Fatalf("right PIN: %v", set)
	}
	// Another extension does not get 1001's PIN.
	other := map[string]string{"CHANNEL(endpoint)": "1002"}
	cmds, set = channel(t, s, "pin", []string{"4711"}, other)
	if set["TOLLGATE_PIN"] != "bad" || cmds[len(cmds)-1] != "EXEC Hangup 21" {
		t.Fatalf("1001's PIN accepted for 1002: %v %q", set, cmds)
	}
	// Three wrong PINs lock 1001 (one came above): then even the right
	// one fails.
	for i := 0; i < 2; i++ {
		_, set = channel(t, s, "pin", []string{fmt.Sprint(1000 + i)}, phone)
		if set["TOLLGATE_PIN"] == "ok" {
			t.Fatal("wrong PIN accepted")
		}
	}
	if set["TOLLGATE_PIN"] != "locked" {
		t.Errorf("third wrong PIN: %q, want locked", set["TOLLGATE_PIN"])
	}
	_, set = channel(t, s, "pin", []string{"4711"}, phone)
	if set["TOLLGATE_PIN"] != "locked" {
		t.Errorf("right PIN while locked: %q, want locked", set["TOLLGATE_PIN"])
	}
}

func TestPINHash(t *testing.T) {
	h, err := HashPIN("97531")
	if err != nil || !ValidPINHash(h) || !VerifyPIN(h, "97531") || VerifyPIN(h, "97530") || VerifyPIN(h, "") {
		t.Fatalf("hash %q err %v", h, err)
	}
	if strings.Contains(h, "97531") {
		t.Errorf("hash %q holds the PIN", h)
	}
	for _, bad := range []string{"", "4711", "sha256$x$y$z", "pbkdf2-sha256$10$AAAAAAAAAAA$AAAA", "pbkdf2-sha256$200000$!!$!!"} {
		if ValidPINHash(bad) || VerifyPIN(bad, "4711") {
			t.Errorf("%q accepted as a PIN hash", bad)
		}
	}
	if _, err := HashPIN("12a4"); err == nil {
		t.Error("letters accepted in a PIN")
	}
}

// TestHostile: garbage, oversize lines and endless headers get the
// connection closed without a screening; the server keeps serving.
func TestHostile(t *testing.T) {
	s := newServer(t, nil)
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"agi_network: yes\n\n", // no agi_channel
		"agi_channel: x\nagi_" + strings.Repeat("a", 10000) + "\n\n",
		strings.Repeat("agi_x: y\n", 1000) + "\n",
	} {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(in))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		if n > 0 {
			t.Errorf("input %.30q got an answer %q", in, buf[:n])
		}
		c.Close()
	}
	if s.Screened.Load() != 0 || s.Errors.Load() != 4 {
		t.Errorf("screened %d errors %d: want 0 and 4", s.Screened.Load(), s.Errors.Load())
	}
	_, set := channel(t, s, "screen", []string{"0112526123456"}, phone)
	if set["TOLLGATE_ACTION"] != "reject" {
		t.Errorf("server stopped serving after hostile input: %v", set)
	}
}

func TestRefusesOtherAddresses(t *testing.T) {
	s := newServer(t, nil, netip.MustParsePrefix("192.0.2.0/24"))
	cmds, set := channel(t, s, "screen", []string{"011442079460001"}, phone)
	if len(cmds) != 0 || len(set) != 0 || s.Refused.Load() != 1 {
		t.Errorf("a PBX outside agi_allow was served: %q", cmds)
	}
}

func TestChannelPeer(t *testing.T) {
	for in, want := range map[string]string{"PJSIP/1001-0000002a": "1001", "PJSIP/acme-1001-00000001": "acme-1001", "Local/123@x-00000001;1": "", "PJSIP/x": "", "": ""} {
		if got := channelPeer(in); got != want {
			t.Errorf("channelPeer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := quote("a\"b\\c\nd\x00e"); got != `"abcde"` {
		t.Errorf("quote: %s", got)
	}
}

// FuzzSession feeds arbitrary bytes as what Asterisk sends: the server
// must neither crash nor hang.
func FuzzSession(f *testing.F) {
	f.Add([]byte("agi_network: yes\nagi_network_script: screen\nagi_channel: PJSIP/1-1\nagi_arg_1: 0044\n\n200 result=1 (1001)\n200 result=0\n"))
	f.Add([]byte("agi_channel: x\n\n520-Invalid\nusage\n520 End of proper usage.\n"))
	f.Add([]byte("agi_channel: x\nagi_network_script: pin\nagi_arg_1: 1\n\nHANGUP\n200 result=1 (x)\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ss := &session{r: bufio.NewReaderSize(strings.NewReader(string(in)), maxLine), c: discardConn{}}
		if err := ss.readEnv(); err != nil {
			return
		}
		for i := 0; i < 4; i++ {
			if _, _, err := ss.cmd("GET VARIABLE X"); err != nil {
				return
			}
		}
	})
}

type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
