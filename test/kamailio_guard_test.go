package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// kamGuardPolicy: two tenants. In acme, extension 3001 may not call abroad
// and international calls last at most 2 s; other lets everyone call the
// UK. A caller who could choose its tenant or extension would get through.
const kamGuardPolicy = `
server:
  tokens:
    - {name: kamailio, role: screen, secret_env: TOLLGATE_TEST_KAMAILIO_TOKEN}
    - {name: admin, role: admin, secret_env: TOLLGATE_TEST_ADMIN_TOKEN}
sip:
  mode: redirect
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  map:
    extension_header: X-Extension
    tenant_header: X-Tenant
    source_ip_header: X-Source-IP
    direction_header: X-Direction
    trusted_proxies: [127.0.0.1]
attack:
  max_failures: 3
allow_unknown_tenants: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow}
  hours:
    after_hours_international: allow
    night_international: allow
tenants:
  acme:
    extensions:
      "3001": {international: false}
    limits:
      account: {max_call_duration_intl: 2}
  other:
    country: US
# The off-hours detector reads the wall clock: off, so verdicts do not
# depend on when the test runs.
detectors:
  off_hours_international: {enabled: false}
`

const adminToken = "tg_admin-test-secret"

// TestKamailioGuards attacks the shipped Kamailio configuration: callers
// who send the headers tollgate screens on, a call that outlives what
// tollgate allowed, and a source tollgate banned.
func TestKamailioGuards(t *testing.T) {
	t.Setenv("TOLLGATE_TEST_ADMIN_TOKEN", adminToken)
	r := newRigWith(t, rigOptions{
		policy: kamGuardPolicy,
		subs: []subscriber{
			{user: "alice", password: "alice-pw", extension: "3001", tenant: "acme"},
			{user: "3002", password: "pw-3002", tenant: "acme"}, // extension = username
		},
		trunks: map[string]string{"127.0.0.3": "acme"},
	})

	t.Run("subscriber spoofing extension and tenant is still refused", func(t *testing.T) {
		// alice is extension 3001 of acme, which may not call abroad. She
		// claims X-Extension 7777 and X-Tenant other (either alone would
		// be allowed), a verdict, a source address, a direction and an
		// asserted identity.
		ok, trace := r.call("uac_auth_spoof.xml", "alice;+442079460001")
		if !ok {
			t.Fatalf("spoofing caller was not refused by tollgate:\n%s", testenv.Tail(trace, 4000))
		}
		// tollgate saw the identity Kamailio derived, not the claimed one.
		if !strings.Contains(trace, "extension 3001 may not call internationally") {
			t.Errorf("403 does not name extension 3001 (tollgate screened another identity):\n%s", testenv.Tail(trace, 3000))
		}
	})

	t.Run("trunk caller spoofing the tenant is still refused", func(t *testing.T) {
		// 127.0.0.3 is acme's trunk: no digest challenge, the tenant comes
		// from the source address, the extension from the trunk's From.
		ok, trace := r.callFrom("127.0.0.3", "uac_spoof.xml", "3001;+442079460002")
		if !ok {
			t.Fatalf("spoofing trunk call was not refused by tollgate:\n%s", testenv.Tail(trace, 4000))
		}
		if !strings.Contains(trace, "extension 3001 may not call internationally") {
			t.Errorf("403 does not name extension 3001 of acme:\n%s", testenv.Tail(trace, 3000))
		}
	})

	t.Run("call ended by Kamailio at max_duration", func(t *testing.T) {
		// acme's international calls may last 2 s (the 302 says
		// max_duration=2); neither SIPp end hangs up.
		start := time.Now()
		ok, trace := r.call("uac_auth_wait_bye.xml", "3002;+441614960001")
		took := time.Since(start)
		if !ok {
			t.Fatalf("the caller got no BYE from the proxy:\n%s", testenv.Tail(trace, 4000))
		}
		callID := header(trace, "Call-ID")
		if callID == "" {
			t.Fatalf("no Call-ID in the caller's trace:\n%s", testenv.Tail(trace, 3000))
		}
		t.Logf("call %s set up and ended by the proxy in %v (max_duration 2 s)", callID, took.Round(10*time.Millisecond))
		// The PBX got none of the headers the caller claimed (nor its
		// preloaded Route), nor the ones Kamailio wrote for tollgate.
		invite := receivedInvite(r.uasMsgs, callID)
		if invite == "" {
			t.Fatalf("the UAS logged no INVITE for %s", callID)
		}
		for _, h := range []string{"x-extension", "x-tenant", "x-tollgate", "x-source-ip", "p-asserted-identity", "proxy-authorization", "route: <sip:192.0.2.1"} {
			if strings.Contains(strings.ToLower(invite), "\n"+h) {
				t.Errorf("the PBX's INVITE carries %s:\n%s", h, invite)
			}
		}
		r.waitEnded(t, callID)
	})

	t.Run("in-dialog refreshes do not extend max_duration", func(t *testing.T) {
		// The caller sends an INFO every 500 ms (as a session-timer
		// refresh would); each would restart a 2 s dialog timer that
		// in-dialog requests may reset, and the call would never end.
		callID, after, ended := refreshingCall(t, r.kamPort, "3002", "pw-3002", "+441614960002", 500*time.Millisecond, 8*time.Second)
		if !ended {
			t.Fatalf("call %s still up %v after the answer despite max_duration 2 s", callID, after)
		}
		t.Logf("call %s ended by the proxy %v after the answer, refreshed every 500 ms", callID, after.Round(10*time.Millisecond))
		if after > 5*time.Second {
			t.Errorf("call %s ended %v after the answer; the refreshes extended it", callID, after)
		}
		r.waitEnded(t, callID)
	})

	t.Run("running call ended on request through the control socket", func(t *testing.T) {
		// A domestic call has no max_duration; an operator (or a tool
		// acting on a tollgate alert) ends it by its Call-ID:
		// kamcmd htable.seti tollgate_end CALL-ID 1.
		type result struct {
			ok    bool
			trace string
		}
		done := make(chan result, 1)
		go func() {
			ok, trace := r.call("uac_auth_wait_bye.xml", "3002;+12125550177")
			done <- result{ok, trace}
		}()
		var callID string
		deadline := time.Now().Add(10 * time.Second)
		for callID == "" {
			if time.Now().After(deadline) {
				t.Fatal("no confirmed dialog appeared in dlg.list")
			}
			time.Sleep(200 * time.Millisecond)
			out, _ := exec.Command("kamcmd", "-s", "unix:"+r.ctl, "dlg.list").CombinedOutput()
			// This call's dialog, once confirmed (state 4).
			for _, d := range strings.Split(string(out), "h_entry:")[1:] {
				m := regexp.MustCompile(`(?s)call-id: (\S+).*?to_uri: sip:\+12125550177@.*?state: (\d+)`).FindStringSubmatch(d)
				if m != nil && m[2] == "4" {
					callID = m[1]
				}
			}
		}
		out, err := exec.Command("kamcmd", "-s", "unix:"+r.ctl, "htable.seti", "tollgate_end", callID, "1").CombinedOutput()
		if err != nil {
			t.Fatalf("htable.seti tollgate_end: %v %s", err, out)
		}
		res := <-done
		if !res.ok {
			t.Fatalf("the caller got no BYE:\n%s", testenv.Tail(res.trace, 3000))
		}
		r.waitEnded(t, callID)
	})

	t.Run("banned source refused at the edge, released ban lifted", func(t *testing.T) {
		const banned = "127.0.0.2"
		var ban struct {
			ID int64 `json:"id"`
		}
		if code := r.api(t, "POST", "/v1/bans", `{"ip":"`+banned+`","expires_in":3600,"reason":"kamailio test"}`, &ban); code != http.StatusCreated {
			t.Fatalf("POST /v1/bans: HTTP %d", code)
		}
		if out := r.syncBans(t); !strings.Contains(out, "1 ban(s) set") {
			t.Fatalf("sync: %s", out)
		}

		invites := r.srv.SIP.Stats().Invites.Load()
		inv := rawSIP(t, banned, r.kamPort, "INVITE", "sip:+12125550100@127.0.0.1")
		if !strings.HasPrefix(inv, "SIP/2.0 403") {
			t.Errorf("INVITE from the banned %s: %q, want 403", banned, firstLine(inv))
		}
		if strings.Contains(inv, "X-Tollgate-Verdict") {
			t.Errorf("the banned INVITE reached tollgate (its verdict came back):\n%s", inv)
		}
		if got := firstLine(rawSIP(t, banned, r.kamPort, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d", r.kamPort))); !strings.HasPrefix(got, "SIP/2.0 403") {
			t.Errorf("OPTIONS from the banned %s: %q, want 403", banned, got)
		}
		if got := firstLine(rawSIP(t, "127.0.0.4", r.kamPort, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d", r.kamPort))); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Errorf("OPTIONS from 127.0.0.4 (not banned): %q, want 200", got)
		}
		if n := r.srv.SIP.Stats().Invites.Load(); n != invites {
			t.Errorf("tollgate screened %d INVITEs from the banned source; Kamailio should have refused them first", n-invites)
		}

		// Released in tollgate: the next sync lifts it in Kamailio.
		if code := r.api(t, "DELETE", fmt.Sprintf("/v1/bans/%d", ban.ID), "", nil); code != http.StatusOK {
			t.Fatalf("DELETE /v1/bans/%d: HTTP %d", ban.ID, code)
		}
		if out := r.syncBans(t); !strings.Contains(out, "0 ban(s) set, 1 lifted") {
			t.Fatalf("sync after release: %s", out)
		}
		if got := firstLine(rawSIP(t, banned, r.kamPort, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d", r.kamPort))); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Errorf("OPTIONS from %s after the release: %q, want 200", banned, got)
		}
	})

	t.Run("subscriber authenticating as another user is refused", func(t *testing.T) {
		// 3002's own password, but the From claims alice (extension 3001).
		got := digestInvite(t, "127.0.0.7", r.kamPort, "alice", "3002", "pw-3002")
		if !strings.HasPrefix(got, "SIP/2.0 403") || strings.Contains(got, "X-Tollgate-Verdict") {
			t.Errorf("INVITE from alice authenticated as 3002: want Kamailio's 403, got\n%s", got)
		}
		// The same request with From 3002 passes and reaches tollgate
		// (whose policy refuses the destination).
		got = digestInvite(t, "127.0.0.7", r.kamPort, "3002", "3002", "pw-3002")
		if !strings.HasPrefix(got, "SIP/2.0 403") || !strings.Contains(got, "X-Tollgate-Verdict: reject") {
			t.Errorf("INVITE from 3002 authenticated as 3002: want tollgate's 403, got\n%s", got)
		}
	})

	t.Run("failed digest auth reaches tollgate's guard and comes back as a ban", func(t *testing.T) {
		const guesser = "127.0.0.5"
		for i := 0; i < 3; i++ {
			if got := firstLine(digestInvite(t, guesser, r.kamPort, "3002", "3002", fmt.Sprintf("guess-%d", i))); !strings.HasPrefix(got, "SIP/2.0 407") {
				t.Fatalf("wrong password %d: %q, want a new 407 challenge", i, got)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var bans struct {
				Bans []struct {
					IP     string `json:"ip"`
					Source string `json:"source"`
				} `json:"bans"`
			}
			r.api(t, "GET", "/v1/bans", "", &bans)
			found := false
			for _, b := range bans.Bans {
				found = found || b.IP == guesser
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("three failed digest auths from %s did not ban it in tollgate: %+v", guesser, bans)
			}
			time.Sleep(100 * time.Millisecond)
		}
		r.syncBans(t)
		if got := firstLine(digestInvite(t, guesser, r.kamPort, "3002", "3002", "pw-3002")); !strings.HasPrefix(got, "SIP/2.0 403") {
			t.Errorf("%s after the sync, even with the right password: %q, want 403", guesser, got)
		}
	})

	t.Run("forged in-dialog INVITE does not reach the PBX", func(t *testing.T) {
		// A To-tag and a Route set through the proxy to the PBX: without
		// a dialog check, loose routing relays a new call unauthenticated
		// and unscreened.
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.8")}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: r.kamPort})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		id := fmt.Sprintf("forged-%d", time.Now().UnixNano())
		msg := fmt.Sprintf("INVITE sip:+25261234567@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\n"+
			"Route: <sip:127.0.0.1:%d;lr>\r\nRoute: <sip:127.0.0.1:%d;lr>\r\nMax-Forwards: 70\r\n"+
			"From: <sip:3001@127.0.0.1>;tag=f1\r\nTo: <sip:+25261234567@127.0.0.1>;tag=made-up\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
			"Contact: <sip:3001@%s>\r\nContent-Length: 0\r\n\r\n", r.uasPort, c.LocalAddr(), id, r.kamPort, r.uasPort, id, c.LocalAddr())
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		var final string
		for deadline := time.Now().Add(5 * time.Second); final == ""; {
			c.SetReadDeadline(deadline)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("forged in-dialog INVITE: no final answer: %v", err)
			}
			if m := string(buf[:n]); !strings.HasPrefix(m, "SIP/2.0 1") {
				final = m
			}
		}
		if !strings.HasPrefix(final, "SIP/2.0 481") {
			t.Errorf("forged in-dialog INVITE: %q, want 481", firstLine(final))
		}
		if receivedInvite(r.uasMsgs, id) != "" {
			t.Errorf("the forged INVITE %s reached the PBX", id)
		}
	})

	t.Run("a failed or foreign export lifts no ban", func(t *testing.T) {
		// A failing export command, and a line that is a kamcmd command
		// but not a ban (it would empty the table if it were run).
		if code := r.api(t, "POST", "/v1/bans", `{"ip":"127.0.0.6","expires_in":3600}`, nil); code != http.StatusCreated {
			t.Fatalf("POST /v1/bans: HTTP %d", code)
		}
		r.syncBans(t)
		for _, cmd := range [][]string{{"false"}, {"echo", "kamcmd htable.flush tollgate_ban"}} {
			out, err := exec.Command("../deploy/kamailio/tollgate-bans-sync", append([]string{"-s", "unix:" + r.ctl, "--"}, cmd...)...).CombinedOutput()
			if err == nil {
				t.Errorf("sync with %q succeeded: %s", cmd, out)
			}
		}
		if got := firstLine(rawSIP(t, "127.0.0.6", r.kamPort, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d", r.kamPort))); !strings.HasPrefix(got, "SIP/2.0 403") {
			t.Errorf("OPTIONS from 127.0.0.6 after failed syncs: %q, want 403 (ban kept)", got)
		}
	})
}

// kamStreamPolicy: UK calls cost 0.45/min and the in-call watch ends a
// call once it has cost 0.01 (about 1.3 s of talk).
const kamStreamPolicy = `
server:
  tokens:
    - {name: kamailio, role: screen, secret_env: TOLLGATE_TEST_KAMAILIO_TOKEN}
sip:
  mode: redirect
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  map:
    extension_header: X-Extension
    tenant_header: X-Tenant
    source_ip_header: X-Source-IP
    trusted_proxies: [127.0.0.1]
numbers:
  rate_deck: RATE_DECK
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow}
  hours:
    after_hours_international: allow
    night_international: allow
detectors:
  off_hours_international: {enabled: false}
  in_call: {call_cost: 0.01}
tenants:
  acme: {}
`

// TestKamailioFollowsEndCallStream (issue 15 cause 2, redirect mode): a
// call tollgate allowed without a time limit is ended by Kamailio when
// tollgate's in-call watch finds it too costly while it runs, through the
// end-call event stream the shipped configuration polls.
func TestKamailioFollowsEndCallStream(t *testing.T) {
	deck := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price_per_min,description\n1,0.01,US\n44,0.45,UK\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, rigOptions{
		policy: strings.Replace(kamStreamPolicy, "RATE_DECK", deck, 1),
		subs:   []subscriber{{user: "3002", password: "pw-3002", tenant: "acme"}},
	})
	type result struct {
		ok    bool
		trace string
	}
	done := make(chan result, 1)
	go func() {
		ok, trace := r.call("uac_auth_wait_bye.xml", "3002;+441614960003")
		done <- result{ok, trace}
	}()
	// The watch runs as event time moves: other calls being screened.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var res result
wait:
	for i := 0; ; i++ {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			body := fmt.Sprintf(`{"call_id":"tick-%d","tenant":"acme","extension":"9999","callee":"+12125550123"}`, i)
			req, _ := http.NewRequest("POST", "http://"+r.srv.Addr.String()+"/v1/screen", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+kamToken)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	if !res.ok {
		t.Fatalf("the caller got no BYE:\n%s", testenv.Tail(res.trace, 3000))
	}
	callID := header(res.trace, "Call-ID")
	req, _ := http.NewRequest("GET", "http://"+r.srv.Addr.String()+"/v1/calls/events?poll=true", nil)
	req.Header.Set("Authorization", "Bearer "+kamToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"call_id":"`+callID+`"`) {
		t.Fatalf("tollgate published no end_call for %s (so the BYE came from elsewhere): %s", callID, b)
	}
	r.waitEnded(t, callID)
}

// waitEnded waits until the PBX side (the UAS) got a BYE for the call and
// tollgate got its end event from Kamailio's dialog module.
func (r *rig) waitEnded(t *testing.T, callID string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !receivedBye(r.uasMsgs, callID) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(r.uasMsgs)
			t.Fatalf("the UAS got no BYE for %s:\n%s", callID, testenv.Tail(string(b), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		es, err := r.srv.Store.CallEventsSince(t.Context(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.CallID == callID && e.Type == "end" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no end event for %s reached tollgate", callID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api calls tollgate's HTTP API with the admin token and decodes the body.
func (r *rig) api(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.srv.Addr.String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %s", method, path, b)
	}
	return resp.StatusCode
}

// syncBans exports the bans as `tollgate bans export -format kamcmd` does
// and loads them into Kamailio with deploy/kamailio/tollgate-bans-sync.
func (r *rig) syncBans(t *testing.T) string {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := cli.Main([]string{"bans", "export", "-format", "kamcmd", "-data", filepath.Join(r.dir, "data")}, nil, &out, &errb); rc != 0 {
		t.Fatalf("tollgate bans export: exit %d: %s", rc, errb.String())
	}
	export := filepath.Join(r.dir, fmt.Sprintf("bans-%d.kamcmd", time.Now().UnixNano()))
	if err := os.WriteFile(export, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "../deploy/kamailio/tollgate-bans-sync", "-s", "unix:"+r.ctl, "--", "cat", export).CombinedOutput()
	if err != nil {
		t.Fatalf("tollgate-bans-sync: %v\n%s\nexport:\n%s", err, b, out.String())
	}
	return string(b)
}

// rawSIP sends one request from src (a loopback address) to Kamailio and
// returns the first final answer.
func rawSIP(t *testing.T, src string, port int, method, ruri string) string {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := fmt.Sprintf("%s-%d", method, time.Now().UnixNano())
	msg := method + " " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:4001@" + src + ">;tag=1\r\nTo: <" + ruri + ">\r\nCall-ID: " + id + "\r\nCSeq: 1 " + method + "\r\n" +
		"Contact: <sip:4001@" + c.LocalAddr().String() + ">\r\nX-Extension: 1001\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s from %s: no final answer: %v", method, src, err)
		}
		if s := string(buf[:n]); !strings.HasPrefix(s, "SIP/2.0 1") {
			return s
		}
	}
}

// refreshingCall makes an authenticated call through Kamailio from
// 127.0.0.1, answers nothing but keeps sending in-dialog INFOs every
// `every` until the proxy's BYE comes (answered with 200) or `max` has
// passed since the answer. It returns the Call-ID, how long after the
// answer it stopped, and whether a BYE ended the call.
func refreshingCall(t *testing.T, port int, user, password, number string, every, max time.Duration) (string, time.Duration, bool) {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	id := fmt.Sprintf("refresh-%d", time.Now().UnixNano())
	ruri := "sip:" + number + "@127.0.0.1"
	from := fmt.Sprintf("<sip:%s@127.0.0.1>;tag=%s", user, id)
	branch := 0
	via := func() string {
		branch++
		return fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport\r\n", local, id, branch)
	}
	send := func(msg string) {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 16384)
	read := func(deadline time.Time) (string, bool) {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}
	final := func() string {
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, ok := read(deadline)
			if !ok {
				t.Fatalf("INVITE %s: no final answer", id)
			}
			if strings.HasPrefix(m, "SIP/2.0 ") && !strings.HasPrefix(m, "SIP/2.0 1") {
				return m
			}
		}
	}
	invite := func(cseq int, extra string) string {
		send("INVITE " + ruri + " SIP/2.0\r\n" + via() + "Max-Forwards: 70\r\nFrom: " + from + "\r\nTo: <" + ruri + ">\r\nCall-ID: " + id +
			fmt.Sprintf("\r\nCSeq: %d INVITE\r\nContact: <sip:%s@%s>\r\n", cseq, user, local) + extra + "Content-Length: 0\r\n\r\n")
		return final()
	}
	ch := invite(1, "")
	if !strings.HasPrefix(ch, "SIP/2.0 407") {
		t.Fatalf("first INVITE: want 407, got\n%s", ch)
	}
	ok := invite(2, digestAuth(t, ch, user, password, "INVITE", ruri))
	if !strings.HasPrefix(ok, "SIP/2.0 200") {
		t.Fatalf("authenticated INVITE: want 200, got\n%s", ok)
	}
	answered := time.Now()
	to := regexp.MustCompile(`(?mi)^To:\s*(.+?)\r?$`).FindStringSubmatch(ok)
	if to == nil {
		t.Fatalf("200 without a To:\n%s", ok)
	}
	target := regexp.MustCompile(`(?mi)^Contact:\s*<([^>]+)>`).FindStringSubmatch(ok)
	if target == nil {
		t.Fatalf("200 without a Contact:\n%s", ok)
	}
	var routes []string
	for _, m := range regexp.MustCompile(`(?mi)^Record-Route:\s*(.+?)\r?$`).FindAllStringSubmatch(ok, -1) {
		routes = append([]string{"Route: " + m[1] + "\r\n"}, routes...) // the caller's route set is the reverse
	}
	inDialog := func(method string, cseq int) string {
		return method + " " + target[1] + " SIP/2.0\r\n" + via() + strings.Join(routes, "") + "Max-Forwards: 70\r\nFrom: " + from + "\r\nTo: " + to[1] +
			"\r\nCall-ID: " + id + fmt.Sprintf("\r\nCSeq: %d %s\r\n", cseq, method) + "Content-Length: 0\r\n\r\n"
	}
	send(inDialog("ACK", 2))
	cseq := 2
	for next := time.Now(); time.Since(answered) < max; {
		if !time.Now().Before(next) {
			cseq++
			send(inDialog("INFO", cseq))
			next = time.Now().Add(every)
		}
		m, got := read(next)
		if !got || !strings.HasPrefix(m, "BYE ") {
			continue
		}
		after := time.Since(answered)
		var resp strings.Builder
		resp.WriteString("SIP/2.0 200 OK\r\n")
		for _, line := range strings.Split(m, "\r\n") {
			l := strings.ToLower(line)
			for _, h := range []string{"via:", "from:", "to:", "call-id:", "cseq:"} {
				if strings.HasPrefix(l, h) {
					resp.WriteString(line + "\r\n")
				}
			}
		}
		resp.WriteString("Content-Length: 0\r\n\r\n")
		send(resp.String())
		return id, after, true
	}
	return id, time.Since(answered), false
}

// digestAuth answers a 407 challenge (qop=auth) with a Proxy-Authorization
// header line for user/password.
func digestAuth(t *testing.T, challenge, user, password, method, uri string) string {
	t.Helper()
	return digestCredentials(t, "Proxy-Authorization", "auth", challenge, user, password, method, uri)
}

// digestCredentials answers a digest challenge in header hdr (qop "auth",
// or "" for the RFC 2069 form without nc and cnonce).
func digestCredentials(t *testing.T, hdr, qop, challenge, user, password, method, uri string) string {
	t.Helper()
	param := func(name string) string {
		m := regexp.MustCompile(`(?i)\b` + name + `="([^"]*)"`).FindStringSubmatch(challenge)
		if m == nil {
			t.Fatalf("no %s in the challenge:\n%s", name, challenge)
		}
		return m[1]
	}
	realm, nonce := param("realm"), param("nonce")
	md5hex := func(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	if qop == "" {
		return fmt.Sprintf("%s: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=MD5\r\n",
			hdr, user, realm, nonce, uri, md5hex(ha1+":"+nonce+":"+ha2))
	}
	const nc, cnonce = "00000001", "0a4f113b"
	resp := md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
	return fmt.Sprintf("%s: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=MD5, qop=%s, nc=%s, cnonce=\"%s\"\r\n",
		hdr, user, realm, nonce, uri, resp, qop, nc, cnonce)
}

// digestInvite sends an INVITE from src with From fromUser, answers the
// proxy's 407 with digest credentials of authUser/password (qop=auth) and
// returns the final answer to the second INVITE. It dials a destination
// the guard policy denies, so no call is ever set up.
func digestInvite(t *testing.T, src string, port int, fromUser, authUser, password string) string {
	t.Helper()
	return digestInviteWith(t, src, port, fromUser, authUser, password, "")
}

// digestInviteWith is digestInvite with extra header lines (each ending
// in CRLF) on both INVITEs.
func digestInviteWith(t *testing.T, src string, port int, fromUser, authUser, password, headers string) string {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := fmt.Sprintf("digest-%d", time.Now().UnixNano())
	ruri := "sip:+25261234567@127.0.0.1" // a destination the policy denies
	req := func(cseq int, extra string) string {
		msg := fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: %d INVITE\r\nContact: <sip:%s@%s>\r\n%sContent-Length: 0\r\n\r\n",
			ruri, c.LocalAddr(), id, cseq, fromUser, id, ruri, id, cseq, fromUser, c.LocalAddr(), extra)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		deadline := time.Now().Add(5 * time.Second)
		for {
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
	ch := req(1, headers)
	if !strings.HasPrefix(ch, "SIP/2.0 407") {
		return ch
	}
	auth := digestAuth(t, ch, authUser, password, "INVITE", ruri)
	return req(2, headers+auth)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// header returns the first value of a header in a SIPp message trace.
func header(trace, name string) string {
	m := regexp.MustCompile(`(?mi)^` + regexp.QuoteMeta(name) + `:\s*(\S+)`).FindStringSubmatch(trace)
	if m == nil {
		return ""
	}
	return m[1]
}

// receivedInvite returns the INVITE a SIPp message log holds for the call.
func receivedInvite(log, callID string) string {
	b, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	for _, m := range strings.Split(string(b), "message received") {
		if strings.Contains(m, "\nINVITE ") && strings.Contains(m, "Call-ID: "+callID) {
			return m
		}
	}
	return ""
}

// receivedBye reports whether a SIPp message log holds a BYE received for
// the call.
func receivedBye(log, callID string) bool {
	b, err := os.ReadFile(log)
	if err != nil {
		return false
	}
	for _, m := range strings.Split(string(b), "message received") {
		if strings.Contains(m, "\nBYE ") && strings.Contains(m, "Call-ID: "+callID) {
			return true
		}
	}
	return false
}
