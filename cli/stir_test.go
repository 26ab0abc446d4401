package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/stir"
	"github.com/tollgate-voip/tollgate/stir/stirtest"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

type stirFiles struct {
	dir, key, root, chain string
	pki                   *stirtest.PKI
}

func writeSTIRFiles(t *testing.T) *stirFiles {
	f := &stirFiles{dir: t.TempDir(), pki: stirtest.NewPKI(t, "1234", time.Now())}
	f.key = filepath.Join(f.dir, "sp.key")
	f.root = filepath.Join(f.dir, "root.pem")
	f.chain = filepath.Join(f.dir, "sp.pem")
	for p, b := range map[string][]byte{f.key: f.pki.LeafKeyPEM(), f.root: f.pki.RootPEM(), f.chain: f.pki.ChainPEM()} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestSTIRSignVerifyCommands(t *testing.T) {
	f := writeSTIRFiles(t)
	const x5u = "https://cert.example.net/sp.pem"
	code, hdr, errs := run(t, "", "stir", "sign", "-key", f.key, "-x5u", x5u, "-orig", "+1 212 555 0100", "-dest", "+12025550123", "-attest", "A")
	if code != 0 || !strings.Contains(hdr, ";info=<"+x5u+">;alg=ES256;ppt=shaken") {
		t.Fatalf("stir sign: exit %d, %q %q", code, hdr, errs)
	}
	hdr = strings.TrimSpace(hdr)
	code, out, errs := run(t, "", "stir", "verify", "-identity", hdr, "-anchors", f.root, "-cert", f.chain, "-orig", "+12125550100", "-dest", "+12025550123")
	if code != 0 || !strings.Contains(out, "verstat     TN-Validation-Passed") || !strings.Contains(out, "attest      A") || !strings.Contains(out, "spc         1234") {
		t.Errorf("stir verify: exit %d\n%s%s", code, out, errs)
	}
	// Standard input, with the header name, and JSON out.
	code, out, _ = run(t, "Identity: "+hdr+"\n", "stir", "verify", "-anchors", f.root, "-cert", f.chain, "-json")
	var r struct{ Verstat, Attest string }
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Verstat != "TN-Validation-Passed" || r.Attest != "A" {
		t.Errorf("stir verify -json: exit %d %q", code, out)
	}
	// Wrong caller: 438, exit 1.
	code, out, _ = run(t, "", "stir", "verify", "-identity", hdr, "-anchors", f.root, "-cert", f.chain, "-orig", "+12125550199")
	if code != 1 || !strings.Contains(out, "error       438 Invalid Identity Header") {
		t.Errorf("mismatched orig: exit %d\n%s", code, out)
	}
	// Stale: verified an hour later.
	code, out, _ = run(t, "", "stir", "verify", "-identity", hdr, "-anchors", f.root, "-cert", f.chain, "-at", time.Now().Add(time.Hour).Format(time.RFC3339))
	if code != 1 || !strings.Contains(out, "403 Stale Date") {
		t.Errorf("stale: exit %d\n%s", code, out)
	}
	// Usage errors exit 2.
	if code, _, _ := run(t, "", "stir", "sign", "-key", f.key); code != 2 {
		t.Errorf("sign without numbers: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "stir", "sign", "-key", f.key, "-x5u", "http://x/y", "-orig", "1", "-dest", "2", "-attest", "A"); code != 2 {
		t.Errorf("sign with http x5u: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "stir", "frob"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}

// TestSTIRThroughAPI is the end-to-end case on a real server: an
// inbound call signed by `tollgate stir sign` verifies as A through
// /v1/screen (the certificate comes from a real HTTPS server on loopback),
// a tampered one is refused with its RFC 8224 code, and a spoofed
// neighbour number without a PASSporT is challenged.
func TestSTIRThroughAPI(t *testing.T) {
	f := writeSTIRFiles(t)
	srv := stirtest.NewServer(t, f.pki.ChainPEM())
	policy := filepath.Join(f.dir, "policy.yaml")
	src := `
server:
  tokens: [{name: t, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}]
stir:
  trust_anchors: ` + f.root + `
  sign_key: ` + f.key + `
  sign_x5u: ` + srv.X5U + `
defaults:
  country: US
  on_error: fail_open
  destinations: {default: allow}
  caller_id:
    enabled: true
    verify: true
    own_numbers: ["1212555"]
`
	s, ver := startSTIRServer(t, policy, src, srv)
	defer s.Shutdown(context.Background())

	// Attestation from the tenant's numbers: +1 212 555 … is its own → A.
	code, hdr, errs := run(t, "", "stir", "sign", "-config", policy, "-orig", "+12125550100", "-dest", "+13125550123")
	if code != 0 {
		t.Fatalf("stir sign: %d %s", code, errs)
	}
	hdr = strings.TrimSpace(hdr)
	screen := func(id, caller, callee, identity string) map[string]any {
		body, _ := json.Marshal(map[string]string{"call_id": id, "caller": caller, "callee": callee, "direction": "inbound", "identity": identity})
		req, _ := http.NewRequest("POST", "http://"+s.Addr.String()+"/v1/screen", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("screen: %d %v", resp.StatusCode, err)
		}
		return out
	}
	reasonCodes := func(out map[string]any) string {
		var cs []string
		rs, _ := out["reasons"].([]any)
		for _, r := range rs {
			m := r.(map[string]any)
			if m["check"] == "callerid" {
				cs = append(cs, m["code"].(string)+":"+m["text"].(string))
			}
		}
		return strings.Join(cs, "; ")
	}
	out := screen("c1", "+12125550100", "+13125550123", hdr)
	if rc := reasonCodes(out); !strings.HasPrefix(rc, "stir_passed_a:TN-Validation-Passed, attestation A by SPC 1234") || out["action"] != "allow" {
		t.Errorf("signed call: action %v reasons %q", out["action"], rc)
	}
	tampered := hdr[:strings.IndexByte(hdr, ';')-4] + "AAAA" + hdr[strings.IndexByte(hdr, ';'):]
	out = screen("c2", "+12125550100", "+13125550123", tampered)
	if rc := reasonCodes(out); !strings.Contains(rc, "stir_failed:TN-Validation-Failed: 438 Invalid Identity Header") || out["action"] != "honeypot" {
		t.Errorf("tampered call: action %v reasons %q", out["action"], rc)
	}
	out = screen("c3", "+13125559999", "+13125550123", "")
	if rc := reasonCodes(out); !strings.Contains(rc, "neighbour_spoofing") || out["action"] != "challenge" {
		t.Errorf("neighbour call: action %v reasons %q", out["action"], rc)
	}
	if st := ver.Stats(); st.Fetches != 1 {
		t.Errorf("certificate fetched %d times, want 1", st.Fetches)
	}
}

// startSTIRServer writes the policy src to path and starts a server whose
// verifier fetches certificates from the given loopback HTTPS servers —
// the SSRF guard relaxed explicitly for them, as tests may.
func startSTIRServer(t *testing.T, path, src string, certs ...*stirtest.Server) (*Server, *stir.Verifier) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := stir.LoadTrust(cfg.STIR.TrustAnchors, "")
	if err != nil {
		t.Fatal(err)
	}
	o := verifierOptions(&cfg.STIR, trust)
	o.Fetch.AllowSpecialAddrs, o.Fetch.RootCAs, o.Fetch.Ports = true, certs[0].RootCAs(), nil
	for _, c := range certs {
		o.Fetch.Ports = append(o.Fetch.Ports, c.Port())
	}
	ver, err := stir.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Listen: "127.0.0.1:0", STIR: ver,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return s, ver
}

// TestSTIRThroughSIP: an INVITE carrying an Identity header made by
// `tollgate stir sign` is redirected by the SIP front end with attestation
// A in its verdict, and each way verification fails is refused with the
// RFC 8224 response code of the failure (policy: failed → block; absent →
// block, answered 428).
func TestSTIRThroughSIP(t *testing.T) {
	f := writeSTIRFiles(t)
	srv := stirtest.NewServer(t, f.pki.ChainPEM())
	// A second service provider whose certificate no trusted STI-CA issued.
	rogue := writeSTIRFiles(t)
	rogueSrv := stirtest.NewServer(t, rogue.pki.ChainPEM())
	policy := filepath.Join(f.dir, "policy.yaml")
	src := `
stir:
  trust_anchors: ` + f.root + `
  sign_key: ` + f.key + `
  sign_x5u: ` + srv.X5U + `
sip:
  mode: redirect
  listen: [udp:127.0.0.1:0]
  map: {direction_header: X-Direction}
  limits: {requests_per_s: 0}
defaults:
  country: US
  on_error: fail_closed
  destinations: {default: allow}
  caller_id:
    enabled: true
    verify: true
    own_numbers: ["1212555"]
    outcomes:
      failed: {action: block, risk: 80}
      absent: {action: block, risk: 50}
`
	s, _ := startSTIRServer(t, policy, src, srv, rogueSrv)
	defer s.Shutdown(context.Background())
	var sipAddr string
	for _, a := range s.SIP.Addrs() {
		if a.Network() == "udp" {
			sipAddr = a.String()
		}
	}
	if sipAddr == "" {
		t.Fatal("no SIP UDP listener")
	}
	sign := func(args ...string) string {
		t.Helper()
		code, hdr, errs := run(t, "", append([]string{"stir", "sign"}, args...)...)
		if code != 0 {
			t.Fatalf("stir sign %v: %d %s", args, code, errs)
		}
		return strings.TrimSpace(hdr)
	}
	// invite sends an INVITE from caller to callee with the Identity
	// header (none when empty) and returns the status line and headers.
	invite := func(id, caller, callee, identity string) (status string, hdrs string) {
		t.Helper()
		c, err := net.Dial("udp", sipAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		local := c.LocalAddr().String()
		var b strings.Builder
		fmt.Fprintf(&b, "INVITE sip:%s@tollgate SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n", callee, local, id)
		fmt.Fprintf(&b, "From: <sip:%s@carrier.example>;tag=f%s\r\nTo: <sip:%s@tollgate>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n", caller, id, callee, id)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nX-Direction: inbound\r\n", caller, local)
		if identity != "" {
			fmt.Fprintf(&b, "Identity: %s\r\n", identity)
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		if _, err := c.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s: no final response: %v", id, err)
			}
			msg := string(buf[:n])
			status, rest, _ := strings.Cut(msg, "\r\n")
			if strings.HasPrefix(status, "SIP/2.0 1") {
				continue
			}
			return status, rest
		}
	}
	const caller, callee = "+12125550100", "+13125550123"
	good := sign("-config", policy, "-orig", caller, "-dest", callee)
	status, hdrs := invite("sipA", caller, callee, good)
	if status != "SIP/2.0 302 Moved Temporarily" || !strings.Contains(hdrs, "X-Tollgate-Verdict: allow;") || !strings.Contains(hdrs, "stir_passed_a") {
		t.Fatalf("signed INVITE: %s\n%s", status, hdrs)
	}

	tampered := good[:strings.IndexByte(good, ';')-4] + "AAAA" + good[strings.IndexByte(good, ';'):]
	hour := time.Now().Add(-time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name, caller, identity, status string
	}{
		{"tampered signature", caller, tampered, "SIP/2.0 438 Invalid Identity Header"},
		{"orig.tn is not the caller", "+12125550199", good, "SIP/2.0 438 Invalid Identity Header"},
		{"signed an hour ago", caller, sign("-config", policy, "-orig", caller, "-dest", callee, "-at", hour), "SIP/2.0 403 Stale Date"},
		{"x5u not found", caller, sign("-key", f.key, "-x5u", strings.Replace(srv.X5U, "sp.pem", "gone.pem", 1), "-orig", caller, "-dest", callee, "-attest", "A"), "SIP/2.0 436 Bad Identity Info"},
		{"certificate from an untrusted CA", caller, sign("-key", rogue.key, "-x5u", rogueSrv.X5U, "-orig", caller, "-dest", callee, "-attest", "A"), "SIP/2.0 437 Unsupported Credential"},
		{"no Identity header", caller, "", "SIP/2.0 428 Use Identity Header"},
	} {
		status, hdrs := invite(strings.ReplaceAll(tc.name, " ", "-"), tc.caller, callee, tc.identity)
		if status != tc.status {
			t.Errorf("%s: got %q, want %q\n%s", tc.name, status, tc.status, hdrs)
			continue
		}
		code := strings.Fields(tc.status)[1]
		if !strings.Contains(hdrs, "Reason: SIP;cause="+code+";") || !strings.Contains(hdrs, "X-Tollgate-Verdict: reject;") {
			t.Errorf("%s: Reason or verdict header missing:\n%s", tc.name, hdrs)
		}
	}
}
