package store

import "testing"

// TestCoversCall: a costly-scoped extension block refuses premium calls
// and international calls not known to be cheap, and lets the agent's
// cheap international and domestic calls through; international and all
// keep their meaning; the scope validates.
func TestCoversCall(t *testing.T) {
	for _, tc := range []struct {
		scope         string
		intl, premium bool
		rate          float64
		want          bool
	}{
		{"costly", true, false, 0.03, false},  // an agent's call to a cheap mobile abroad
		{"costly", false, false, 0.01, false}, // domestic
		{"costly", true, false, 0.10, true},
		{"costly", true, false, 0, true},   // price unknown: refused
		{"costly", false, true, 1.5, true}, // domestic premium
		{"international", true, false, 0.03, true},
		{"international", false, false, 0.01, false},
		{"", false, false, 0.01, true},
		{"all", false, false, 0, true},
	} {
		b := Block{Kind: BlockExtension, Value: "1001", Scope: tc.scope}
		if got := b.CoversCall(tc.intl, tc.premium, tc.rate); got != tc.want {
			t.Errorf("scope %q intl=%v premium=%v rate=%.2f: %v, want %v", tc.scope, tc.intl, tc.premium, tc.rate, got, tc.want)
		}
	}
	if err := (Block{Kind: BlockExtension, Value: "1001", Scope: "costly"}).Validate(); err != nil {
		t.Errorf("costly scope: %v", err)
	}
	if err := (Block{Kind: BlockExtension, Value: "1001", Scope: "cheap"}).Validate(); err == nil {
		t.Error("unknown scope validated")
	}
}
