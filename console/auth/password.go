package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams follow RFC 9106 section 4's second recommendation scaled
// to a small server: 64 MiB, 3 passes, 2 lanes (about 0.1 s on one core).
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 2}

// hashSem bounds concurrent hashing so a login flood cannot take
// Memory × callers of RAM.
var hashSem = make(chan struct{}, 2)

// hashChecks counts CheckHash calls (HashChecks), so tests can see that
// every login path does the same hashing.
var hashChecks atomic.Int64

// HashChecks returns how many password checks this process has made.
func HashChecks() int64 { return hashChecks.Load() }

// HashPassword returns the PHC string form of an argon2id hash:
// $argon2id$v=19$m=65536,t=3,p=2$SALT$HASH (unpadded base64).
func HashPassword(pw string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashSem <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	<-hashSem
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckHash reports whether pw matches a hash made by HashPassword, with
// the parameters recorded in the hash. Anything malformed is a mismatch.
func CheckHash(hash, pw string) bool {
	hashChecks.Add(1)
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false
	}
	// Refuse absurd costs from a tampered row rather than allocating them.
	if p.Memory < 8 || p.Memory > 1<<21 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false
	}
	hashSem <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	<-hashSem
	return subtle.ConstantTimeCompare(got, want) == 1
}
