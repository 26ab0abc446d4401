package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/stir"
	"github.com/tollgate-voip/tollgate/stir/stirtest"
)

// BenchmarkScreenHTTPIdentity drives POST /v1/screen on a real server on
// loopback, one keep-alive client, with inbound calls without and with a
// signed Identity header (certificate cached after the first call): the
// difference in ns/op is the latency STIR verification adds per request.
func BenchmarkScreenHTTPIdentity(b *testing.B) {
	dir := b.TempDir()
	pki := stirtest.NewPKI(b, "1234", time.Now())
	srv := stirtest.NewServer(b, pki.ChainPEM())
	root := filepath.Join(dir, "root.pem")
	os.WriteFile(root, pki.RootPEM(), 0o600)
	cfg, err := config.Parse("bench.yaml", []byte(`
server:
  tokens: [{name: t, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}]
stir: {trust_anchors: `+root+`}
defaults:
  country: US
  on_error: fail_open
  destinations: {default: allow}
  caller_id: {enabled: true, verify: true}
`))
	if err != nil {
		b.Fatal(err)
	}
	trust, _ := stir.LoadTrust(root, "")
	o := verifierOptions(&cfg.STIR, trust)
	o.Fetch.AllowSpecialAddrs, o.Fetch.Ports, o.Fetch.RootCAs = true, []int{srv.Port()}, srv.RootCAs()
	ver, _ := stir.NewVerifier(o)
	s, err := Start(context.Background(), Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0", STIR: ver,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	signer, _ := stir.NewSigner(pki.LeafKey, srv.X5U)
	url := "http://" + s.Addr.String() + "/v1/screen"
	client := &http.Client{}
	for _, withID := range []bool{false, true} {
		name := "no_identity"
		if withID {
			name = "identity_A_cached"
		}
		b.Run(name, func(b *testing.B) {
			id := ""
			if withID {
				// Signed now; re-signed every 30 s so iat stays fresh.
				id, _ = signer.Sign("+13125550100", "+12025550123", "A", "", time.Now())
			}
			signed := time.Now()
			var body bytes.Buffer
			for i := 0; i < b.N; i++ {
				if withID && time.Since(signed) > 30*time.Second {
					b.StopTimer()
					id, _ = signer.Sign("+13125550100", "+12025550123", "A", "", time.Now())
					signed = time.Now()
					b.StartTimer()
				}
				body.Reset()
				fmt.Fprintf(&body, `{"call_id":"%s%d","caller":"+13125550100","callee":"+12025550123","direction":"inbound","identity":%q}`, name, i, id)
				req, _ := http.NewRequest("POST", url, &body)
				req.Header.Set("Authorization", "Bearer test")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || withID && !bytes.Contains(rb, []byte("stir_passed_a")) {
					b.Fatalf("%d %s", resp.StatusCode, rb)
				}
			}
		})
	}
}
