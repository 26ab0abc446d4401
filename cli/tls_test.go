package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
)

// selfSigned makes a certificate for 127.0.0.1 with the given serial and
// returns its PEM certificate and key.
func selfSigned(t *testing.T, serial int64) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tollgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestAPIServesTLSAndReloads: with server.tls_cert/tls_key the API and
// the console answer over HTTPS only; when the files are replaced (as a
// renewal does: new files renamed over the old) new handshakes see the new
// certificate without a restart, and a broken replacement keeps the
// working one in service.
func TestAPIServesTLSAndReloads(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	put := func(certPEM, keyPEM []byte) {
		for p, b := range map[string][]byte{certPath: certPEM, keyPath: keyPEM} {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	certA, pemA, keyA := selfSigned(t, 1001)
	certB, pemB, keyB := selfSigned(t, 2002)
	put(pemA, keyA)
	cfg, err := config.Parse("tls.yaml", []byte("server:\n  tls_cert: "+certPath+"\n  tls_key: "+keyPath+"\ndefaults: {country: US, timezone: America/New_York, on_error: fail_closed}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Options{Config: cfg, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard, certCheckEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, s)
	addr := s.Addr.String()
	roots := x509.NewCertPool()
	roots.AddCert(certA)
	roots.AddCert(certB)
	served := func() int64 {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := served(); got != 1001 {
		t.Fatalf("served certificate %d, want 1001", got)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET https /healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Errorf("plain HTTP answered 200 on the TLS listener")
	}

	put(pemB, keyB)
	deadline := time.Now().Add(5 * time.Second)
	for served() != 2002 {
		if time.Now().After(deadline) {
			t.Fatalf("still serving the old certificate 5 s after the files were replaced")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A half-written renewal (a certificate without its key) does not
	// take the listener down: the last good pair stays.
	put([]byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"), keyA)
	time.Sleep(150 * time.Millisecond)
	for range 3 {
		if got := served(); got != 2002 {
			t.Fatalf("after a broken replacement the server presents %d, want the last good 2002", got)
		}
	}
}

// TestTLSConfigNeedsBoth: tls_cert without tls_key is an error naming the
// missing key.
func TestTLSConfigNeedsBoth(t *testing.T) {
	_, err := config.Parse("tls.yaml", []byte("server:\n  tls_cert: /etc/tollgate/api.crt\ndefaults: {country: US, timezone: America/New_York, on_error: fail_closed}\n"))
	if err == nil || !strings.Contains(err.Error(), "server.tls_key") {
		t.Errorf("tls_cert alone: %v, want an error naming server.tls_key", err)
	}
}
