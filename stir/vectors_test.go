package stir

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The vectors written by others are in testdata/stir-shaken (see its
// PROVENANCE.md for where each came from and its licence). The Asterisk
// testsuite's PKI and its old mismatch header are GPL-2.0, so the tests
// build equivalents of them here instead of carrying them.
const vectors = "testdata/stir-shaken"

func readVec(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, rel))
	if err != nil {
		t.Fatalf("external vector missing: %v", err)
	}
	return b
}

// readXZ returns a file of testdata/stir-shaken decompressed by xz(1).
func readXZ(t *testing.T, rel string) []byte {
	t.Helper()
	out, err := exec.Command("xz", "-dc", filepath.Join(vectors, rel)).Output()
	if err != nil {
		t.Fatalf("xz -dc %s (Debian package xz-utils, installed by scripts/test.sh): %v", rel, err)
	}
	return out
}

func certsOf(t *testing.T, rel string) []*x509.Certificate {
	t.Helper()
	cs, err := ParseCertificates(readVec(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return cs
}

func ecPub(t *testing.T, c *x509.Certificate) *ecdsa.PublicKey {
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("%s: not an EC key", c.Subject.CommonName)
	}
	return k
}

func pubFromPEM(t *testing.T, rel string) *ecdsa.PublicKey {
	blk, _ := pem.Decode(readVec(t, rel))
	if blk == nil {
		t.Fatalf("%s: no PEM", rel)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return k.(*ecdsa.PublicKey)
}

// sigOK checks a compact JWS's ES256 signature alone.
func sigOK(t *testing.T, jws string, k *ecdsa.PublicKey) bool {
	jws = strings.TrimSpace(jws)
	if i := strings.IndexByte(jws, ';'); i >= 0 {
		jws = jws[:i]
	}
	h, p, s, err := splitToken(jws)
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("sig: %v", err)
	}
	return verifyES256(k, h+"."+p, sig)
}

// passportLine returns the line after the one starting with label.
func passportLine(t *testing.T, text, label string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, label) && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("no line after %q", label)
	return ""
}

func TestLibstirshakenVectors(t *testing.T) {
	text := string(readVec(t, "libstirshaken-ref/sp/passport.txt"))
	bare := passportLine(t, text, "PASSporT signed is:")
	header := passportLine(t, text, "SIP Identity Header with PASSporT is:")
	sp := certsOf(t, "libstirshaken-ref/sp/sp.pem")[0]
	wrong := certsOf(t, "libstirshaken-ref/sp/wrongsp.pem")[0]
	for _, tok := range []string{bare, header} {
		if !sigOK(t, tok, ecPub(t, sp)) {
			t.Errorf("libstirshaken token does not verify with sp.pem")
		}
		if sigOK(t, tok, ecPub(t, wrong)) {
			t.Errorf("libstirshaken token verifies with wrongsp.pem")
		}
	}
	// orig and dest are JSON strings holding JSON: a good signature over
	// claims RFC 8225 forbids, so the parser refuses it.
	_, err := ParseIdentity(header)
	var se *Error
	if !errors.As(err, &se) || se.Code != 438 || !strings.Contains(se.Reason, "not an object") {
		t.Errorf("ParseIdentity(libstirshaken header) = %v, want 438 orig not an object", err)
	}
	id, err := ParseIdentity(header[:strings.IndexByte(header, ';')] + ";info=<http://shaken.signalwire.cloud/sp.pem>;alg=ES256;ppt=shaken")
	if err == nil || id != nil {
		t.Errorf("want the same refusal for the bare token with params")
	}
	// Chain: sp.pem chains to ca.pem; its TNAuthList holds a URL, not a
	// TNAuthorizationList, so it is refused as a SHAKEN credential.
	trust := NewTrust(certsOf(t, "libstirshaken-ref/ca/ca.pem"), nil)
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	if _, err := trust.Validate([]*x509.Certificate{sp}, at, false); err == nil || !strings.Contains(err.Error(), "TNAuthList") {
		t.Errorf("sp.pem: %v, want a TNAuthList refusal", err)
	}
	if _, err := trust.Validate([]*x509.Certificate{wrong}, at, false); err == nil || !strings.Contains(err.Error(), "trusted") {
		t.Errorf("wrongsp.pem: %v, want untrusted", err)
	}
	// The SPC token (a JWT, not a PASSporT) verifies with pa.pem.
	spc := passportLine(t, string(readVec(t, "libstirshaken-ref/sp/spc_token.txt")), "SPC token encoded:")
	if spc == "" {
		spc = strings.Fields(string(readVec(t, "libstirshaken-ref/sp/spc_token.txt")))[3]
	}
	if !sigOK(t, spc, ecPub(t, certsOf(t, "libstirshaken-ref/pa/pa.pem")[0])) {
		t.Errorf("SPC token does not verify with pa.pem")
	}
}

func TestRFC8225Vectors(t *testing.T) {
	a2 := pubFromPEM(t, "rfc8225-passport-examples/rfc8225-appendixA2-public-key.pem")
	for _, c := range []struct {
		file   string
		sigOK  bool
		reason string
	}{
		{"draft04-token.jws", true, "iat is not a number"},
		{"draft05-09-token.jws", true, "iat is not a number"},
		{"rfc8225-appendixA-token.jws", false, ""},
	} {
		tok := strings.TrimSpace(string(readVec(t, "rfc8225-passport-examples/"+c.file)))
		if got := sigOK(t, tok, a2); got != c.sigOK {
			t.Errorf("%s: signature ok = %v, want %v", c.file, got, c.sigOK)
		}
		_, err := ParseIdentity(tok + ";info=<https://cert.example.org/passport.cer>;alg=ES256")
		if c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)) {
			t.Errorf("%s: ParseIdentity = %v, want %q", c.file, err, c.reason)
		}
	}
	// The A.1 private key is not the pair of A.2, as PROVENANCE notes.
	blk, _ := pem.Decode(readVec(t, "rfc8225-passport-examples/rfc8225-appendixA1-private-key-pkcs8.pem"))
	if blk == nil {
		t.Fatal("A.1 key: no PEM")
	}
	k1, err := ParsePrivateKey(pem.EncodeToMemory(blk))
	if err != nil {
		t.Fatal(err)
	}
	if k1.PublicKey.Equal(a2) {
		t.Errorf("A.1 and A.2 unexpectedly form a key pair")
	}
}

func TestKnownBadHeaders(t *testing.T) {
	v, err := NewVerifier(Options{Trust: NewTrust(certsOf(t, "libstirshaken-ref/ca/ca.pem"), nil)})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(vectors, "known-bad", "*.txt"))
	if len(files) != 2 {
		t.Fatalf("known-bad: %d files, want 2", len(files))
	}
	headers := map[string]string{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		headers[filepath.Base(f)] = strings.TrimSpace(string(b))
	}
	headers["old-asterisk-style"] = oldAsteriskIdentity(t)
	for name, h := range headers {
		r := v.Verify(context.Background(), &Request{Identity: h, Time: time.Unix(1618318115, 0)})
		if r.Verstat != Failed || r.Code != 438 {
			t.Errorf("%s: %v %d %q, want TN-Validation-Failed 438", name, r.Verstat, r.Code, r.Reason)
		}
	}
}

// oldAsteriskIdentity builds an Identity header with the defects of the
// one early Asterisk releases sent (the testsuite's copy is GPL-2.0, so it
// is rebuilt here, with its own key and values): a real ES256 signature
// but ASN.1 DER-encoded instead of JOSE r||s, a payload without "dest",
// no ';' between the info parameter and alg, and a plain-http x5u on
// loopback.
func oldAsteriskIdentity(t *testing.T) string {
	key := newKey(t)
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"http://127.0.0.1:8088/stir/cert.pem"}`))
	p := enc.EncodeToString([]byte(`{"orig":{"tn":"15550001111"},"attest":"C","origid":"5c1f0a52-7d0e-4f4e-9a51-2e1b3c4d5e6f","iat":1618318100}`))
	sum := sha256.Sum256([]byte(h + "." + p))
	der, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if der[0] != 0x30 {
		t.Fatalf("signature is not DER: % x", der[:2])
	}
	return h + "." + p + "." + enc.EncodeToString(der) + ";info=<http://127.0.0.1:8088/stir/cert.pem>alg=ES256;ppt=shaken"
}

// asteriskPKI is a PKI shaped like the Asterisk testsuite's STIR/SHAKEN
// keys (GPL-2.0, so rebuilt here with the same properties rather than
// copied): an RSA-2048 self-signed CA and SP certificates with P-256 keys
// it signs with sha256WithRSA, carrying a TNAuthList with SPC "1"; and a
// second CA whose notBefore equals its notAfter (expired from birth) with
// its own SP certificate, expired too.
type asteriskPKI struct {
	ca, caExp    *x509.Certificate
	sp1, sp1Exp  *x509.Certificate
	key1, keyExp *ecdsa.PrivateKey
}

func newAsteriskPKI(t *testing.T) *asteriskPKI {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
		tmpl.SerialNumber = big.NewInt(serial.Add(1))
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rsaKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	name := func(ou, cn string) pkix.Name {
		return pkix.Name{Country: []string{"US"}, Organization: []string{"tollgate test"}, OrganizationalUnit: []string{ou}, CommonName: cn}
	}
	caTmpl := func(ou, cn string, nb, na time.Time) *x509.Certificate {
		return &x509.Certificate{Subject: name(ou, cn), NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	spTmpl := func(nb, na time.Time) *x509.Certificate {
		return &x509.Certificate{Subject: name("SS", "SHAKEN 1"), NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtraExtensions: []pkix.Extension{tnAuthExt(t, "1")}}
	}
	p := &asteriskPKI{key1: newKey(t), keyExp: newKey(t)}
	caKey, caExpKey := rsaKey(), rsaKey()
	p.ca = mk(caTmpl("CA", "ca.test.invalid", time.Date(2024, 2, 8, 15, 20, 0, 0, time.UTC), time.Date(2034, 2, 8, 15, 20, 0, 0, time.UTC)), nil, &caKey.PublicKey, caKey)
	born := time.Date(2024, 2, 8, 15, 20, 0, 0, time.UTC)
	p.caExp = mk(caTmpl("expired", "ca.test.invalid-expired", born, born), nil, &caExpKey.PublicKey, caExpKey)
	p.sp1 = mk(spTmpl(time.Date(2026, 6, 1, 18, 44, 22, 0, time.UTC), time.Date(2036, 5, 29, 18, 44, 22, 0, time.UTC)), p.ca, &p.key1.PublicKey, caKey)
	p.sp1Exp = mk(spTmpl(time.Date(2024, 2, 8, 15, 42, 40, 0, time.UTC), time.Date(2026, 5, 13, 15, 42, 40, 0, time.UTC)), p.caExp, &p.keyExp.PublicKey, caExpKey)
	if p.sp1.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Fatalf("SP certificate signed with %v, want SHA256-RSA", p.sp1.SignatureAlgorithm)
	}
	return p
}

// asteriskCases are the Asterisk testsuite's STIR/SHAKEN tests
// (tests/channels/pjsip/stir_shaken/*) and the verification result each
// expects, restated as facts.
var asteriskCases = []struct{ name, expect string }{
	{"stir_shaken_success", "success"},
	{"stir_shaken_success_unknown_tn", "success"},
	{"stir_shaken_no_identity", "missing_identity_hdr"},
	{"stir_shaken_sig_fail", "signature_validation"},
	{"stir_shaken_exp_ca", "cert_not_trusted"},
	{"stir_shaken_acl_fail", "cert_retrieval_failure"},
	{"stir_shaken_tn_mismatch", "cid_orig_tn_mismatch"},
	{"stir_shaken_anon_callerid", "invalid_or_no_callerid"},
	{"stir_shaken_fail_return_reason", "return_reason"},
}

// TestAsteriskPKI replays the Asterisk testsuite's STIR/SHAKEN cases with
// a PKI of the same shape: our signer stands in for Asterisk's AS, a real
// HTTPS server on loopback serves the certificates.
func TestAsteriskPKI(t *testing.T) {
	srv := newCertServer(t)
	pki := newAsteriskPKI(t)
	ca, caExp := []*x509.Certificate{pki.ca}, []*x509.Certificate{pki.caExp}
	sp1, sp1exp := pemOf(pki.sp1), pemOf(pki.sp1Exp)
	key1, keyExp := pki.key1, pki.keyExp
	u1 := srv.put("/SPAST1-cert.pem", sp1, "", 0)
	uExp := srv.put("/SPAST1-caexp-cert.pem", sp1exp, "", 0)
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	newV := func(anchors []*x509.Certificate, hosts []string) *Verifier {
		p := srv.relaxed()
		p.AllowHosts = hosts
		v, err := NewVerifier(Options{Trust: NewTrust(anchors, nil), Fetch: p, Wait: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sign := func(key *ecdsa.PrivateKey, x5u, orig string) string {
		s, _ := NewSigner(key, x5u)
		h, err := s.Sign(orig, "18005551234", "A", "", at)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	anchors := append(append([]*x509.Certificate{}, ca...), caExp...)
	type outcome struct {
		verstat Verstat
		code    int
	}
	want := map[string]outcome{
		"success":                outcome{Passed, 0},
		"missing_identity_hdr":   outcome{NoValidation, 0},
		"signature_validation":   outcome{Failed, 438},
		"cert_not_trusted":       outcome{Failed, 437},
		"cert_retrieval_failure": outcome{Failed, 436},
		"cid_orig_tn_mismatch":   outcome{Failed, 438},
	}
	ran := 0
	for _, c := range asteriskCases {
		name, expect := c.name, c.expect
		var req Request
		v := newV(anchors, nil)
		switch name {
		case "stir_shaken_success", "stir_shaken_success_unknown_tn":
			req = Request{Identity: sign(key1, u1, "15551234567"), Orig: "+15551234567"}
		case "stir_shaken_no_identity":
			req = Request{Orig: "+15551234567"}
		case "stir_shaken_sig_fail":
			req = Request{Identity: sign(keyExp, u1, "15551234567")}
		case "stir_shaken_exp_ca":
			req = Request{Identity: sign(keyExp, uExp, "15551234567")}
		case "stir_shaken_acl_fail":
			v = newV(anchors, []string{"certs.example.net"})
			req = Request{Identity: sign(key1, u1, "15551234567")}
		case "stir_shaken_tn_mismatch":
			req = Request{Identity: sign(key1, u1, "15551234567"), Orig: "+15559999999"}
		default:
			continue // anonymous caller and return-reason are call-handling cases (check/callerid)
		}
		req.Time = at
		r := v.Verify(context.Background(), &req)
		w, ok := want[expect]
		if !ok {
			t.Fatalf("%s: unmapped expectation %q", name, expect)
		}
		if r.Verstat != w.verstat || r.Code != w.code {
			t.Errorf("%s: got %v %d %q, want %v %d (%s)", name, r.Verstat, r.Code, r.Reason, w.verstat, w.code, expect)
		}
		ran++
	}
	if ran != 7 {
		t.Errorf("ran %d Asterisk cases, want 7", ran)
	}
}

type realCert struct {
	SHA256 string `json:"sha256"`
	DER    string `json:"der_b64"`
}

// TestRealWorldCertificates parses all 15,988 certificates of the US
// SHAKEN ecosystem, reads their TNAuthList as the index says, and chains
// them to the 52 STI-CA certificates.
func TestRealWorldCertificates(t *testing.T) {
	out := readXZ(t, "real-world-shaken-certs/shaken-certs.jsonl.xz")
	idx := map[string][]string{}
	rows, err := csv.NewReader(bytes.NewReader(readXZ(t, "real-world-shaken-certs/shaken-certs-index.csv.xz"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		idx[r[0]] = r
	}
	cas := certsOf(t, "real-world-shaken-certs/sti-ca-certs.pem")
	if len(cas) != 52 {
		t.Fatalf("sti-ca-certs.pem: %d certificates, want 52", len(cas))
	}
	trust := NewTrust(cas, nil)
	var n, leaves, spc, nonStd, none, malformed, direct, chained, chainTried int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rc realCert
		if err := json.Unmarshal(sc.Bytes(), &rc); err != nil {
			t.Fatal(err)
		}
		der, err := base64.StdEncoding.DecodeString(rc.DER)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(der); hex.EncodeToString(sum[:]) != rc.SHA256 {
			t.Fatalf("%s: digest mismatch", rc.SHA256)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Errorf("%s: %v", rc.SHA256, err)
			continue
		}
		n++
		row := idx[rc.SHA256]
		if row == nil {
			t.Fatalf("%s: not in the index", rc.SHA256)
		}
		kind, tnWant := row[1], row[2]
		tn, err := ParseTNAuthList(c)
		switch {
		case err != nil && !errors.Is(err, ErrNoTNAuthList) && hasLint(row[3], "e_atis_tn_auth_list"):
			// The lint calls its TNAuthList malformed; so do we.
			malformed++
		case strings.HasPrefix(tnWant, "spc:"):
			if err != nil || len(tn.SPCs) != 1 || tn.SPCs[0] != tnWant[4:] || tn.NonStandard {
				t.Errorf("%s: TNAuthList %+v %v, want %s", rc.SHA256, tn, err, tnWant)
			}
			spc++
		case tnWant == "":
			if !errors.Is(err, ErrNoTNAuthList) {
				t.Errorf("%s: TNAuthList %+v %v, want none", rc.SHA256, tn, err)
			}
			none++
		default: // a bare string instead of [0] SPC
			if err != nil || len(tn.SPCs) != 1 || !tn.NonStandard {
				t.Errorf("%s: TNAuthList %+v %v, want a non-standard SPC (%s)", rc.SHA256, tn, err, tnWant)
			}
			nonStd++
		}
		if kind != "leaf" {
			continue
		}
		leaves++
		for _, ca := range cas {
			if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
				direct++
				break
			}
		}
		// Full path validation in the middle of the leaf's validity.
		if _, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
			chainTried++
			mid := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
			if _, err := trust.Validate([]*x509.Certificate{c}, mid, true); err == nil {
				chained++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("parsed %d certificates (%d leaves): TNAuthList SPC %d, non-standard %d, malformed %d, none %d; %d leaves directly issued by an STI-CA cert; %d of %d P-256 leaves validate to an anchor", n, leaves, spc, nonStd, malformed, none, direct, chained, chainTried)
	if n != 15988 || leaves != 15936 || spc+malformed != 15929 || malformed > 3 || nonStd != 5 || none != 54 {
		t.Errorf("counts: %d certs, %d leaves, %d spc + %d malformed, %d non-standard, %d none; want 15988, 15936, 15929, 5, 54", n, leaves, spc, malformed, nonStd, none)
	}
	if direct < 15936-10 {
		t.Errorf("%d leaves directly issued by an STI-CA certificate, want at least %d", direct, 15936-10)
	}
	if chained < direct*9/10 {
		t.Errorf("only %d of %d leaves validate as a full chain", chained, chainTried)
	}
}

// TestRealX5UURLs runs the 17,839 x5u URLs seen in the wild through the
// URL rules (no fetching): every http:// or query-carrying URL is refused.
func TestRealX5UURLs(t *testing.T) {
	p := &FetchPolicy{}
	var ok, refused int
	for _, u := range strings.Split(strings.TrimSpace(string(readXZ(t, "real-world-shaken-certs/shaken-x5u-urls.txt.xz"))), "\n") {
		u = strings.TrimSpace(u)
		_, err := p.CheckURL(u)
		if err == nil {
			ok++
			if !strings.HasPrefix(u, "https://") || strings.Contains(u, "?") {
				t.Errorf("accepted %q", u)
			}
		} else {
			refused++
		}
	}
	t.Logf("x5u URLs: %d acceptable, %d refused", ok, refused)
	if ok+refused != 17839 || ok == 0 || refused == 0 {
		t.Errorf("x5u URLs: %d ok, %d refused, want 17839 in all with some of each", ok, refused)
	}
}

func hasLint(codes, code string) bool {
	for _, c := range strings.Fields(codes) {
		if c == code {
			return true
		}
	}
	return false
}
