package sipfront

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn and
// its key, returning the certificate for the client's trust pool.
func writeCert(t *testing.T, certPath, keyPath, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
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
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestListenTLS: a SIP client over TLS (the server's certificate checked
// against the client's trust pool) gets its verdicts on the connection; a
// client speaking plain SIP to the TLS port gets nothing and does not
// hurt the listener.
func TestListenTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "sip.crt"), filepath.Join(dir, "sip.key")
	cert := writeCert(t, certPath, keyPath, "tollgate-sip")
	policy := strings.Replace(testPolicy, "listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]",
		"listen: [tls:127.0.0.1:0]\n  tls_cert: "+certPath+"\n  tls_key: "+keyPath, 1)
	s := startServer(t, policy)
	a := addr(s, "tcp")
	if a == "" {
		t.Fatal("no TLS listener address")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	// Plain SIP on the TLS port: no SIP response, connection closed.
	pc, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	pc.Write([]byte(invite("plain", "sip:+12125550100@edge", "")))
	if b, _ := bufio.NewReader(pc).ReadString('\n'); strings.HasPrefix(b, "SIP/2.0") {
		t.Errorf("plain SIP on the TLS port answered %q", b)
	}
	pc.Close()

	c, err := tls.Dial("tcp", a, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "tollgate-sip" {
		t.Errorf("server presented %q", got)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	tlsVia := func(m string) string { return strings.Replace(m, "SIP/2.0/UDP", "SIP/2.0/TLS", 1) }
	c.Write([]byte(tlsVia(invite("s1", "sip:+12125550100@edge", "")) + tlsVia(invite("s2", "sip:+25261234567@edge", ""))))
	for _, want := range []struct {
		code   int
		callID string
	}{{302, "s1"}, {403, "s2"}} {
		msg := readResponse(t, r)
		code, text := status(t, []byte(msg))
		if code != want.code || header(text, "Call-ID") != want.callID {
			t.Errorf("TLS response %d for %s, want %d\n%s", code, header(text, "Call-ID"), want.code, text)
		}
		if !strings.Contains(header(text, "Via"), "SIP/2.0/TLS") {
			t.Errorf("response Via %q lost the TLS transport", header(text, "Via"))
		}
	}
}
