package number

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
)

//go:embed data/risk.csv
var defaultRiskCSV []byte

// Risk actions a range may carry.
var riskActions = map[string]bool{"": true, "block": true, "limit": true, "auth": true, "allow": true, "remove": true}

// deletes reports whether a risk row removes its prefix instead of setting it.
func (r Range) deletes() bool { return r.Category == "none" || r.Action == "remove" }

// ReadRanges parses a risk CSV (header prefix,category,risk,action,reason;
// reason optional; '#' starts a comment line). name is used in errors.
// Rows with category "none" or action "remove" are returned as they are;
// they delete the prefix when tables are merged.
func ReadRanges(name string, r io.Reader) ([]Range, error) {
	var out []Range
	err := readTable(name, r, []string{"prefix", "category", "risk", "action", "reason"}, 4, func(line int, rec []string) error {
		p, err := parsePrefix(rec[0])
		if err != nil {
			return &csvError{file: name, line: line, field: "prefix", err: err}
		}
		rg := Range{Prefix: p, Category: rec[1], Action: rec[3]}
		if len(rec) > 4 {
			rg.Reason = rec[4]
		}
		if err := checkCategory(rg.Category); err != nil {
			return &csvError{file: name, line: line, field: "category", err: err}
		}
		if !riskActions[rg.Action] {
			return &csvError{file: name, line: line, field: "action", err: fmt.Errorf("unknown action %q (want block, limit, auth, allow, remove or empty)", rg.Action)}
		}
		if rec[2] == "" && rg.deletes() {
			out = append(out, rg)
			return nil
		}
		n, err := strconv.Atoi(rec[2])
		if err != nil || n < 0 || n > 100 {
			return &csvError{file: name, line: line, field: "risk", err: fmt.Errorf("%q is not an integer from 0 to 100", rec[2])}
		}
		rg.Risk = n
		out = append(out, rg)
		return nil
	})
	return out, err
}

func checkCategory(c string) error {
	if c == "" {
		return errors.New("empty category")
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch == '_' || i > 0 && ch >= '0' && ch <= '9') {
			return fmt.Errorf("category %q: want lower-case letters, digits and '_'", c)
		}
	}
	return nil
}

// riskTable answers which ranges cover a number.
type riskTable struct {
	t *trie
	// covering holds, per trie value, every range on the path from the
	// root to that prefix, shortest first; Lookup hands these out shared.
	covering [][]Range
	all      []Range
}

// loadRisk merges the embedded defaults (unless skipped) and files, in
// order; a later row for a prefix replaces an earlier one.
func loadRisk(defaults bool, files []string) (*riskTable, error) {
	merged := map[string]Range{}
	apply := func(rows []Range) {
		for _, r := range rows {
			if r.deletes() {
				delete(merged, r.Prefix)
			} else {
				merged[r.Prefix] = r
			}
		}
	}
	if defaults {
		rows, err := ReadRanges("data/risk.csv", bytes.NewReader(defaultRiskCSV))
		if err != nil {
			return nil, err
		}
		apply(rows)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("number: risk file: %w", err)
		}
		rows, err := ReadRanges(f, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		apply(rows)
	}
	return newRiskTable(merged), nil
}

func newRiskTable(merged map[string]Range) *riskTable {
	rt := &riskTable{t: newTrie()}
	for _, r := range merged {
		rt.all = append(rt.all, r)
	}
	// Shorter prefixes first, so a node's ancestors already have their sets.
	slices.SortFunc(rt.all, func(a, b Range) int {
		if len(a.Prefix) != len(b.Prefix) {
			return len(a.Prefix) - len(b.Prefix)
		}
		if a.Prefix < b.Prefix {
			return -1
		}
		return 1
	})
	for _, r := range rt.all {
		v, _ := rt.t.longest([]byte(r.Prefix))
		var set []Range
		if v >= 0 {
			set = append(set, rt.covering[v]...)
		}
		set = append(set, r)
		rt.covering = append(rt.covering, slices.Clip(set))
		rt.t.insert(r.Prefix, int32(len(rt.covering)-1))
	}
	return rt
}

// lookup returns the shared slice of ranges covering E.164 digits.
func (rt *riskTable) lookup(digits []byte) []Range {
	if v, _ := rt.t.longest(digits); v >= 0 {
		return rt.covering[v]
	}
	return nil
}
