package certfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCert(t *testing.T, certPath, keyPath, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCertificateRenewal: a renewed certificate pair on disk is served
// to new connections without a restart; a broken pair keeps the old one.
func TestTLSCertificateRenewal(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "sip.crt"), filepath.Join(dir, "sip.key")
	writeCert(t, certPath, keyPath, "first")
	cf, err := Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cf.CheckEvery = 0
	name := func() string {
		c, err := cf.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if got := name(); got != "first" {
		t.Fatalf("serving %q", got)
	}
	writeCert(t, certPath, keyPath, "second")
	later := time.Now().Add(time.Minute)
	os.Chtimes(certPath, later, later)
	if got := name(); got != "second" {
		t.Errorf("after renewal serving %q, want second", got)
	}
	// Half-written renewal: certificate replaced, key garbage.
	os.WriteFile(keyPath, []byte("not a key"), 0o600)
	later = later.Add(time.Minute)
	os.Chtimes(keyPath, later, later)
	if got := name(); got != "second" {
		t.Errorf("after a broken renewal serving %q, want the previous second", got)
	}
	if cf.Reloads != 1 || cf.Failures != 1 {
		t.Errorf("reloads %d, failures %d; want 1 and 1", cf.Reloads, cf.Failures)
	}
	if _, err := Load(filepath.Join(dir, "missing.crt"), keyPath); err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("missing certificate: %v", err)
	}
}
