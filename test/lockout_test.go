package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// lockoutPolicy: tollgate proxies calls (sip.mode proxy) to a PBX that
// checks passwords (SIPp with verifyauth: account 1001, pw-1001); the
// extension is the From user.
const lockoutPolicy = `
server:
  tokens:
    - {name: ops, role: admin, secret_env: TOLLGATE_TEST_LOCKOUT_ADMIN}
sip:
  mode: proxy
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  limits: {requests_per_s: 0}
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
detectors:
  off_hours_international: {enabled: false}
`

const lockoutAdmin = "tg_lockout-test-admin-secret"

// TestAccountLockoutThroughProxy is the brute force an operator fears:
// one SIP username guessed from many addresses, one guess each, so no
// address is ever banned. The phone (SIPp, from 127.0.0.1) has called
// before. Five wrong passwords from five addresses lock account 1001;
// the lockout allows the phone's address. From then on a guess from a
// new address — even with the right password, even with credentials
// sent up front — gets tollgate's 403 account_locked and never reaches
// the PBX, and such guesses count toward a ban of their source; the
// phone still calls.
func TestAccountLockoutThroughProxy(t *testing.T) {
	_, sipp := needPeers(t)
	dir := t.TempDir()
	pbxPort, sipPort := testenv.FreePort(t), testenv.FreePort(t)
	pbxLog := filepath.Join(dir, "pbx.log")
	testenv.StartSIPpUAS(t, dir, "testdata/sipp/pbx_auth.xml", pbxPort, "-trace_msg", "-message_file", pbxLog)
	waitBound(t, "udp", pbxPort)
	t.Setenv("TOLLGATE_TEST_LOCKOUT_ADMIN", lockoutAdmin)
	cfg, err := config.Parse("lockout.yaml", []byte(fmt.Sprintf(lockoutPolicy, sipPort, pbxPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	api := func(path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+srv.Addr.String()+path, nil)
		req.Header.Set("Authorization", "Bearer "+lockoutAdmin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			json.Unmarshal(b, out)
		}
		return resp.StatusCode
	}
	phone := func(what string) {
		t.Helper()
		inf := filepath.Join(dir, fmt.Sprintf("calls-%d.csv", time.Now().UnixNano()))
		os.WriteFile(inf, []byte("SEQUENTIAL\n1001;+12125550100\n"), 0o600)
		sf, _ := filepath.Abs("testdata/sipp/uac_auth_call.xml")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sipp, "-sf", sf, "-inf", inf, "-m", "1", "-i", "127.0.0.1", "-p", fmt.Sprint(testenv.FreePort(t)),
			"-au", "1001", "-ap", "pw-1001", "-nostdin", "-timeout", "40s", "-recv_timeout", "20000", fmt.Sprintf("127.0.0.1:%d", sipPort))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: the phone's call failed: %v\n%s", what, err, testenv.Tail(string(out), 3000))
		}
	}

	phone("before the attack")
	for i := range 5 {
		src := fmt.Sprintf("127.0.0.%d", 21+i)
		g := guessAtPBX(t, src, sipPort, "1001", fmt.Sprintf("guess-%d", i), false)
		if !strings.HasPrefix(g.final, "SIP/2.0 401") {
			t.Fatalf("wrong password %d from %s: %q; want the PBX's 401", i, src, firstLine(g.final))
		}
	}
	var lock struct {
		Lockout struct {
			Allowed []string `json:"allowed"`
		} `json:"lockout"`
	}
	for deadline := time.Now().Add(10 * time.Second); api("/v1/lockouts/account/1001", &lock) != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("five wrong passwords from five addresses: account 1001 not locked")
		}
	}
	if !slices.Contains(lock.Lockout.Allowed, "127.0.0.1") {
		t.Errorf("the lockout allows %q; want the phone's 127.0.0.1", lock.Lockout.Allowed)
	}
	var bans struct {
		Bans []struct{ IP string } `json:"bans"`
	}
	api("/v1/bans", &bans)
	if len(bans.Bans) != 0 {
		t.Errorf("one guess per address banned %+v; the lockout is what stops this attack", bans.Bans)
	}

	// The right password from a new address: refused before the PBX.
	g := guessAtPBX(t, "127.0.0.30", sipPort, "1001", "pw-1001", false)
	if !strings.HasPrefix(g.final, "SIP/2.0 403") || !strings.Contains(g.final, "account_locked") {
		t.Errorf("right password from a new address during the lock: %q; want 403 account_locked\n%s", firstLine(g.final), g.final)
	}
	// Credentials sent up front, three times from one address: refused
	// each time, and counted against the address until it is banned.
	for i := range 3 {
		g := guessAtPBX(t, "127.0.0.31", sipPort, "1001", fmt.Sprintf("again-%d", i), true)
		if !strings.HasPrefix(g.final, "SIP/2.0 403") || !strings.Contains(g.final, "account_locked") {
			t.Errorf("preloaded guess %d: %q; want 403 account_locked", i, firstLine(g.final))
		}
		if pbx := readFile(pbxLog); strings.Contains(pbx, g.callID) {
			t.Errorf("guess %s reached the PBX during the lock", g.callID)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		api("/v1/bans", &bans)
		if slices.ContainsFunc(bans.Bans, func(b struct{ IP string }) bool { return b.IP == "127.0.0.31" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("three refused guesses from 127.0.0.31: not banned (%+v)", bans.Bans)
		}
	}
	phone("during the lock")
}

type guess struct {
	callID string
	final  string // the last final answer
}

// guessAtPBX tries a password for user from src through the proxy: an
// INVITE, and on the PBX's 401 a second INVITE with credentials answering
// it (or, with preload, one INVITE carrying credentials for an old
// nonce, as password crackers send them). Final answers are ACKed.
func guessAtPBX(t *testing.T, src string, port int, user, password string, preload bool) guess {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := fmt.Sprintf("guess-%s-%d", src, time.Now().UnixNano())
	ruri := "sip:+12125550100@127.0.0.1"
	send := func(method string, cseq int, extra, toTag string) string {
		msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d%s;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: <%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s>\r\n%sContent-Length: 0\r\n\r\n",
			method, ruri, c.LocalAddr(), id, cseq, method[:1], user, id, ruri, toTag, id, cseq, method, user, c.LocalAddr(), extra)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if method == "ACK" {
			return ""
		}
		buf := make([]byte, 8192)
		for deadline := time.Now().Add(5 * time.Second); ; {
			c.SetReadDeadline(deadline)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("INVITE from %s: no final answer: %v", src, err)
			}
			if s := string(buf[:n]); !strings.HasPrefix(s, "SIP/2.0 1") {
				return s
			}
		}
	}
	toTag := func(resp string) string {
		if to := header(resp, "To"); strings.Contains(to, ";tag=") {
			return ";tag=" + strings.SplitN(to, ";tag=", 2)[1]
		}
		return ""
	}
	if preload {
		old := `WWW-Authenticate: Digest realm="pbx.test", nonce="n-old"`
		final := send("INVITE", 1, digestCredentials(t, "Authorization", "", old, user, password, "INVITE", ruri), "")
		send("ACK", 1, "", toTag(final))
		return guess{id, final}
	}
	first := send("INVITE", 1, "", "")
	send("ACK", 1, "", toTag(first))
	if !strings.HasPrefix(first, "SIP/2.0 401") {
		return guess{id, first}
	}
	final := send("INVITE", 2, digestCredentials(t, "Authorization", "", first, user, password, "INVITE", ruri), "")
	send("ACK", 2, "", toTag(final))
	return guess{id, final}
}
