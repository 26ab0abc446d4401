package stir

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Trust is the set of STI-CA trust anchors and certificate revocation
// lists a verifier validates service provider certificates against.
type Trust struct {
	roots *x509.CertPool
	n     int
	crls  map[string][]*x509.RevocationList // by issuer RawSubject
	ncrls int
}

// Anchors is the number of trust anchors.
func (t *Trust) Anchors() int { return t.n }

// NewTrust builds a Trust from anchor certificates and optional CRLs.
// A CRL counts for a certificate only when its signature verifies against
// that certificate's issuer in the validated chain.
func NewTrust(anchors []*x509.Certificate, crls []*x509.RevocationList) *Trust {
	t := &Trust{roots: x509.NewCertPool(), crls: map[string][]*x509.RevocationList{}}
	for _, a := range anchors {
		t.roots.AddCert(a)
		t.n++
	}
	for _, l := range crls {
		t.crls[string(l.RawIssuer)] = append(t.crls[string(l.RawIssuer)], l)
		t.ncrls++
	}
	return t
}

// LoadTrust reads trust anchors (PEM certificates) from a file or every
// .pem/.crt/.cer file of a directory, and CRLs (PEM or DER) from crlPath
// (file or directory; empty for none).
func LoadTrust(anchorPath, crlPath string) (*Trust, error) {
	var anchors []*x509.Certificate
	files, err := listFiles(anchorPath, ".pem", ".crt", ".cer")
	if err != nil {
		return nil, fmt.Errorf("stir: trust anchors: %w", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("stir: trust anchors: %w", err)
		}
		cs, err := ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("stir: trust anchors: %s: %w", f, err)
		}
		anchors = append(anchors, cs...)
	}
	if len(anchors) == 0 {
		return nil, fmt.Errorf("stir: trust anchors: no certificate in %s", anchorPath)
	}
	var crls []*x509.RevocationList
	if crlPath != "" {
		files, err := listFiles(crlPath, ".pem", ".crl", ".der")
		if err != nil {
			return nil, fmt.Errorf("stir: crls: %w", err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("stir: crls: %w", err)
			}
			if blk, _ := pem.Decode(b); blk != nil {
				b = blk.Bytes
			}
			l, err := x509.ParseRevocationList(b)
			if err != nil {
				return nil, fmt.Errorf("stir: crls: %s: %w", f, err)
			}
			crls = append(crls, l)
		}
	}
	return NewTrust(anchors, crls), nil
}

func listFiles(path string, exts ...string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		for _, x := range exts {
			if strings.EqualFold(filepath.Ext(e.Name()), x) {
				out = append(out, filepath.Join(path, e.Name()))
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// ParseCertificates reads certificates from PEM (every CERTIFICATE block)
// or from one DER certificate.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE in PEM")
	}
	return out, nil
}

// Credential is a service provider certificate validated to a trust anchor.
type Credential struct {
	Key      *ecdsa.PublicKey
	Leaf     *x509.Certificate
	TNAuth   *TNAuthList // nil when the leaf has none (and it was not required)
	NotAfter time.Time   // the earliest NotAfter of the chain
	// NotBefore is the latest NotBefore of the chain: the credential is
	// valid at t when NotBefore ≤ t ≤ NotAfter.
	NotBefore time.Time
}

// ValidAt reports whether the validated chain is within its validity at t.
func (c *Credential) ValidAt(t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// Validate checks that certs[0] (the service provider's certificate, the
// rest being intermediates as served at x5u) chains to a trust anchor at
// time at, that no certificate of the chain is revoked by a configured
// CRL, that the leaf key is ECDSA P-256, and that the leaf carries a
// TNAuthList when requireTNAuth is set. Failures are *Error with 437.
func (t *Trust) Validate(certs []*x509.Certificate, at time.Time, requireTNAuth bool) (*Credential, error) {
	if len(certs) == 0 {
		return nil, &Error{Code: 437, Reason: "no certificate"}
	}
	leaf := certs[0]
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, &Error{Code: 437, Reason: "certificate key is not ECDSA P-256"}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(stripTNAuthCritical(c))
	}
	chains, err := stripTNAuthCritical(leaf).Verify(x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, &Error{Code: 437, Reason: "certificate chain: " + chainReason(err, leaf, at)}
	}
	tn, tnErr := ParseTNAuthList(leaf)
	if tnErr != nil && (requireTNAuth || !errors.Is(tnErr, ErrNoTNAuthList)) {
		return nil, &Error{Code: 437, Reason: "certificate TNAuthList: " + tnErr.Error()}
	}
	chain := chains[0]
	cred := &Credential{Key: key, Leaf: leaf, TNAuth: tn, NotBefore: chain[0].NotBefore, NotAfter: chain[0].NotAfter}
	for i, c := range chain {
		if c.NotBefore.After(cred.NotBefore) {
			cred.NotBefore = c.NotBefore
		}
		if c.NotAfter.Before(cred.NotAfter) {
			cred.NotAfter = c.NotAfter
		}
		if i+1 < len(chain) && t.isRevoked(c, chain[i+1]) {
			return nil, &Error{Code: 437, Reason: "certificate " + strconvQuote(c.Subject.CommonName) + " is revoked"}
		}
	}
	return cred, nil
}

func chainReason(err error, leaf *x509.Certificate, at time.Time) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		if at.After(leaf.NotAfter) || at.Before(leaf.NotBefore) {
			if at.Before(leaf.NotBefore) {
				return "certificate not yet valid"
			}
			return "certificate expired"
		}
		return "a CA certificate of the chain is expired or not yet valid"
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return "not issued by a trusted STI-CA"
	}
	return err.Error()
}

// stripTNAuthCritical returns c, or a copy without TNAuthList in its
// unhandled critical extensions: this package handles that extension.
func stripTNAuthCritical(c *x509.Certificate) *x509.Certificate {
	for i, id := range c.UnhandledCriticalExtensions {
		if id.Equal(OIDTNAuthList) {
			cp := *c
			cp.UnhandledCriticalExtensions = append(append([]asn1OID(nil), c.UnhandledCriticalExtensions[:i]...), c.UnhandledCriticalExtensions[i+1:]...)
			return &cp
		}
	}
	return c
}

func (t *Trust) isRevoked(c, issuer *x509.Certificate) bool {
	for _, l := range t.crls[string(c.RawIssuer)] {
		if l.CheckSignatureFrom(issuer) != nil {
			continue
		}
		for _, e := range l.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return true
			}
		}
	}
	return false
}

// CRLs is the number of revocation lists loaded.
func (t *Trust) CRLs() int { return t.ncrls }

func strconvQuote(s string) string { return strconv.Quote(s) }
