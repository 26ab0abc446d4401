package reputation

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Feed formats.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
)

// FeedHeader is the CSV header of a feed. Times are RFC 3339; an empty
// expires means "the importer decides"; an empty status means confirmed
// (a suspected entry stays suspected where it is imported, so a number
// one forged packet planted is not enforced elsewhere either).
var FeedHeader = []string{"kind", "value", "source", "score", "hits", "first_seen", "last_seen", "expires", "reason", "status"}

// MaxFeedEntries bounds one import.
const MaxFeedEntries = 1_000_000

// DefaultFeedTTL is how long an imported entry lives unless the feed is
// imported again (which refreshes it).
const DefaultFeedTTL = 7 * 24 * time.Hour

// feedJSON is the JSON feed document.
type feedJSON struct {
	Generated time.Time `json:"generated,omitzero"`
	Entries   []Entry   `json:"entries"`
}

// ImportOptions controls ReadFeed.
type ImportOptions struct {
	Now time.Time
	// TTL caps the expiry of every imported entry at Now+TTL, so entries
	// not refreshed by a later import run out (0: DefaultFeedTTL).
	TTL time.Duration
	// Trusted reports whether an IP entry covers a trusted address (the
	// operator's PBXs, trunks, proxies, allowlist). Such entries are
	// dropped: a peer's feed must never ban our own infrastructure.
	Trusted func(netip.Prefix) bool
}

// Skipped is an entry left out of an import, and why.
type Skipped struct {
	Line   int    `json:"line"` // CSV line, or JSON entry index + 1
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// FeedError is a malformed feed, naming the line and field.
type FeedError struct {
	Line  int
	Field string
	Msg   string
}

func (e *FeedError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("feed line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("feed line %d: %s: %s", e.Line, e.Field, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FeedError) Unwrap() error { return ErrInvalid }

// ReadFeed parses a CSV or JSON feed. Every entry gets source "feed" and
// an expiry no later than Now+TTL; entries covering trusted addresses are
// returned in skipped, not in entries. A malformed feed is refused whole.
func ReadFeed(r io.Reader, format string, o ImportOptions) (entries []Entry, skipped []Skipped, err error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultFeedTTL
	}
	var raw []Entry
	var lines []int
	switch format {
	case FormatCSV:
		raw, lines, err = readCSV(r)
	case FormatJSON:
		raw, lines, err = readJSON(r)
	default:
		return nil, nil, &FieldError{"format", fmt.Sprintf("want csv or json, got %q", format)}
	}
	if err != nil {
		return nil, nil, err
	}
	limit := o.Now.Add(o.TTL).UTC()
	for i := range raw {
		e := raw[i]
		e.Source = SourceFeed
		if err := Normalize(&e, o.Now); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return nil, nil, &FeedError{lines[i], fe.Field, fe.Msg}
			}
			return nil, nil, &FeedError{lines[i], "", err.Error()}
		}
		if e.Expires.IsZero() || e.Expires.After(limit) {
			e.Expires = limit
		}
		if !e.Expires.After(o.Now) {
			skipped = append(skipped, Skipped{lines[i], e.Value, "already expired"})
			continue
		}
		if e.Kind == KindIP && o.Trusted != nil {
			if p, _ := ParsePrefix(e.Value); o.Trusted(p) {
				skipped = append(skipped, Skipped{lines[i], e.Value, "covers a trusted address"})
				continue
			}
		}
		entries = append(entries, e)
	}
	return entries, skipped, nil
}

func readCSV(r io.Reader) ([]Entry, []int, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.ReuseRecord = true
	var out []Entry
	var lines []int
	col := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, &FeedError{pe.Line, "", pe.Err.Error()}
			}
			return nil, nil, &FeedError{0, "", err.Error()}
		}
		line, _ := cr.FieldPos(0) // only valid after a successful Read
		if len(col) == 0 {
			for i, h := range rec {
				col[strings.ToLower(strings.TrimSpace(h))] = i
			}
			for _, need := range []string{"kind", "value"} {
				if _, ok := col[need]; !ok {
					return nil, nil, &FeedError{line, need, "column missing from the header (want " + strings.Join(FeedHeader, ",") + ")"}
				}
			}
			continue
		}
		if len(out) >= MaxFeedEntries {
			return nil, nil, &FeedError{line, "", fmt.Sprintf("more than %d entries", MaxFeedEntries)}
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e := Entry{Kind: get("kind"), Value: get("value"), Reason: get("reason"), Status: get("status")}
		if s := get("score"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, nil, &FeedError{line, "score", fmt.Sprintf("want a whole number, got %q", s)}
			}
			e.Score = n
		}
		if s := get("hits"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, nil, &FeedError{line, "hits", fmt.Sprintf("want a whole number, got %q", s)}
			}
			e.Hits = n
		}
		for _, f := range []struct {
			name string
			p    *time.Time
		}{{"first_seen", &e.FirstSeen}, {"last_seen", &e.LastSeen}, {"expires", &e.Expires}} {
			if s := get(f.name); s != "" {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return nil, nil, &FeedError{line, f.name, fmt.Sprintf("want RFC 3339, got %q", s)}
				}
				*f.p = t
			}
		}
		out = append(out, e)
		lines = append(lines, line)
	}
	return out, lines, nil
}

func readJSON(r io.Reader) ([]Entry, []int, error) {
	dec := json.NewDecoder(io.LimitReader(r, 512<<20))
	dec.DisallowUnknownFields()
	var doc feedJSON
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, &FeedError{0, "", "bad JSON: " + err.Error()}
	}
	if len(doc.Entries) > MaxFeedEntries {
		return nil, nil, &FeedError{0, "entries", fmt.Sprintf("more than %d entries", MaxFeedEntries)}
	}
	lines := make([]int, len(doc.Entries))
	for i := range lines {
		lines[i] = i + 1
	}
	return doc.Entries, lines, nil
}

// WriteFeed writes entries as a CSV or JSON feed.
func WriteFeed(w io.Writer, format string, es []Entry, now time.Time) error {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(FeedHeader); err != nil {
			return err
		}
		for _, e := range es {
			exp := ""
			if !e.Expires.IsZero() {
				exp = e.Expires.UTC().Format(time.RFC3339)
			}
			if err := cw.Write([]string{e.Kind, e.Value, e.Source, strconv.Itoa(e.Score), strconv.FormatInt(e.Hits, 10),
				e.FirstSeen.UTC().Format(time.RFC3339), e.LastSeen.UTC().Format(time.RFC3339), exp, e.Reason, e.Status}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		if es == nil {
			es = []Entry{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(feedJSON{Generated: now.UTC(), Entries: es})
	}
	return &FieldError{"format", fmt.Sprintf("want csv or json, got %q", format)}
}
