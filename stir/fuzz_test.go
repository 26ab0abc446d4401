package stir

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// FuzzParseIdentity: no input may crash the parser, every refusal is a
// 438, and what it accepts has a signing input of header.payload.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9.AAAA;info=<https://a.example/x.pem>;alg=ES256;ppt=shaken",
		"eyJhbGciOiJFUzI1NiJ9..AAAA;info=<https://a.example/x.pem>",
		"a.b.c;info=<https://x/;y>;alg=\"ES256\";ppt=\"shaken\"",
		";info=<>",
		"....",
		"x.y.z;info",
	} {
		f.Add(s)
	}
	v, err := NewVerifier(Options{Trust: NewTrust([]*x509.Certificate{}, nil), Fetch: FetchPolicy{AllowHosts: []string{"none.invalid"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Code != 438 || id != nil {
				t.Fatalf("ParseIdentity(%q) = %v, %v; want nil and a 438", s, id, err)
			}
		} else if !id.Compact && len(id.signing) < 3 {
			t.Fatalf("ParseIdentity(%q): signing input %q", s, id.signing)
		}
		r := v.Verify(context.Background(), &Request{Identity: s, Orig: "12125550100", Time: time.Unix(1700000000, 0)})
		if r.Verstat == Passed {
			t.Fatalf("Verify(%q) passed with no trust anchor", s)
		}
	})
}
