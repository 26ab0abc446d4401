package stir

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// verifyES256 checks a JOSE ES256 signature (RFC 7518 §3.4: the 64-octet
// concatenation r||s, not ASN.1 DER) over the signing input.
func verifyES256(pub *ecdsa.PublicKey, signing string, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256([]byte(signing))
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, h[:], r, s)
}

// signES256 signs the signing input, returning r||s.
func signES256(key *ecdsa.PrivateKey, signing string) ([]byte, error) {
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// ParsePrivateKey reads a P-256 private key from PEM (SEC 1 "EC PRIVATE
// KEY" or PKCS #8 "PRIVATE KEY").
func ParsePrivateKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			return nil, errors.New("stir: no EC PRIVATE KEY or PRIVATE KEY block in PEM")
		}
		var key any
		var err error
		switch blk.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stir: private key: %w", err)
		}
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("stir: private key is not ECDSA P-256 (ES256 needs P-256)")
		}
		return ec, nil
	}
}

// Signer is the authentication service: it signs PASSporTs for outbound
// calls with a service provider's key, pointing verifiers at its
// certificate with x5u.
type Signer struct {
	key *ecdsa.PrivateKey
	x5u string
}

// NewSigner returns a Signer; x5u must be an https URL.
func NewSigner(key *ecdsa.PrivateKey, x5u string) (*Signer, error) {
	if key == nil {
		return nil, errors.New("stir: signer needs a key")
	}
	if !strings.HasPrefix(x5u, "https://") || strings.ContainsAny(x5u, "<>;\" \t\r\n") {
		return nil, errors.New("stir: x5u must be an https URL without <>;\" or spaces")
	}
	return &Signer{key: key, x5u: x5u}, nil
}

// X5U returns the certificate URL the signer puts in its PASSporTs.
func (s *Signer) X5U() string { return s.x5u }

// Sign returns the Identity header value (full form, with info, alg and
// ppt) for a call from orig to dest with attestation A, B or C. Numbers
// are reduced to their digits (E.164 without "+"), as ATIS-1000074 wants.
func (s *Signer) Sign(orig, dest, attest, origID string, iat time.Time) (string, error) {
	if attest != "A" && attest != "B" && attest != "C" {
		return "", fmt.Errorf("stir: attest must be A, B or C, got %q", attest)
	}
	o, d := canonicalTN(orig), canonicalTN(dest)
	if o == "" || d == "" {
		return "", errors.New("stir: orig and dest must be telephone numbers")
	}
	if origID == "" {
		origID = newUUID()
	}
	hdr, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		PPT string `json:"ppt"`
		Typ string `json:"typ"`
		X5U string `json:"x5u"`
	}{"ES256", "shaken", "passport", s.x5u})
	// Claims in lexicographic order, no white space (RFC 8225 §9 form).
	pl, _ := json.Marshal(struct {
		Attest string `json:"attest"`
		Dest   struct {
			TN []string `json:"tn"`
		} `json:"dest"`
		IAT  int64 `json:"iat"`
		Orig struct {
			TN string `json:"tn"`
		} `json:"orig"`
		OrigID string `json:"origid"`
	}{Attest: attest, Dest: struct {
		TN []string `json:"tn"`
	}{[]string{d}}, IAT: iat.Unix(), Orig: struct {
		TN string `json:"tn"`
	}{o}, OrigID: origID})
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(pl)
	sig, err := signES256(s.key, signing)
	if err != nil {
		return "", fmt.Errorf("stir: sign: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig) + ";info=<" + s.x5u + ">;alg=ES256;ppt=shaken", nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hx[c>>4], hx[c&15])
	}
	return string(out)
}

// itoa is strconv.Itoa, kept short for reason texts.
func itoa(n int) string { return strconv.Itoa(n) }
