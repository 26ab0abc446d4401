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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

const proxyAdminToken = "tg_proxy-test-admin-secret"

// proxyPolicy: tollgate is the hop (sip.mode proxy) between a SIPp UAC and
// a SIPp UAS (the PBX); calls to the UK need a PIN and go to a second SIPp
// that only rings (the PIN IVR). Tenant "short" may talk 3 s abroad.
const proxyPolicy = `
server:
  tokens:
    - {name: ops, role: admin, secret_env: TOLLGATE_TEST_PROXY_ADMIN}
sip:
  mode: proxy
  listen: [udp:127.0.0.1:%d, tcp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d%s
  challenge: sip:pin@127.0.0.1:%d
  map:
    tenant_header: X-Tenant
    extension_header: X-Extension
  limits: {requests_per_s: 0}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "33": allow, "44": auth, "252": block}
  hours:
    after_hours_international: allow
    night_international: allow
tenants:
  short:
    limits:
      account: {max_call_duration_intl: 3}
`

// proxyRig is SIPp UAC → tollgate (proxy mode) → SIPp UAS, all on loopback.
type proxyRig struct {
	t       *testing.T
	dir     string
	sipp    string
	tr      string // transport of both legs: udp or tcp
	srv     *cli.Server
	sipPort int
	uasMsgs string
	ivrMsgs string
}

func newProxyRig(t *testing.T, tr string) *proxyRig {
	_, sipp := needPeers(t)
	r := &proxyRig{t: t, dir: t.TempDir(), sipp: sipp, tr: tr, sipPort: testenv.FreePort(t)}
	uasPort, ivrPort := testenv.FreePort(t), testenv.FreePort(t)
	r.uasMsgs, r.ivrMsgs = filepath.Join(r.dir, "uas.log"), filepath.Join(r.dir, "ivr.log")
	t.Setenv("TOLLGATE_TEST_PROXY_ADMIN", proxyAdminToken)
	param, sippTr := "", []string{}
	if tr == "tcp" {
		param, sippTr = ";transport=tcp", []string{"-t", "t1"}
	}
	testenv.StartSIPpUAS(t, r.dir, "testdata/sipp/uas.xml", uasPort, append([]string{"-trace_msg", "-message_file", r.uasMsgs}, sippTr...)...)
	testenv.StartSIPpUAS(t, r.dir, "testdata/sipp/proxy_uas_ring.xml", ivrPort, "-trace_msg", "-message_file", r.ivrMsgs)
	waitBound(t, tr, uasPort)
	waitBound(t, "udp", ivrPort)

	cfg, err := config.Parse("proxy.yaml", []byte(fmt.Sprintf(proxyPolicy, r.sipPort, r.sipPort, uasPort, param, ivrPort)))
	if err != nil {
		t.Fatal(err)
	}
	r.srv, err = cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: filepath.Join(r.dir, "data"), Listen: "127.0.0.1:0",
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

// waitBound waits until a peer has bound a port on 127.0.0.1.
func waitBound(t *testing.T, tr string, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if tr == "udp" {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", addr); err == nil {
				pc.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			return // taken: the peer is listening
		}
	}
	t.Fatalf("nothing bound %s %s", tr, addr)
}

// uac runs a SIPp UAC scenario against tollgate for the given CSV rows.
func (r *proxyRig) uac(scenario string, rows ...string) (ok bool, trace string) {
	inf := filepath.Join(r.dir, fmt.Sprintf("calls-%d.csv", time.Now().UnixNano()))
	os.WriteFile(inf, []byte("SEQUENTIAL\n"+strings.Join(rows, "\n")+"\n"), 0o600)
	sf, _ := filepath.Abs(filepath.Join("testdata/sipp", scenario))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs := filepath.Join(r.dir, fmt.Sprintf("msgs-%d.log", time.Now().UnixNano()))
	args := []string{"-sf", sf, "-inf", inf, "-m", fmt.Sprint(len(rows)), "-l", "1", "-r", "20",
		"-i", "127.0.0.1", "-p", fmt.Sprint(testenv.FreePort(r.t)), "-nostdin", "-timeout", "40s", "-recv_timeout", "20000",
		"-trace_msg", "-message_file", msgs}
	if r.tr == "tcp" {
		args = append(args, "-t", "t1")
	}
	cmd := exec.CommandContext(ctx, r.sipp, append(args, fmt.Sprintf("127.0.0.1:%d", r.sipPort))...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(msgs)
	if err != nil {
		r.t.Logf("sipp %s: %v\n%s", scenario, err, testenv.Tail(string(out), 3000))
	}
	return err == nil, string(b)
}

// uacAsync runs uac in the background.
func (r *proxyRig) uacAsync(scenario string, rows ...string) <-chan [2]any {
	ch := make(chan [2]any, 1)
	go func() {
		ok, trace := r.uac(scenario, rows...)
		ch <- [2]any{ok, trace}
	}()
	return ch
}

func (r *proxyRig) wait(ch <-chan [2]any, d time.Duration) (bool, string) {
	r.t.Helper()
	select {
	case res := <-ch:
		return res[0].(bool), res[1].(string)
	case <-time.After(d):
		r.t.Fatalf("the caller was not hung up within %s", d)
		return false, ""
	}
}

// answered waits until the proxy carries an answered call of tenant and
// extension, and returns its Call-ID.
func (r *proxyRig) answered(tenant, ext string) string {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, c := range r.srv.SIP.Calls() {
			if c.Tenant == tenant && c.Extension == ext && c.State == "answered" {
				return c.CallID
			}
		}
	}
	r.t.Fatalf("no answered call of %s/%s through the proxy: %+v", tenant, ext, r.srv.SIP.Calls())
	return ""
}

func (r *proxyRig) api(method, path, body string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.srv.Addr.String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+proxyAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// settled waits until the engine holds no live call and the call's end
// event is in the store, and returns its events (type → duration).
func (r *proxyRig) settled(callID string) map[string]int {
	r.t.Helper()
	got := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		es, err := r.srv.Store.CallEventsSince(context.Background(), time.Now().Add(-time.Hour))
		if err != nil {
			r.t.Fatal(err)
		}
		got = map[string]int{}
		for _, e := range es {
			if e.CallID == callID {
				got[e.Type] = e.Duration
			}
		}
		if _, ok := got["end"]; ok && r.srv.Engine.LiveCalls() == 0 {
			return got
		}
	}
	r.t.Fatalf("call %s: events %v, engine LiveCalls %d; want an end event and 0", callID, got, r.srv.Engine.LiveCalls())
	return nil
}

var callIDRe = regexp.MustCompile(`(?m)^Call-ID: (\S+)`)

func callID(t *testing.T, trace string) string {
	t.Helper()
	m := callIDRe.FindStringSubmatch(trace)
	if m == nil {
		t.Fatalf("no Call-ID in the trace:\n%s", testenv.Tail(trace, 2000))
	}
	return m[1]
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestSIPProxy: SIPp UAC → tollgate proxy → SIPp UAS over UDP.
func TestSIPProxy(t *testing.T) {
	r := newProxyRig(t, "udp")
	rr := fmt.Sprintf("Record-Route: <sip:127.0.0.1:%d;transport=udp;lr>", r.sipPort)

	t.Run("allowed call completes through the proxy", func(t *testing.T) {
		ok, trace := r.uac("uac_call.xml", "1001;+12125550100")
		if !ok {
			t.Fatalf("allowed call failed:\n%s", testenv.Tail(trace, 3000))
		}
		// The caller's 200 carries tollgate's Record-Route, so ACK and BYE
		// came back through it; the PBX saw the verdict.
		if !strings.Contains(trace, rr) {
			t.Errorf("the caller's 200 has no %q:\n%s", rr, testenv.Tail(trace, 3000))
		}
		uas := readFile(r.uasMsgs)
		for _, want := range []string{rr, "X-Tollgate-Verdict: allow;", "BYE sip:pbx@"} {
			if !strings.Contains(uas, want) {
				t.Errorf("the UAS never saw %q:\n%s", want, testenv.Tail(uas, 3000))
			}
		}
		ev := r.settled(callID(t, trace))
		if _, ok := ev["answer"]; !ok {
			t.Errorf("no answer event recorded: %v", ev)
		}
	})

	t.Run("rejected call gets 403 with Reason", func(t *testing.T) {
		ok, trace := r.uac("uac_reject.xml", "1002;+25261234567")
		if !ok {
			t.Fatalf("rejected-call scenario failed:\n%s", testenv.Tail(trace, 3000))
		}
		if !strings.Contains(trace, `Reason: SIP;cause=403;text="`) || !strings.Contains(trace, "252") {
			t.Errorf("no Reason naming the destination:\n%s", testenv.Tail(trace, 3000))
		}
		if strings.Contains(readFile(r.uasMsgs), "+25261234567") {
			t.Errorf("the rejected call reached the UAS")
		}
	})

	t.Run("call longer than max_duration_s gets BYE on both sides", func(t *testing.T) {
		torn := r.srv.SIP.Stats().TornDown.Load()
		start := time.Now()
		ok, trace := r.uac("proxy_uac_hold.xml", "3001;+33142685300;short")
		took := time.Since(start)
		if !ok {
			t.Fatalf("the call was not ended by tollgate:\n%s", testenv.Tail(trace, 3000))
		}
		if took < 3*time.Second || took > 9*time.Second {
			t.Errorf("call lasted %s; want about 3 s (max_call_duration_intl: 3)", took)
		}
		id := callID(t, trace)
		if !strings.Contains(trace, "X-Tollgate-Teardown: max_duration") {
			t.Errorf("the caller got no BYE from tollgate:\n%s", testenv.Tail(trace, 3000))
		}
		if uas := readFile(r.uasMsgs); !regexp.MustCompile(`BYE sip:pbx@[^\n]*\n(?:[^\n]+\n)*?Call-ID: `+regexp.QuoteMeta(id)).MatchString(uas) ||
			!strings.Contains(uas, "X-Tollgate-Teardown: max_duration") {
			t.Errorf("the UAS got no BYE for %s:\n%s", id, testenv.Tail(uas, 3000))
		}
		ev := r.settled(id)
		if d := ev["end"]; d < 3 || d > 5 {
			t.Errorf("end event duration %d s, want 3", d)
		}
		if r.srv.SIP.Stats().TornDown.Load() != torn+1 {
			t.Errorf("TornDown did not count the call")
		}
	})

	t.Run("disconnect through the API", func(t *testing.T) {
		ch := r.uacAsync("proxy_uac_hold.xml", "5001;+12125550101;beta")
		id := r.answered("beta", "5001")
		if code, body := r.api("GET", "/v1/calls", ""); code != 200 || !strings.Contains(body, id) {
			t.Errorf("GET /v1/calls: %d %s; want the call %s", code, body, id)
		}
		if code, body := r.api("POST", "/v1/calls/"+id+"/disconnect", ""); code != 200 {
			t.Fatalf("disconnect: %d %s", code, body)
		}
		if ok, trace := r.wait(ch, 10*time.Second); !ok || !strings.Contains(trace, "X-Tollgate-Teardown: disconnect") {
			t.Fatalf("the caller was not disconnected:\n%s", testenv.Tail(trace, 3000))
		}
		r.settled(id)
		if code, _ := r.api("POST", "/v1/calls/"+id+"/disconnect", ""); code != 404 {
			t.Errorf("disconnecting an ended call: %d, want 404", code)
		}

		ch = r.uacAsync("proxy_uac_hold.xml", "5002;+12125550102;beta")
		id = r.answered("beta", "5002")
		code, body := r.api("POST", "/v1/extensions/beta/5002/disconnect", "")
		var res struct{ Disconnected int }
		json.Unmarshal([]byte(body), &res)
		if code != 200 || res.Disconnected != 1 {
			t.Fatalf("disconnect extension: %d %s; want 1 call", code, body)
		}
		if ok, trace := r.wait(ch, 10*time.Second); !ok {
			t.Fatalf("the extension's call was not disconnected:\n%s", testenv.Tail(trace, 3000))
		}
		r.settled(id)
	})

	t.Run("kill switch tears down a live international call", func(t *testing.T) {
		ch := r.uacAsync("proxy_uac_hold.xml", "4001;+33142685301;acme")
		id := r.answered("acme", "4001")
		if code, body := r.api("POST", "/v1/killswitch", `{"tenant":"acme","active":true,"reason":"proxy test"}`); code != 200 {
			t.Fatalf("kill switch: %d %s", code, body)
		}
		if ok, trace := r.wait(ch, 10*time.Second); !ok || !strings.Contains(trace, "X-Tollgate-Teardown: kill_switch") {
			t.Fatalf("the call survived the kill switch:\n%s", testenv.Tail(trace, 3000))
		}
		if !strings.Contains(readFile(r.uasMsgs), "X-Tollgate-Teardown: kill_switch") {
			t.Errorf("the UAS got no BYE for the kill switch")
		}
		r.settled(id)
	})

	t.Run("CANCEL while the PIN IVR rings", func(t *testing.T) {
		ok, trace := r.uac("proxy_uac_cancel.xml", "6001;+442079460000;gamma")
		if !ok {
			t.Fatalf("cancel scenario failed:\n%s", testenv.Tail(trace, 3000))
		}
		ivr := readFile(r.ivrMsgs)
		for _, want := range []string{"INVITE sip:pin@127.0.0.1", "X-Tollgate-Verdict: challenge", "CANCEL sip:pin@", "ACK sip:pin@"} {
			if !strings.Contains(ivr, want) {
				t.Errorf("the IVR never saw %q:\n%s", want, testenv.Tail(ivr, 3000))
			}
		}
		if ev := r.settled(callID(t, trace)); len(ev) != 1 {
			t.Errorf("events %v; want only end (never answered)", ev)
		}
	})
}

// TestSIPProxyTCP: both legs over TCP, caller hangs up, then a call torn
// down at its maximum duration.
func TestSIPProxyTCP(t *testing.T) {
	r := newProxyRig(t, "tcp")
	ok, trace := r.uac("uac_call.xml", "1001;+12125550100")
	if !ok {
		t.Fatalf("allowed call over TCP failed:\n%s", testenv.Tail(trace, 3000))
	}
	if rr := fmt.Sprintf("Record-Route: <sip:127.0.0.1:%d;transport=tcp;lr>", r.sipPort); !strings.Contains(trace, rr) {
		t.Errorf("no %q in the caller's 200:\n%s", rr, testenv.Tail(trace, 3000))
	}
	r.settled(callID(t, trace))

	ok, trace = r.uac("proxy_uac_hold.xml", "3001;+33142685300;short")
	if !ok || !strings.Contains(trace, "X-Tollgate-Teardown: max_duration") {
		t.Fatalf("the TCP call was not ended at its maximum duration:\n%s", testenv.Tail(trace, 3000))
	}
	if !strings.Contains(readFile(r.uasMsgs), "X-Tollgate-Teardown: max_duration") {
		t.Errorf("the TCP UAS got no BYE")
	}
	r.settled(callID(t, trace))
}
