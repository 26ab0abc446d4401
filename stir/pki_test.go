package stir

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
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a root → intermediate → SPC leaf chain made for the tests.
type testPKI struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey *ecdsa.PrivateKey
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tnAuthExt encodes a TNAuthList with one SPC as [0] EXPLICIT IA5String.
func tnAuthExt(t testing.TB, spc string) pkix.Extension {
	ia5, err := asn1.MarshalWithParams(spc, "ia5")
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: ia5})
	seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: entry})
	return pkix.Extension{Id: OIDTNAuthList, Value: seq}
}

type certSpec struct {
	cn         string
	ca         bool
	nb, na     time.Time
	spc        string // TNAuthList SPC; "" = none
	parent     *x509.Certificate
	parentKey  *ecdsa.PrivateKey
	key        *ecdsa.PrivateKey
	tnCritical bool
}

func makeCert(t testing.TB, s certSpec) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: s.cn, Organization: []string{"tollgate test"}},
		NotBefore:             s.nb,
		NotAfter:              s.na,
		BasicConstraintsValid: true,
		IsCA:                  s.ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if s.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if s.spc != "" {
		ext := tnAuthExt(t, s.spc)
		ext.Critical = s.tnCritical
		tmpl.ExtraExtensions = []pkix.Extension{ext}
	}
	parent, pk := s.parent, s.parentKey
	if parent == nil {
		parent, pk = tmpl, s.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &s.key.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	t0       = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	longAgo  = t0.AddDate(-5, 0, 0)
	farAhead = t0.AddDate(10, 0, 0)
)

func newPKI(t testing.TB) *testPKI {
	p := &testPKI{rootKey: newKey(t), interKey: newKey(t), leafKey: newKey(t)}
	p.root = makeCert(t, certSpec{cn: "Test STI-CA Root", ca: true, nb: longAgo, na: farAhead, key: p.rootKey})
	p.inter = makeCert(t, certSpec{cn: "Test STI-CA Intermediate", ca: true, nb: longAgo, na: farAhead, parent: p.root, parentKey: p.rootKey, key: p.interKey})
	p.leaf = p.newLeaf(t, certSpec{cn: "SHAKEN 1234", spc: "1234", nb: t0.AddDate(-1, 0, 0), na: t0.AddDate(1, 0, 0), key: p.leafKey})
	return p
}

func (p *testPKI) newLeaf(t testing.TB, s certSpec) *x509.Certificate {
	s.parent, s.parentKey = p.inter, p.interKey
	return makeCert(t, s)
}

func pemOf(cs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range cs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// certServer is a real HTTPS server on loopback serving certificate files.
type certServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hdrs  map[string]string
	delay map[string]time.Duration
	hits  atomic.Int64
}

func newCertServer(t testing.TB) *certServer {
	cs := &certServer{files: map[string][]byte{}, hdrs: map[string]string{}, delay: map[string]time.Duration{}}
	cs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.hits.Add(1)
		cs.mu.Lock()
		b, ok := cs.files[r.URL.Path]
		cc := cs.hdrs[r.URL.Path]
		d := cs.delay[r.URL.Path]
		cs.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		w.Write(b)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *certServer) put(path string, b []byte, cacheControl string, delay time.Duration) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.files[path] = b
	cs.hdrs[path] = cacheControl
	cs.delay[path] = delay
	return cs.URL + path
}

func (cs *certServer) port() int {
	_, ps, _ := splitHostPort(cs.URL)
	n, _ := strconv.Atoi(ps)
	return n
}

func splitHostPort(u string) (string, string, bool) {
	// u is https://127.0.0.1:PORT
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == ':' {
			return u[:i], u[i+1:], true
		}
	}
	return u, "", false
}

// relaxed is the fetch policy tests use: the SSRF guard is explicitly
// relaxed for the loopback certificate server, and its port allowed.
func (cs *certServer) relaxed() FetchPolicy {
	pool := x509.NewCertPool()
	pool.AddCert(cs.Certificate())
	return FetchPolicy{AllowSpecialAddrs: true, Ports: []int{cs.port()}, RootCAs: pool, Timeout: 2 * time.Second}
}
