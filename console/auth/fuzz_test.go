package auth

import (
	"strings"
	"testing"
	"time"
)

// FuzzCheckHash feeds arbitrary stored hashes to the PHC parser: it must
// never panic or allocate absurd memory, and only a real hash matches.
func FuzzCheckHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdA$aGFzaA", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if CheckHash(hash, pw) && len(hash) < 20 {
			t.Fatalf("CheckHash(%q, %q) matched a malformed hash", hash, pw)
		}
	})
}

// FuzzTOTPInput fuzzes the secret decoder and the code verifier.
func FuzzTOTPInput(f *testing.F) {
	f.Add("JBSWY3DPEHPK3PXP", "123456")
	f.Add("", "")
	f.Add("====", " 1 2 3 ")
	f.Fuzz(func(t *testing.T, secret, code string) {
		b, err := DecodeSecret(secret)
		if err != nil {
			return
		}
		g := TOTP{Secret: b}
		at := time.Unix(1_800_000_000, 0)
		if step, ok := g.Verify(code, at, 0); ok && g.HOTP(step) != strings.ReplaceAll(strings.TrimSpace(code), " ", "") {
			t.Fatalf("Verify accepted %q for step %d whose code is %s", code, step, g.HOTP(step))
		}
	})
}
