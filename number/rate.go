package number

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

//go:embed data/rates.csv
var defaultRatesCSV []byte

// Rate is one row of a rate deck.
type Rate struct {
	Prefix      string  `json:"prefix"`
	PricePerMin float64 `json:"price_per_min"`
	Description string  `json:"description,omitempty"`
}

// ReadRates parses a rate deck CSV (header prefix,price_per_min[,description];
// '#' starts a comment line). name is used in errors.
func ReadRates(name string, r io.Reader) ([]Rate, error) {
	var out []Rate
	err := readTable(name, r, []string{"prefix", "price_per_min", "description"}, 2, func(line int, rec []string) error {
		p, err := parsePrefix(rec[0])
		if err != nil {
			return &csvError{file: name, line: line, field: "prefix", err: err}
		}
		price, err := strconv.ParseFloat(rec[1], 64)
		if err != nil || price < 0 || math.IsInf(price, 0) || math.IsNaN(price) {
			return &csvError{file: name, line: line, field: "price_per_min", err: fmt.Errorf("%q is not a non-negative number", rec[1])}
		}
		rt := Rate{Prefix: p, PricePerMin: price}
		if len(rec) > 2 {
			rt.Description = rec[2]
		}
		out = append(out, rt)
		return nil
	})
	return out, err
}

// rateDeck answers the price of the longest matching prefix.
type rateDeck struct {
	t     *trie
	rates []Rate
}

func loadRates(file string) (*rateDeck, error) {
	name, data := "data/rates.csv", defaultRatesCSV
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("number: rate deck: %w", err)
		}
		name, data = file, b
	}
	rows, err := ReadRates(name, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	d := &rateDeck{t: newTrie()}
	for _, r := range rows {
		if v, n := d.t.longest([]byte(r.Prefix)); v >= 0 && n == len(r.Prefix) {
			d.rates[v] = r // a later row for the same prefix wins
			continue
		}
		d.rates = append(d.rates, r)
		d.t.insert(r.Prefix, int32(len(d.rates)-1))
	}
	return d, nil
}

func (d *rateDeck) lookup(digits []byte) (price float64, prefix string) {
	if v, _ := d.t.longest(digits); v >= 0 {
		return d.rates[v].PricePerMin, d.rates[v].Prefix
	}
	return 0, ""
}
