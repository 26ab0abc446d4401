// Package store keeps voiceprints, per-call voice results and passive
// (accumulating) call statistics. Voiceprints and any kept audio are
// encrypted with AES-256-GCM before they reach the database; the database
// sees tenants, subject ids, kinds and timestamps only.
package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Errors.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "voice store: not found")
	ErrKey      = errors.New("voice store: no key can decrypt this record")
)

// Subject kinds.
const (
	KindCustomer  = "customer"  // an account holder, verified on claim
	KindFraudster = "fraudster" // on the watchlist, searched by identify
)

// Subject is an enrolled voice. Print and Audio are plaintext here and
// encrypted in the database.
type Subject struct {
	Tenant     string    `json:"tenant"`
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Label      string    `json:"label,omitempty"`
	Model      string    `json:"model"`    // the model the print was made with
	Speech     float64   `json:"speech_s"` // net enrolment speech
	Utterances int       `json:"utterances"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Print      []byte    `json:"-"` // serialised voice.Voiceprint
	Stats      []byte    `json:"-"` // serialised enrolment statistics (for adding utterances)
	Audio      [][]byte  `json:"-"` // enrolment audio, only when configured to keep it
}

// Result is one verification or identification attached to a call.
type Result struct {
	CallID   string    `json:"call_id"`
	Tenant   string    `json:"tenant"`
	Time     time.Time `json:"time"`
	Op       string    `json:"op"` // verify, identify
	Subject  string    `json:"subject,omitempty"`
	Decision string    `json:"decision"` // accept, reject, uncertain, match, no_match
	Score    float64   `json:"score"`    // normalised score
	LLR      float64   `json:"llr"`
	Speech   float64   `json:"speech_s"`
	Risk     int       `json:"risk"`
	Reason   string    `json:"reason"`
}

// Store is where voice state lives; several nodes may share one.
type Store interface {
	PutSubject(ctx context.Context, s Subject) error
	GetSubject(ctx context.Context, tenant, id string) (Subject, error)
	DeleteSubject(ctx context.Context, tenant, id string) error
	// Subjects lists a tenant's subjects of one kind with their prints.
	Subjects(ctx context.Context, tenant, kind string) ([]Subject, error)
	// Generation changes whenever a tenant's subjects of a kind change,
	// so caches can tell they are stale.
	Generation(ctx context.Context, tenant, kind string) (string, error)
	AddResult(ctx context.Context, r Result) error
	// Results returns the results of the given calls, oldest first.
	Results(ctx context.Context, callIDs []string) (map[string][]Result, error)
	// CallStats and PutCallStats keep a call's accumulated statistics
	// for passive verification, keyed by call, operation and subject.
	CallStats(ctx context.Context, callID, key string) ([]byte, error)
	PutCallStats(ctx context.Context, callID, key string, stats []byte, now time.Time) error
	// ExpireCallStats drops accumulated statistics older than before.
	ExpireCallStats(ctx context.Context, before time.Time) (int, error)
	Close() error
}

// Keys encrypts with the current key and decrypts with any known one.
// Each key is 32 bytes; its id (the first 8 hex digits of its SHA-256)
// is stored with every record, so rotation is: make the new key current,
// keep the old one in the decrypt list; records move to the new key when
// rewritten ('tollgate voice rekey' rewrites them all).
type Keys struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ParseKey reads a key given as 64 hex digits or base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64")
}

// NewKeys builds a key set; current encrypts, every key decrypts.
func NewKeys(current []byte, old ...[]byte) (*Keys, error) {
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("voice store: key %d has %d bytes, want 32", i, len(key))
		}
		blk, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(blk)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = g
	}
	return k, nil
}

// KeyID names a key without revealing it.
func KeyID(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:4])
}

// Current is the id of the encrypting key.
func (k *Keys) Current() string { return k.current }

// Seal encrypts plain, binding it to aad (tenant and subject, so a
// ciphertext cannot be moved to another record).
func (k *Keys) Seal(plain []byte, aad string) (keyID string, sealed []byte, err error) {
	g := k.aeads[k.current]
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	return k.current, g.Seal(nonce, nonce, plain, []byte(aad)), nil
}

// Open decrypts a record sealed with key keyID.
func (k *Keys) Open(keyID string, sealed []byte, aad string) ([]byte, error) {
	g, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w (key id %s is not configured)", ErrKey, keyID)
	}
	if len(sealed) < g.NonceSize() {
		return nil, fmt.Errorf("%w (record too short)", ErrKey)
	}
	p, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w (authentication failed)", ErrKey)
	}
	return p, nil
}
