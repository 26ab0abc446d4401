package stir

import (
	"context"
	"crypto/x509"
	"testing"
	"time"
)

// BenchmarkVerifyWarm is one full verification (parse, claims, iat,
// orig/dest, cache hit, cached chain, ES256 signature) with the
// certificate already cached: verifications per second on one core is
// 1e9 / ns/op.
func BenchmarkVerifyWarm(b *testing.B) {
	pki := newPKI(b)
	v, err := NewVerifier(Options{Trust: NewTrust([]*x509.Certificate{pki.root}, nil), RequireTNAuthList: true})
	if err != nil {
		b.Fatal(err)
	}
	const u = "https://cert.example.net/sp.pem"
	v.Pin(u, []*x509.Certificate{pki.leaf, pki.inter})
	s, _ := NewSigner(pki.leafKey, u)
	h, _ := s.Sign("12125550100", "12025550123", "A", "", t0)
	req := &Request{Identity: h, Orig: "+12125550100", Dest: "+12025550123", Time: t0.Add(time.Second)}
	if r := v.Verify(context.Background(), req); r.Verstat != Passed {
		b.Fatalf("%+v", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := v.Verify(context.Background(), req); r.Verstat != Passed {
				b.Fatal(r.Reason)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

// BenchmarkParseIdentity is the header parser alone.
func BenchmarkParseIdentity(b *testing.B) {
	pki := newPKI(b)
	s, _ := NewSigner(pki.leafKey, "https://cert.example.net/sp.pem")
	h, _ := s.Sign("12125550100", "12025550123", "A", "", t0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseIdentity(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateChain is what a cache miss costs after the fetch:
// path validation of leaf → intermediate → root.
func BenchmarkValidateChain(b *testing.B) {
	pki := newPKI(b)
	tr := NewTrust([]*x509.Certificate{pki.root}, nil)
	certs := []*x509.Certificate{pki.leaf, pki.inter}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Validate(certs, t0, true); err != nil {
			b.Fatal(err)
		}
	}
}
