// Package stir verifies and signs caller identity the STIR/SHAKEN way:
// the SIP Identity header (RFC 8224) carrying a PASSporT (RFC 8225) with
// the SHAKEN extension (RFC 8588), signed ES256 by a service provider whose
// certificate, fetched from the x5u URL, chains to an STI-CA trust anchor
// and carries a TNAuthList (RFC 8226, ATIS-1000080).
package stir

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// MaxIdentity is the longest Identity header value accepted.
const MaxIdentity = 8192

// Identity is one parsed Identity header value.
type Identity struct {
	// Compact is true when the token's payload part is empty (RFC 8224
	// §7.2): the claims must then be rebuilt from the SIP request.
	Compact bool
	// Info, Alg and PPT are the header parameters (Info without <>).
	Info, Alg, PPT string

	Header  Header
	Claims  Claims
	signing string // base64url(header) "." base64url(payload): what was signed
	sig     []byte // JOSE r||s
}

// Header is the PASSporT's JOSE header.
type Header struct {
	Alg string `json:"alg"`
	PPT string `json:"ppt"`
	Typ string `json:"typ"`
	X5U string `json:"x5u"`
}

// Claims are the PASSporT's claims as SHAKEN uses them.
type Claims struct {
	Attest  string   // "A", "B" or "C"
	Orig    string   // orig.tn
	Dest    []string // dest.tn
	DestURI []string // dest.uri, when the destination is not a number
	IAT     int64
	OrigID  string
}

// Error is a verification failure with the SIP response code RFC 8224
// gives it (403 Stale Date, 428, 436, 437, 438).
type Error struct {
	Code   int
	Reason string
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + " " + Phrase(e.Code) + ": " + e.Reason }

// Phrase is the reason phrase RFC 8224 gives a response code.
func Phrase(code int) string {
	switch code {
	case 403:
		return "Stale Date"
	case 428:
		return "Use Identity Header"
	case 436:
		return "Bad Identity Info"
	case 437:
		return "Unsupported Credential"
	case 438:
		return "Invalid Identity Header"
	}
	return "Error"
}

func invalid(reason string) *Error { return &Error{Code: 438, Reason: reason} }

var b64 = base64.RawURLEncoding.Strict()

// ParseIdentity parses an Identity header value: the signed token, then
// ";info=<URI>", ";alg=…", ";ppt=…" and extension parameters in any order.
// It decodes the JOSE header and, in the full form, the claims, checking
// their JSON types as RFC 8225 and RFC 8588 define them. Every error is a
// *Error with code 438. It does not check signatures, certificates or times.
func ParseIdentity(s string) (*Identity, error) {
	if len(s) > MaxIdentity {
		return nil, invalid("header longer than " + strconv.Itoa(MaxIdentity) + " bytes")
	}
	s = strings.TrimSpace(s)
	tok, params, _ := strings.Cut(s, ";")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil, invalid("empty header")
	}
	id := &Identity{}
	if err := id.params(params); err != nil {
		return nil, err
	}
	h, p, sig, err := splitToken(tok)
	if err != nil {
		return nil, err
	}
	hj, err := b64.DecodeString(h)
	if err != nil {
		return nil, invalid("PASSporT header is not base64url")
	}
	if err := decodeHeader(hj, &id.Header); err != nil {
		return nil, err
	}
	if id.sig, err = b64.DecodeString(sig); err != nil {
		return nil, invalid("PASSporT signature is not base64url")
	}
	if p == "" {
		id.Compact = true
		return id, nil
	}
	pj, err := b64.DecodeString(p)
	if err != nil {
		return nil, invalid("PASSporT payload is not base64url")
	}
	if err := decodeClaims(pj, &id.Claims); err != nil {
		return nil, err
	}
	id.signing = tok[:len(h)+1+len(p)]
	return id, nil
}

func splitToken(tok string) (h, p, sig string, err error) {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", "", "", invalid("token has a character outside base64url and '.' at byte " + strconv.Itoa(i))
		}
	}
	h, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return "", "", "", invalid("token is not header.payload.signature")
	}
	p, sig, ok = strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return "", "", "", invalid("token is not header.payload.signature")
	}
	if h == "" || sig == "" {
		return "", "", "", invalid("token has an empty header or signature")
	}
	return h, p, sig, nil
}

// params parses ";name=value" parameters (the leading ";" already cut).
func (id *Identity) params(s string) error {
	seen := map[string]bool{}
	for s != "" {
		var one string
		if strings.HasPrefix(strings.TrimSpace(s), "info") {
			// info's URI may contain ';' inside <>.
			t := strings.TrimSpace(s)
			if i := strings.IndexByte(t, '>'); i >= 0 && strings.Contains(t[:i], "<") {
				one = t[:i+1]
				s = t[i+1:]
				if r := strings.TrimSpace(s); r != "" && r[0] != ';' {
					return invalid("parameters must be separated by ';' after info=<…>")
				}
				s = strings.TrimPrefix(strings.TrimSpace(s), ";")
			} else {
				one, s, _ = strings.Cut(s, ";")
			}
		} else {
			one, s, _ = strings.Cut(s, ";")
		}
		name, val, ok := strings.Cut(strings.TrimSpace(one), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if name == "" {
			return invalid("empty parameter")
		}
		if !ok && (name == "info" || name == "alg" || name == "ppt") {
			return invalid("parameter " + name + " has no value")
		}
		if seen[name] {
			return invalid("parameter " + name + " repeated")
		}
		seen[name] = true
		switch name {
		case "info":
			if len(val) < 2 || val[0] != '<' || val[len(val)-1] != '>' {
				return invalid("info must be <URI>")
			}
			id.Info = val[1 : len(val)-1]
			if id.Info == "" || strings.ContainsAny(id.Info, "<> \t") {
				return invalid("info URI is empty or malformed")
			}
		case "alg":
			id.Alg = unquote(val)
		case "ppt":
			id.PPT = unquote(val)
		}
	}
	return nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func decodeHeader(b []byte, h *Header) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return invalid("PASSporT header is not a JSON object")
	}
	for k, dst := range map[string]*string{"alg": &h.Alg, "ppt": &h.PPT, "typ": &h.Typ, "x5u": &h.X5U} {
		v, ok := raw[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return invalid("PASSporT header " + k + " is not a string")
		}
	}
	return nil
}

func decodeClaims(b []byte, c *Claims) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return invalid("PASSporT payload is not a JSON object")
	}
	if v, ok := raw["attest"]; ok {
		if json.Unmarshal(v, &c.Attest) != nil {
			return invalid("claim attest is not a string")
		}
	}
	if v, ok := raw["origid"]; ok {
		if json.Unmarshal(v, &c.OrigID) != nil {
			return invalid("claim origid is not a string")
		}
	}
	if v, ok := raw["iat"]; ok {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] < '0' || v[0] > '9' {
			if len(v) == 0 || v[0] != '-' {
				return invalid("claim iat is not a number (RFC 8225 wants NumericDate)")
			}
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return invalid("claim iat is not a whole number")
		}
		c.IAT = n
	} else {
		return invalid("claim iat missing")
	}
	ov, ok := raw["orig"]
	if !ok {
		return invalid("claim orig missing")
	}
	var orig struct {
		TN  *json.RawMessage `json:"tn"`
		URI *json.RawMessage `json:"uri"`
	}
	if json.Unmarshal(ov, &orig) != nil {
		return invalid("claim orig is not an object")
	}
	if orig.TN != nil {
		if json.Unmarshal(*orig.TN, &c.Orig) != nil {
			return invalid("claim orig.tn is not a string")
		}
	}
	dv, ok := raw["dest"]
	if !ok {
		return invalid("claim dest missing")
	}
	var dest struct {
		TN  *json.RawMessage `json:"tn"`
		URI *json.RawMessage `json:"uri"`
	}
	if json.Unmarshal(dv, &dest) != nil {
		return invalid("claim dest is not an object")
	}
	if dest.TN != nil && json.Unmarshal(*dest.TN, &c.Dest) != nil {
		return invalid("claim dest.tn is not an array of strings")
	}
	if dest.URI != nil && json.Unmarshal(*dest.URI, &c.DestURI) != nil {
		return invalid("claim dest.uri is not an array of strings")
	}
	if len(c.Dest) == 0 && len(c.DestURI) == 0 {
		return invalid("claim dest has neither tn nor uri")
	}
	return nil
}

// canonicalTN reduces a telephone number to its digits (and * #), the form
// RFC 8224 §8.3 compares: visual separators and a leading "+" go.
func canonicalTN(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c == '*' || c == '#' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
