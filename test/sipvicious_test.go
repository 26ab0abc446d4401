package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

const guardAdminToken = "tg_guard-test-admin-secret"

// scanPolicy: a redirect listener (no edge proxy in front; callers reach
// it directly) whose calls to the US are allowed; %d is its port, %s the
// attack.trusted list.
const scanPolicy = `
server:
  tokens:
    - {name: ops, role: admin, secret_env: TOLLGATE_TEST_GUARD_ADMIN}
sip:
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:5999
  limits: {requests_per_s: 0}
attack:
  trusted: [%s]
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow}
  hours:
    after_hours_international: allow
    night_international: allow
`

type guardRig struct {
	t    *testing.T
	srv  *cli.Server
	port int
}

func newGuardRig(t *testing.T, trusted string) *guardRig {
	t.Helper()
	for _, tool := range []string{"svmap", "svwar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/test.sh installs sipvicious): %v", tool, err)
		}
	}
	t.Setenv("TOLLGATE_TEST_GUARD_ADMIN", guardAdminToken)
	r := &guardRig{t: t, port: testenv.FreePort(t)}
	cfg, err := config.Parse("guard.yaml", []byte(fmt.Sprintf(scanPolicy, r.port, trusted)))
	if err != nil {
		t.Fatal(err)
	}
	r.srv, err = cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.srv.Shutdown(ctx)
	})
	return r
}

// tool runs a SIPVicious tool against the listener, bounded in time.
func (r *guardRig) tool(name string, args ...string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, append(args, "-p", fmt.Sprint(r.port), "127.0.0.1")...).CombinedOutput()
	if ctx.Err() != nil {
		r.t.Fatalf("%s %v still running after 60 s:\n%s", name, args, out)
	}
	if err != nil {
		r.t.Logf("%s exited: %v\n%s", name, err, testenv.Tail(string(out), 2000))
	}
	return string(out)
}

// send sends one request from a UDP socket bound to from and returns the
// first response (the status code and the whole text).
func (r *guardRig) send(from, req string) (int, string) {
	r.t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.port}
	lp := c.LocalAddr().(*net.UDPAddr).Port
	req = strings.ReplaceAll(req, "$SRC", fmt.Sprintf("%s:%d", from, lp))
	buf := make([]byte, 8192)
	for try := 0; try < 3; try++ {
		if _, err := c.WriteToUDP([]byte(req), to); err != nil {
			r.t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		var code int
		fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code)
		return code, string(buf[:n])
	}
	r.t.Fatalf("no answer from the listener to %s", from)
	return 0, ""
}

var callSeq int

// invite is a call from 1001 to a US number, as a PBX would send it.
func (r *guardRig) invite(from string) (int, string) {
	callSeq++
	return r.send(from, fmt.Sprintf("INVITE sip:+12125550100@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP $SRC;branch=z9hG4bK-guard%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:1001@pbx.example>;tag=g%d\r\n"+
		"To: <sip:+12125550100@127.0.0.1>\r\n"+
		"Call-ID: guard-%d@test\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:1001@$SRC>\r\n"+
		"User-Agent: Yealink SIP-T46S\r\n"+
		"Content-Length: 0\r\n\r\n", callSeq, callSeq, callSeq))
}

// bans returns the addresses banned now, with the source of each ban.
func (r *guardRig) bans() map[string]string {
	r.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+r.srv.Addr.String()+"/v1/bans", nil)
	req.Header.Set("Authorization", "Bearer "+guardAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Bans []struct {
			IP     string `json:"ip"`
			Source string `json:"source"`
		} `json:"bans"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		r.t.Fatalf("GET /v1/bans: %d %s", resp.StatusCode, b)
	}
	m := map[string]string{}
	for _, x := range out.Bans {
		m[x.IP] = x.Source
	}
	return m
}

func (r *guardRig) waitBanned(ip string) {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if src, ok := r.bans()[ip]; ok {
			if src != "sipfront" {
				r.t.Errorf("%s banned by %q; want sipfront", ip, src)
			}
			return
		}
	}
	r.t.Fatalf("%s not banned after the scan; bans: %v, reported: %d", ip, r.bans(), r.srv.SIP.Stats().Reported.Load())
}

// refused asserts the listener now refuses calls from ip as banned.
func (r *guardRig) refused(ip string) {
	r.t.Helper()
	code, resp := r.invite(ip)
	if code != 403 || !strings.Contains(resp, "banned_ip") {
		r.t.Errorf("INVITE from banned %s: got %d; want 403 naming banned_ip\n%s", ip, code, resp)
	}
}

// TestSIPViciousAtRedirectListener scans the redirect listener with the
// real SIPVicious tools: svmap (an OPTIONS sweep, from 127.0.0.7) and
// svwar (REGISTER extension enumeration; it ignores -b and comes from
// 127.0.0.1). Calls from both were allowed before; after the scan both
// are banned by the attack guard and their next INVITE is refused.
func TestSIPViciousAtRedirectListener(t *testing.T) {
	r := newGuardRig(t, "192.0.2.1")
	for _, ip := range []string{"127.0.0.7", "127.0.0.1"} {
		if code, resp := r.invite(ip); code != 302 {
			t.Fatalf("INVITE from %s before any scan: got %d; want 302\n%s", ip, code, resp)
		}
	}

	out := r.tool("svmap", "-b", "127.0.0.7")
	if !strings.Contains(out, "127.0.0.1") {
		t.Errorf("svmap did not find the listener:\n%s", out)
	}
	r.waitBanned("127.0.0.7")
	r.refused("127.0.0.7")

	r.tool("svwar", "-e", "100-110")
	r.waitBanned("127.0.0.1")
	r.refused("127.0.0.1")
}

// TestSIPViciousTrustedNotBanned: the same scans from addresses in
// attack.trusted leave them unbanned and their calls allowed. An
// untrusted svmap afterwards is banned, which shows the guard has worked
// through the trusted sources' events (one queue, in order).
func TestSIPViciousTrustedNotBanned(t *testing.T) {
	r := newGuardRig(t, "127.0.0.1, 127.0.0.7")
	r.tool("svmap", "-b", "127.0.0.7")
	r.tool("svwar", "-e", "100-110")
	if r.srv.SIP.Stats().Reported.Load() == 0 {
		t.Errorf("the listener reported nothing of the scans")
	}
	r.tool("svmap", "-b", "127.0.0.9")
	r.waitBanned("127.0.0.9")
	bans := r.bans()
	for _, ip := range []string{"127.0.0.1", "127.0.0.7"} {
		if _, ok := bans[ip]; ok {
			t.Errorf("trusted %s banned: %v", ip, bans)
		}
		if code, resp := r.invite(ip); code != 302 {
			t.Errorf("INVITE from trusted %s after its scan: got %d; want 302\n%s", ip, code, resp)
		}
	}
}

// TestUnknownUsersBan: no scanner User-Agent, only what the requests
// ask for. REGISTERs for users (tollgate is no registrar) and OPTIONS
// probing users count toward the same threshold (attack.max_failures,
// 3 by default) as the honeypot's; a keep-alive OPTIONS to the host
// alone does not.
func TestUnknownUsersBan(t *testing.T) {
	r := newGuardRig(t, "192.0.2.1")
	opt := func(from, ruri string, n int) {
		r.send(from, fmt.Sprintf("OPTIONS %s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP $SRC;branch=z9hG4bK-opt%s%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:probe@example.net>;tag=o%d\r\nTo: <%s>\r\n"+
			"Call-ID: opt-%s-%d@test\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Zoiper rv2.10\r\nContent-Length: 0\r\n\r\n", ruri, from, n, n, ruri, from, n))
	}
	reg := func(from, user string, n int) {
		r.send(from, fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP $SRC;branch=z9hG4bK-reg%s%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:%s@127.0.0.1>;tag=r%d\r\nTo: <sip:%s@127.0.0.1>\r\n"+
			"Call-ID: reg-%s-%d@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@$SRC>\r\nUser-Agent: Zoiper rv2.10\r\nContent-Length: 0\r\n\r\n",
			from, n, user, n, user, from, n, user))
	}
	// Keep-alives from a peer: many, never a ban.
	for i := 0; i < 6; i++ {
		opt("127.0.0.11", "sip:127.0.0.1", i)
	}
	reg("127.0.0.12", "200", 1)
	opt("127.0.0.12", "sip:201@127.0.0.1", 2)
	reg("127.0.0.12", "202", 3)
	r.waitBanned("127.0.0.12")
	r.refused("127.0.0.12")
	if _, ok := r.bans()["127.0.0.11"]; ok {
		t.Errorf("keep-alive OPTIONS to the host got 127.0.0.11 banned")
	}
	if code, _ := r.invite("127.0.0.11"); code != 302 {
		t.Errorf("INVITE from the keep-alive peer: got %d; want 302", code)
	}
}
