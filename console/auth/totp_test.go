package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/url"
	"testing"
	"time"
)

// TestHOTPRFC4226 uses the test values of RFC 4226 appendix D.
func TestHOTPRFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	g := TOTP{Secret: []byte("12345678901234567890")}
	for c, w := range want {
		if got := g.HOTP(int64(c)); got != w {
			t.Errorf("HOTP(%d) = %s, want %s", c, got, w)
		}
	}
}

// TestTOTPRFC6238 uses the test vectors of RFC 6238 appendix B: 8 digits,
// 30-second steps, the three HMAC variants with their seeds.
func TestTOTPRFC6238(t *testing.T) {
	seeds := map[string]struct {
		key []byte
		h   func() hash.Hash
	}{
		"SHA1":   {[]byte("12345678901234567890"), sha1.New},
		"SHA256": {[]byte("12345678901234567890123456789012"), sha256.New},
		"SHA512": {[]byte("1234567890123456789012345678901234567890123456789012345678901234"), sha512.New},
	}
	vectors := []struct {
		unix int64
		mode string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	}
	for _, v := range vectors {
		s := seeds[v.mode]
		g := TOTP{Secret: s.key, Digits: 8, Hash: s.h}
		if got := g.At(time.Unix(v.unix, 0)); got != v.want {
			t.Errorf("TOTP %s at %d = %s, want %s", v.mode, v.unix, got, v.want)
		}
	}
}

func TestVerifyWindowAndReplay(t *testing.T) {
	g := TOTP{Secret: []byte("12345678901234567890")}
	now := time.Unix(1111111111, 0)
	c := g.Counter(now)
	for _, d := range []int64{-1, 0, 1} {
		step, ok := g.Verify(g.HOTP(c+d), now, 0)
		if !ok || step != c+d {
			t.Errorf("Verify(step %+d) = %d, %v; want %d, true", d, step, ok, c+d)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, ok := g.Verify(g.HOTP(c+d), now, 0); ok {
			t.Errorf("Verify(step %+d) accepted a code outside the window", d)
		}
	}
	if _, ok := g.Verify(g.HOTP(c), now, c); ok {
		t.Error("Verify accepted a replayed code (step already used)")
	}
	if _, ok := g.Verify(g.HOTP(c+1), now, c); !ok {
		t.Error("Verify refused the next step after a used one")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := g.Verify(bad, now, 0); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
}

func TestSecretAndURI(t *testing.T) {
	sec, err := NewSecret()
	if err != nil || len(sec) != 20 {
		t.Fatalf("NewSecret = %d bytes, %v", len(sec), err)
	}
	enc := EncodeSecret(sec)
	back, err := DecodeSecret(" " + enc[:4] + " " + enc[4:] + "====")
	if err != nil || string(back) != string(sec) {
		t.Fatalf("DecodeSecret(EncodeSecret) = %x, %v; want %x", back, err, sec)
	}
	if _, err := DecodeSecret("short"); err == nil {
		t.Error("DecodeSecret(short) accepted")
	}
	g := TOTP{Secret: sec}
	u, err := url.Parse(g.URI("tollgate", "alice@ops"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != enc || q.Get("issuer") != "tollgate" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("URI = %s", u)
	}
	if u.Path != "/tollgate:alice@ops" {
		t.Errorf("URI label = %q", u.Path)
	}
}
