package stir

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
)

// OIDTNAuthList is the TNAuthList certificate extension (RFC 8226 §9).
var OIDTNAuthList = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 26}

// TNAuthList is what a certificate's TNAuthList extension authorizes.
// SHAKEN service provider certificates carry one SPC (ATIS-1000080).
type TNAuthList struct {
	SPCs   []string
	Ranges []TNRange
	TNs    []string
	// NonStandard is set when an entry was a bare string instead of the
	// [0]-tagged ServiceProviderCode the ASN.1 module defines (seen in
	// real certificates); it is still read as an SPC.
	NonStandard bool
}

// TNRange is a block of count numbers starting at Start.
type TNRange struct {
	Start string
	Count int64
}

// ErrNoTNAuthList says a certificate has no TNAuthList extension.
var ErrNoTNAuthList = errors.New("no TNAuthList extension")

// ParseTNAuthList reads the TNAuthList extension of a certificate.
func ParseTNAuthList(c *x509.Certificate) (*TNAuthList, error) {
	for _, e := range c.Extensions {
		if e.Id.Equal(OIDTNAuthList) {
			return parseTNAuthList(e.Value)
		}
	}
	return nil, ErrNoTNAuthList
}

// TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
// TNEntry ::= CHOICE { spc [0] ServiceProviderCode,
//
//	range [1] TelephoneNumberRange, one [2] TelephoneNumber }
func parseTNAuthList(der []byte) (*TNAuthList, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errors.New("TNAuthList is not a DER SEQUENCE")
	}
	out := &TNAuthList{}
	b := seq.Bytes
	for len(b) > 0 {
		var e asn1.RawValue
		if b, err = asn1.Unmarshal(b, &e); err != nil {
			return nil, errors.New("TNAuthList entry is not DER")
		}
		switch {
		case e.Class == asn1.ClassContextSpecific && e.Tag == 0:
			s, err := taggedString(e)
			if err != nil {
				return nil, err
			}
			out.SPCs = append(out.SPCs, s)
		case e.Class == asn1.ClassContextSpecific && e.Tag == 1:
			r, err := parseRange(e)
			if err != nil {
				return nil, err
			}
			out.Ranges = append(out.Ranges, r...)
		case e.Class == asn1.ClassContextSpecific && e.Tag == 2:
			s, err := taggedString(e)
			if err != nil {
				return nil, err
			}
			out.TNs = append(out.TNs, s)
		case e.Class == asn1.ClassUniversal && isStringTag(e.Tag):
			out.SPCs = append(out.SPCs, string(e.Bytes))
			out.NonStandard = true
		default:
			return nil, errors.New("TNAuthList entry has an unknown tag")
		}
	}
	if len(out.SPCs)+len(out.Ranges)+len(out.TNs) == 0 {
		return nil, errors.New("TNAuthList is empty")
	}
	return out, nil
}

func isStringTag(t int) bool {
	return t == asn1.TagIA5String || t == asn1.TagPrintableString || t == asn1.TagUTF8String
}

// taggedString reads [n] EXPLICIT IA5String, or an implicitly tagged one.
func taggedString(e asn1.RawValue) (string, error) {
	if !e.IsCompound {
		return string(e.Bytes), nil
	}
	var in asn1.RawValue
	rest, err := asn1.Unmarshal(e.Bytes, &in)
	if err != nil || len(rest) != 0 || in.Class != asn1.ClassUniversal || !isStringTag(in.Tag) {
		return "", errors.New("TNAuthList string entry is malformed")
	}
	if len(in.Bytes) == 0 {
		return "", errors.New("TNAuthList string entry is empty")
	}
	return string(in.Bytes), nil
}

// TelephoneNumberRange ::= SEQUENCE { start TelephoneNumber, count INTEGER }
// (RFC 8226); RFC 9448 allows a SEQUENCE OF them.
func parseRange(e asn1.RawValue) ([]TNRange, error) {
	b := e.Bytes
	if e.IsCompound {
		var in asn1.RawValue
		rest, err := asn1.Unmarshal(e.Bytes, &in)
		if err == nil && len(rest) == 0 && in.Tag == asn1.TagSequence {
			b = in.Bytes
		}
	}
	var out []TNRange
	for len(b) > 0 {
		var first asn1.RawValue
		rest, err := asn1.Unmarshal(b, &first)
		if err != nil {
			return nil, errors.New("TNAuthList range is malformed")
		}
		if first.Tag == asn1.TagSequence { // a SEQUENCE OF ranges
			r, err := parseRange(asn1.RawValue{Bytes: first.Bytes})
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
			b = rest
			continue
		}
		var n *big.Int
		rest2, err := asn1.Unmarshal(rest, &n)
		if err != nil || !isStringTag(first.Tag) || n.Sign() <= 0 || !n.IsInt64() {
			return nil, errors.New("TNAuthList range is malformed")
		}
		out = append(out, TNRange{Start: string(first.Bytes), Count: n.Int64()})
		b = rest2
	}
	if len(out) == 0 {
		return nil, errors.New("TNAuthList range is empty")
	}
	return out, nil
}

type asn1OID = asn1.ObjectIdentifier
