package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
	if err := os.WriteFile(policy, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(policy)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := stir.LoadTrust(cfg.STIR.TrustAnchors, "")
	if err != nil {
		t.Fatal(err)
	}
	o := verifierOptions(&cfg.STIR, trust)
	// Relaxed explicitly: the certificate server is on loopback.
	o.Fetch.AllowSpecialAddrs, o.Fetch.Ports, o.Fetch.RootCAs = true, []int{srv.Port()}, srv.RootCAs()
	ver, err := stir.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Listen: "127.0.0.1:0", STIR: ver,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
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
