// Package stirtest makes STIR/SHAKEN test credentials: a root → intermediate
// → service provider PKI with a TNAuthList, and a real HTTPS server on
// loopback that serves the certificate as an x5u would. It is for tests.
package stirtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a test STI-CA root, an intermediate and one SPC certificate.
type PKI struct {
	Root, Inter, Leaf          *x509.Certificate
	RootKey, InterKey, LeafKey *ecdsa.PrivateKey
}

var serial atomic.Int64

// NewPKI makes a PKI whose leaf (SPC spc) is valid from a year before to a
// year after at; the CAs are valid from five years before to ten after.
func NewPKI(t testing.TB, spc string, at time.Time) *PKI {
	p := &PKI{RootKey: key(t), InterKey: key(t), LeafKey: key(t)}
	p.Root = cert(t, "Test STI-CA Root", true, at.AddDate(-5, 0, 0), at.AddDate(10, 0, 0), "", nil, nil, p.RootKey)
	p.Inter = cert(t, "Test STI-CA Intermediate", true, at.AddDate(-5, 0, 0), at.AddDate(10, 0, 0), "", p.Root, p.RootKey, p.InterKey)
	p.Leaf = cert(t, "SHAKEN "+spc, false, at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), spc, p.Inter, p.InterKey, p.LeafKey)
	return p
}

// ChainPEM is the leaf and the intermediate, as an x5u serves them.
func (p *PKI) ChainPEM() []byte {
	return append(pemCert(p.Leaf), pemCert(p.Inter)...)
}

// RootPEM is the trust anchor.
func (p *PKI) RootPEM() []byte { return pemCert(p.Root) }

// LeafKeyPEM is the SPC private key (SEC 1).
func (p *PKI) LeafKeyPEM() []byte {
	der, _ := x509.MarshalECPrivateKey(p.LeafKey)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func cert(t testing.TB, cn string, ca bool, nb, na time.Time, spc string, parent *x509.Certificate, parentKey, k *ecdsa.PrivateKey) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             nb,
		NotAfter:              na,
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if spc != "" {
		ia5, _ := asn1.MarshalWithParams(spc, "ia5")
		entry, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: ia5})
		seq, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: entry})
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 26}, Value: seq}}
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Server is a real HTTPS server on loopback serving one certificate file.
type Server struct {
	*httptest.Server
	// Hits counts requests.
	Hits atomic.Int64
	// X5U is the URL of the certificate file.
	X5U string
}

// NewServer serves body at /sp.pem over HTTPS on 127.0.0.1 until the test ends.
func NewServer(t testing.TB, body []byte) *Server {
	s := &Server{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		if r.URL.Path != "/sp.pem" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	s.X5U = s.URL + "/sp.pem"
	return s
}

// Port is the server's TCP port (to allow in a fetch policy).
func (s *Server) Port() int {
	u, _ := url.Parse(s.URL)
	n, _ := strconv.Atoi(u.Port())
	return n
}

// RootCAs trusts the server's TLS certificate.
func (s *Server) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}
