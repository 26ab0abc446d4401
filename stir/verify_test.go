package stir

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	pki *testPKI
	srv *certServer
	url string
	v   *Verifier
	clk *clock
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	f := &fixture{pki: newPKI(t), srv: newCertServer(t), clk: &clock{t: time.Now()}}
	f.url = f.srv.put("/sp.pem", pemOf(f.pki.leaf, f.pki.inter), "max-age=600", 0)
	o := Options{
		Trust:             NewTrust([]*x509.Certificate{f.pki.root}, nil),
		Fetch:             f.srv.relaxed(),
		RequireTNAuthList: true,
		Wait:              3 * time.Second,
		Now:               f.clk.now,
	}
	if mod != nil {
		mod(&o)
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func (f *fixture) sign(t *testing.T, x5u, orig, dest, attest string, iat time.Time) string {
	t.Helper()
	s, err := NewSigner(f.pki.leafKey, x5u)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Sign(orig, dest, attest, "", iat)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerifyPasses(t *testing.T) {
	f := newFixture(t, nil)
	for _, att := range []string{"A", "B", "C"} {
		h := f.sign(t, f.url, "+12125550100", "+12025550123", att, t0)
		r := f.v.Verify(context.Background(), &Request{Identity: h, Orig: "+1 212 555 0100", Dest: "12025550123", Time: t0.Add(5 * time.Second)})
		if r.Verstat != Passed || r.Attest != att || r.Code != 0 || r.SPC != "1234" {
			t.Errorf("attest %s: got %+v, want Passed with SPC 1234", att, r)
		}
	}
	if st := f.v.Stats(); st.Fetches != 1 || st.Hits != 2 {
		t.Errorf("stats %+v: want 1 fetch and 2 cache hits", st)
	}
}

func TestVerifyFailures(t *testing.T) {
	f := newFixture(t, nil)
	pki := f.pki
	other := newPKI(t) // an untrusted root
	expired := pki.newLeaf(t, certSpec{cn: "expired", spc: "1234", nb: t0.AddDate(-2, 0, 0), na: t0.AddDate(0, 0, -1), key: pki.leafKey})
	future := pki.newLeaf(t, certSpec{cn: "future", spc: "1234", nb: t0.AddDate(0, 0, 1), na: t0.AddDate(1, 0, 0), key: pki.leafKey})
	noTN := pki.newLeaf(t, certSpec{cn: "no tnauthlist", nb: longAgo, na: farAhead, key: pki.leafKey})
	wrongKey := pki.newLeaf(t, certSpec{cn: "other key", spc: "1234", nb: longAgo, na: farAhead, key: newKey(t)})
	urls := map[string]string{
		"expired":   f.srv.put("/expired.pem", pemOf(expired, pki.inter), "", 0),
		"future":    f.srv.put("/future.pem", pemOf(future, pki.inter), "", 0),
		"notn":      f.srv.put("/notn.pem", pemOf(noTN, pki.inter), "", 0),
		"wrongkey":  f.srv.put("/wrongkey.pem", pemOf(wrongKey, pki.inter), "", 0),
		"untrusted": f.srv.put("/untrusted.pem", pemOf(other.leaf, other.inter), "", 0),
		"garbage":   f.srv.put("/garbage.pem", []byte("not a certificate"), "", 0),
		"missing":   f.srv.URL + "/missing.pem",
	}
	good := func(iat time.Time) string { return f.sign(t, f.url, "12125550100", "12025550123", "A", iat) }
	at := t0
	cases := []struct {
		name     string
		identity string
		orig     string
		dest     string
		date     time.Time
		code     int
		reason   string
	}{
		{"expired leaf", f.sign(t, urls["expired"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 437, "expired"},
		{"leaf not yet valid", f.sign(t, urls["future"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 437, "not yet valid"},
		{"no TNAuthList", f.sign(t, urls["notn"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 437, "TNAuthList"},
		{"wrong signature", f.sign(t, urls["wrongkey"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 438, "signature"},
		{"untrusted root", f.sign(t, urls["untrusted"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 437, "trusted"},
		{"x5u not a certificate", f.sign(t, urls["garbage"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 436, "not a PEM"},
		{"x5u 404", f.sign(t, urls["missing"], "12125550100", "12025550123", "A", at), "", "", time.Time{}, 436, "HTTP 404"},
		{"stale iat", good(at.Add(-61 * time.Second)), "", "", time.Time{}, 403, "old"},
		{"future iat", good(at.Add(61 * time.Second)), "", "", time.Time{}, 403, "future"},
		{"orig mismatch", good(at), "12125550199", "", time.Time{}, 438, "orig.tn"},
		{"dest mismatch", good(at), "", "12025550999", time.Time{}, 438, "dest.tn"},
		{"SIP Date far from now", good(at), "", "", at.Add(-5 * time.Minute), 403, "SIP Date"},
		{"malformed", "abc.def;info=<https://x>", "", "", time.Time{}, 438, ""},
		{"http x5u", tamperX5U(t, f, "http://cert.example.net/sp.pem"), "", "", time.Time{}, 436, "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.v.Verify(context.Background(), &Request{Identity: c.identity, Orig: c.orig, Dest: c.dest, Time: at, Date: c.date})
			if r.Verstat != Failed || r.Code != c.code || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("got %v %d %q, want TN-Validation-Failed %d containing %q", r.Verstat, r.Code, r.Reason, c.code, c.reason)
			}
		})
	}
	// Within the window on both sides passes.
	for _, d := range []time.Duration{-59 * time.Second, 59 * time.Second} {
		if r := f.v.Verify(context.Background(), &Request{Identity: good(at.Add(d)), Time: at}); r.Verstat != Passed {
			t.Errorf("iat %v from now: %+v, want Passed", d, r)
		}
	}
}

// tamperX5U signs a PASSporT whose x5u (and info) is u, with the test key.
func tamperX5U(t *testing.T, f *fixture, u string) string {
	s := &Signer{key: f.pki.leafKey, x5u: u}
	h, err := s.Sign("12125550100", "12025550123", "A", "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerifyHostAllowlistAndGuard(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Fetch.AllowHosts = []string{"cert.example.net"} })
	h := f.sign(t, f.url, "12125550100", "12025550123", "A", t0)
	r := f.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
	if r.Code != 436 || !strings.Contains(r.Reason, "allowlist") {
		t.Errorf("host not allowed: got %+v, want 436 allowlist", r)
	}
	if n := f.srv.hits.Load(); n != 0 {
		t.Errorf("server was contacted %d times for a host not on the allowlist", n)
	}

	// The guard, not relaxed: an IP literal is refused before any I/O,
	// and a name resolving to loopback is refused at connect time.
	g := newFixture(t, func(o *Options) { o.Fetch.AllowSpecialAddrs = false })
	for _, u := range []string{g.url, strings.Replace(g.url, "127.0.0.1", "localhost", 1)} {
		h := g.sign(t, u, "12125550100", "12025550123", "A", t0)
		r := g.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
		if r.Code != 436 || !strings.Contains(r.Reason, "special-purpose") {
			t.Errorf("%s: got %+v, want 436 special-purpose", u, r)
		}
	}
	if n := g.srv.hits.Load(); n != 0 {
		t.Errorf("guarded verifier reached the loopback server %d times", n)
	}
}

func TestVerifyOversizedAndSlow(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Fetch.MaxBytes = 2048
		o.Fetch.Timeout = 300 * time.Millisecond
	})
	big := append(pemOf(f.pki.leaf, f.pki.inter), make([]byte, 4096)...)
	uBig := f.srv.put("/big.pem", big, "", 0)
	uSlow := f.srv.put("/slow.pem", pemOf(f.pki.leaf, f.pki.inter), "", 6*time.Second)
	for _, c := range []struct{ u, want string }{{uBig, "larger than"}, {uSlow, "timed out"}} {
		start := time.Now()
		r := f.v.Verify(context.Background(), &Request{Identity: f.sign(t, c.u, "1212", "1202", "A", t0), Time: t0})
		if r.Code != 436 || !strings.Contains(r.Reason, c.want) {
			t.Errorf("%s: got %+v, want 436 %q", c.u, r, c.want)
		}
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("%s: took %v; the fetch timeout (300ms) did not cut the 6 s server delay", c.u, el)
		}
	}
}

func TestVerifyAsyncMissAndCaches(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Wait = 0 })
	slow := f.srv.put("/slow.pem", pemOf(f.pki.leaf, f.pki.inter), "max-age=60", 200*time.Millisecond)
	h := f.sign(t, slow, "12125550100", "12025550123", "B", t0)
	r := f.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
	if r.Verstat != NoValidation || !r.Pending {
		t.Fatalf("first call: %+v, want No-TN-Validation pending", r)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		r = f.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
		if !r.Pending || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Verstat != Passed || r.Attest != "B" {
		t.Fatalf("after the fetch: %+v, want Passed B", r)
	}
	hits := f.srv.hits.Load()
	// Cache-Control max-age=60 is below the 5 min floor: still cached after 2 min …
	f.clk.add(2 * time.Minute)
	f.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
	if f.srv.hits.Load() != hits {
		t.Errorf("refetched within the minimum TTL")
	}
	// … and fetched again once it expired.
	f.clk.add(4 * time.Minute)
	if r := f.v.Verify(context.Background(), &Request{Identity: h, Time: t0}); r.Verstat != Passed {
		t.Errorf("expired entry being refreshed: %+v, want Passed from the stale certificate", r)
	}
	for deadline := time.Now().Add(5 * time.Second); f.srv.hits.Load() < hits+1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if f.srv.hits.Load() != hits+1 {
		t.Errorf("server hits %d, want %d after expiry", f.srv.hits.Load(), hits+1)
	}
}

func TestVerifyNegativeCache(t *testing.T) {
	f := newFixture(t, nil)
	u := f.srv.URL + "/gone.pem"
	h := f.sign(t, u, "12125550100", "12025550123", "A", t0)
	for i := 0; i < 3; i++ {
		if r := f.v.Verify(context.Background(), &Request{Identity: h, Time: t0}); r.Code != 436 {
			t.Fatalf("call %d: %+v, want 436", i, r)
		}
	}
	if n := f.srv.hits.Load(); n != 1 {
		t.Errorf("unreachable x5u fetched %d times within the negative TTL, want 1", n)
	}
	f.clk.add(61 * time.Second)
	f.v.Verify(context.Background(), &Request{Identity: h, Time: t0})
	if n := f.srv.hits.Load(); n != 2 {
		t.Errorf("after the negative TTL: %d fetches, want 2", n)
	}
}

func TestVerifyCRLAndCriticalTNAuthList(t *testing.T) {
	pki := newPKI(t)
	crit := pki.newLeaf(t, certSpec{cn: "critical", spc: "77", tnCritical: true, nb: longAgo, na: farAhead, key: pki.leafKey})
	revoked := pki.newLeaf(t, certSpec{cn: "revoked", spc: "77", nb: longAgo, na: farAhead, key: pki.leafKey})
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                t0.Add(-time.Hour),
		NextUpdate:                t0.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: revoked.SerialNumber, RevocationTime: t0.Add(-time.Hour)}},
	}, pki.inter, pki.interKey)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	trust := NewTrust([]*x509.Certificate{pki.root}, []*x509.RevocationList{crl})
	if _, err := trust.Validate([]*x509.Certificate{crit, pki.inter}, t0, true); err != nil {
		t.Errorf("critical TNAuthList: %v, want valid (the extension is handled)", err)
	}
	_, err = trust.Validate([]*x509.Certificate{revoked, pki.inter}, t0, true)
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked leaf: %v, want revoked", err)
	}
	if _, err := trust.Validate([]*x509.Certificate{pki.leaf, pki.inter}, t0, true); err != nil {
		t.Errorf("unrevoked leaf: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	p := &FetchPolicy{AllowHosts: []string{"cr.example.net", "*.sticr.example"}}
	for _, c := range []struct {
		u  string
		ok bool
	}{
		{"https://cr.example.net/sp.pem", true},
		{"https://cr.example.net:8443/sp.pem", true},
		{"https://a.sticr.example/x.pem", true},
		{"https://cr.example.net:444/sp.pem", false},
		{"http://cr.example.net/sp.pem", false},
		{"https://user@cr.example.net/sp.pem", false},
		{"https://cr.example.net/sp.pem?x=1", false},
		{"https://cr.example.net/sp.pem?", false},
		{"https://cr.example.net/sp.pem#f", false},
		{"https://evil.example.org/sp.pem", false},
		{"https://sticr.example.evil/x.pem", false},
		{"file:///etc/passwd", false},
		{"", false},
	} {
		_, err := p.CheckURL(c.u)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", c.u, err, c.ok)
		}
	}
	open := &FetchPolicy{}
	for _, u := range []string{"https://10.1.2.3/x", "https://[::1]/x", "https://169.254.169.254/x", "https://[::ffff:127.0.0.1]/x", "https://100.64.0.1/x"} {
		if _, err := open.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) passed; special-purpose literal must be refused", u)
		}
	}
	if _, err := open.CheckURL("https://8.8.8.8/x"); err != nil {
		t.Errorf("public literal refused: %v", err)
	}
}
