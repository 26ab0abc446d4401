package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// TOTP is a time-based one-time password generator (RFC 6238), which is
// HOTP (RFC 4226) with the counter taken from the clock: T = (now - T0) /
// Step. tollgate uses T0 = 0, Step = 30 s, six digits and HMAC-SHA-1, the
// parameters every authenticator app understands; SHA-256 and SHA-512 are
// here for the RFC's test vectors.
type TOTP struct {
	Secret []byte
	Digits int              // 6 (default) to 8
	Step   time.Duration    // 30 s (default)
	Hash   func() hash.Hash // sha1.New (default)
}

// secretEncoding is RFC 4648 base32 without padding, as in otpauth URIs.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns 20 random bytes: the HMAC-SHA-1 key length RFC 4226
// recommends (160 bits).
func NewSecret() ([]byte, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodeSecret returns the base32 form people type into an app.
func EncodeSecret(b []byte) string { return secretEncoding.EncodeToString(b) }

// DecodeSecret parses a base32 secret, ignoring case, spaces and padding.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "=", "").Replace(s))
	b, err := secretEncoding.DecodeString(s)
	if err != nil || len(b) < 10 {
		return nil, errors.New("auth: TOTP secret: want at least 16 base32 characters")
	}
	return b, nil
}

func (t *TOTP) params() (int, time.Duration, func() hash.Hash) {
	d, step, h := t.Digits, t.Step, t.Hash
	if d == 0 {
		d = 6
	}
	if step == 0 {
		step = 30 * time.Second
	}
	if h == nil {
		h = sha1.New
	}
	return d, step, h
}

// Counter returns the time step that contains at.
func (t *TOTP) Counter(at time.Time) int64 {
	_, step, _ := t.params()
	return at.Unix() / int64(step/time.Second)
}

// HOTP returns the one-time password for counter c (RFC 4226 section 5.3):
// HMAC the 8-byte big-endian counter, take 4 bytes at the offset named by
// the low nibble of the last byte, drop the sign bit, keep the last Digits
// decimal digits.
func (t *TOTP) HOTP(c int64) string {
	digits, _, h := t.params()
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(c))
	m := hmac.New(h, t.Secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

// At returns the password valid at time at.
func (t *TOTP) At(at time.Time) string { return t.HOTP(t.Counter(at)) }

// Verify checks code against the steps at, one before and one after (RFC
// 6238 section 5.2 allows a small window for clock drift and typing time)
// and returns the matching step. A step at or below last is refused, so a
// code cannot be replayed (section 5.2: "the verifier MUST NOT accept the
// second attempt of the same OTP").
func (t *TOTP) Verify(code string, at time.Time, last int64) (int64, bool) {
	digits, _, _ := t.params()
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != digits {
		return 0, false
	}
	c := t.Counter(at)
	for _, s := range [...]int64{c, c - 1, c + 1} {
		if s <= last {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(t.HOTP(s)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// URI returns the otpauth:// URI authenticator apps read from a QR code
// (the Key URI Format: otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…).
func (t *TOTP) URI(issuer, account string) string {
	digits, step, h := t.params()
	q := url.Values{}
	q.Set("secret", EncodeSecret(t.Secret))
	q.Set("issuer", issuer)
	alg := "SHA1"
	switch h().Size() {
	case sha256.Size:
		alg = "SHA256"
	case sha512.Size:
		alg = "SHA512"
	}
	q.Set("algorithm", alg)
	q.Set("digits", fmt.Sprint(digits))
	q.Set("period", fmt.Sprint(int(step/time.Second)))
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	return "otpauth://totp/" + label + "?" + q.Encode()
}
