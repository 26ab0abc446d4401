package reputation

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Entry statuses. A learned entry (the honeypot's dialed numbers) starts
// suspected and is confirmed only when its evidence meets its rule (see
// Evidence); entries from operators and feeds are confirmed as written.
// The screening check enforces the configured action on confirmed
// entries only; a suspected number adds risk and changes no verdict.
const (
	StatusConfirmed = "confirmed"
	StatusSuspected = "suspected"
)

// MaxSightings bounds the networks one entry's evidence lists; further
// networks are only counted (Evidence.MoreNetworks). Networks that proved
// a return path are kept first.
const MaxSightings = 32

// Evidence is why a learned entry is listed: which networks sighted it,
// when, which of them proved a return path, and the rule that confirms
// it. One datagram can name any source address, so a sighting only
// counts towards confirmation once a source in its network completed a
// transaction with the decoy (acknowledged an answer it could only have
// read by receiving it).
type Evidence struct {
	Sightings    []Sighting `json:"sightings"`
	MoreNetworks int64      `json:"more_networks,omitempty"` // networks beyond MaxSightings, counted only
	// Class is the high-cost class of a number (premium_rate, satellite,
	// irsf …) when one applied, which lowers Need.
	Class string `json:"class,omitempty"`
	Need  Need   `json:"need"`
	// Confirmed is when the evidence first met Need, and Why says how.
	Confirmed time.Time `json:"confirmed,omitzero"`
	Why       string    `json:"why,omitempty"`
}

// Sighting is one network (an IPv4 /24 or an IPv6 /48: one operator's
// block, not one address) that sent the entry's value.
type Sighting struct {
	Network string    `json:"network"`
	Addr    string    `json:"addr"` // the first address seen in it
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Hits    int64     `json:"hits"`
	// Proven is when a source in the network first completed a
	// transaction (zero: never; its address may be forged).
	Proven time.Time `json:"proven,omitzero"`
}

// Need is the rule that confirms a learned entry: proven sightings from
// at least Networks distinct networks whose proofs lie at least SpanS
// seconds apart (first to last).
type Need struct {
	Networks int   `json:"networks"`
	SpanS    int64 `json:"span_s"`
}

// NetworkOf is the network a sighting from a counts for: its /24 (IPv4)
// or /48 (IPv6).
func NetworkOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p
}

// Proven counts the networks that proved a return path and the span
// between the first and the last proof.
func (ev *Evidence) Proven() (networks int, first, last time.Time) {
	for _, s := range ev.Sightings {
		if s.Proven.IsZero() {
			continue
		}
		networks++
		if first.IsZero() || s.Proven.Before(first) {
			first = s.Proven
		}
		if s.Proven.After(last) {
			last = s.Proven
		}
	}
	return networks, first, last
}

// maxSpanS bounds Need.SpanS (ten years), far from overflowing a
// time.Duration.
const maxSpanS = 3650 * 86400

// Met reports whether the evidence meets its rule.
func (ev *Evidence) Met() bool {
	if ev == nil || ev.Need.Networks <= 0 || ev.Need.SpanS < 0 || ev.Need.SpanS > maxSpanS {
		return false
	}
	n, first, last := ev.Proven()
	return n >= ev.Need.Networks && last.Sub(first) >= time.Duration(ev.Need.SpanS)*time.Second
}

// explain says how the evidence met its rule.
func (ev *Evidence) explain() string {
	n, first, last := ev.Proven()
	class := ""
	if ev.Class != "" {
		class = " (" + ev.Class + " number)"
	}
	return fmt.Sprintf("%d networks completed calls to it between %s and %s%s; the rule needs %d networks over %s",
		n, first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), class, ev.Need.Networks, time.Duration(ev.Need.SpanS)*time.Second)
}

func (ev *Evidence) clone() *Evidence {
	if ev == nil {
		return nil
	}
	c := *ev
	c.Sightings = slices.Clone(ev.Sightings)
	return &c
}

// mergeEvidence folds n into old (either may be nil): sightings of the
// same network add up, the newer rule and class win, a confirmation is
// kept.
func mergeEvidence(old, n *Evidence) *Evidence {
	switch {
	case old == nil:
		return n.clone()
	case n == nil:
		return old.clone()
	}
	out := old.clone()
	out.MoreNetworks += n.MoreNetworks
	if n.Need.Networks > 0 {
		out.Need = n.Need
	}
	if n.Class != "" {
		out.Class = n.Class
	}
	if out.Confirmed.IsZero() && !n.Confirmed.IsZero() {
		out.Confirmed, out.Why = n.Confirmed, n.Why
	}
	for _, s := range n.Sightings {
		i := slices.IndexFunc(out.Sightings, func(o Sighting) bool { return o.Network == s.Network })
		if i < 0 {
			out.Sightings = append(out.Sightings, s)
			continue
		}
		o := &out.Sightings[i]
		o.Hits += s.Hits
		if s.First.Before(o.First) {
			o.First, o.Addr = s.First, s.Addr
		}
		if s.Last.After(o.Last) {
			o.Last = s.Last
		}
		if !s.Proven.IsZero() && (o.Proven.IsZero() || s.Proven.Before(o.Proven)) {
			o.Proven = s.Proven
		}
	}
	if len(out.Sightings) > MaxSightings {
		// Keep the proven networks, then the most recently seen.
		slices.SortStableFunc(out.Sightings, func(a, b Sighting) int {
			if pa, pb := !a.Proven.IsZero(), !b.Proven.IsZero(); pa != pb {
				if pa {
					return -1
				}
				return 1
			}
			return b.Last.Compare(a.Last)
		})
		out.MoreNetworks += int64(len(out.Sightings) - MaxSightings)
		out.Sightings = out.Sightings[:MaxSightings]
	}
	return out
}

// settle confirms a suspected entry whose evidence meets its rule.
func settle(e *Entry) {
	if e.Status != StatusSuspected || !e.Evidence.Met() {
		return
	}
	e.Status = StatusConfirmed
	if e.Evidence.Confirmed.IsZero() {
		_, _, last := e.Evidence.Proven()
		e.Evidence.Confirmed, e.Evidence.Why = last.UTC(), e.Evidence.explain()
	}
}

// checkEvidence validates evidence from outside (an import, the API).
func checkEvidence(ev *Evidence) error {
	if ev == nil {
		return nil
	}
	if len(ev.Sightings) > MaxSightings {
		return &FieldError{"evidence", fmt.Sprintf("more than %d sightings", MaxSightings)}
	}
	if ev.Need.Networks < 0 || ev.Need.Networks > MaxSightings || ev.Need.SpanS < 0 || ev.Need.SpanS > maxSpanS || ev.MoreNetworks < 0 {
		return &FieldError{"evidence", "need: want 0 to 32 networks and a span of 0 to 3650 days"}
	}
	if len(ev.Class) > 64 || len(ev.Why) > 512 {
		return &FieldError{"evidence", "class or why too long"}
	}
	for i := range ev.Sightings {
		s := &ev.Sightings[i]
		p, err := netip.ParsePrefix(s.Network)
		if err != nil {
			return &FieldError{"evidence", fmt.Sprintf("sighting %d: network %q", i, s.Network)}
		}
		s.Network = p.Masked().String()
		if s.Addr != "" {
			if _, err := netip.ParseAddr(s.Addr); err != nil {
				return &FieldError{"evidence", fmt.Sprintf("sighting %d: address %q", i, s.Addr)}
			}
		}
		if s.Hits < 0 {
			return &FieldError{"evidence", fmt.Sprintf("sighting %d: negative hits", i)}
		}
	}
	return nil
}

// EncodeEvidence is the stored form of evidence: JSON, nil for none.
func EncodeEvidence(ev *Evidence) ([]byte, error) {
	if ev == nil {
		return nil, nil
	}
	return json.Marshal(ev)
}

// DecodeEvidence reads what EncodeEvidence wrote (nil or empty: none).
func DecodeEvidence(b []byte) (*Evidence, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var ev Evidence
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}
