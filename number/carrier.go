package number

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
)

//go:generate go run gencarrier.go

// carrierEN is libphonenumber's English carrier table as embedded in
// github.com/nyaruka/phonenumbers, extracted by gencarrier.go.
//
//go:embed data/carrier_en.txt.gz
var carrierEN []byte

// carrierPrefixMax is the longest prefix the library consults: it looks
// up at most the first ten characters of "+" and the E.164 digits.
const carrierPrefixMax = 9

type carrierTable struct {
	t     *trie
	names []string
}

func loadCarriers() (*carrierTable, error) {
	zr, err := gzip.NewReader(bytes.NewReader(carrierEN))
	if err != nil {
		return nil, fmt.Errorf("number: carrier table: %w", err)
	}
	ct := &carrierTable{t: newTrie()}
	intern := map[string]int32{}
	sc := bufio.NewScanner(zr)
	for line := 1; sc.Scan(); line++ {
		prefix, name, ok := strings.Cut(sc.Text(), "|")
		if _, err := parsePrefix(prefix); !ok || err != nil {
			return nil, fmt.Errorf("number: carrier table line %d: malformed %q", line, sc.Text())
		}
		v, ok := intern[name]
		if !ok {
			v = int32(len(ct.names))
			ct.names = append(ct.names, name)
			intern[name] = v
		}
		ct.t.insert(prefix, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("number: carrier table: %w", err)
	}
	return ct, nil
}

func (ct *carrierTable) lookup(digits []byte) string {
	if ct == nil {
		return ""
	}
	if len(digits) > carrierPrefixMax {
		digits = digits[:carrierPrefixMax]
	}
	if v, _ := ct.t.longest(digits); v >= 0 {
		return ct.names[v]
	}
	return ""
}
