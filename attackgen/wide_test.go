package attackgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

// digest is the SHA-256 of a scenario's JSON and of its calls as
// WriteCalls writes them.
func digest(t *testing.T, sc *Scenario) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(sc); err != nil {
		t.Fatal(err)
	}
	if err := WriteCalls(&b, sc.Calls); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(s[:])
}

// The default profile's streams are what the reported seeds mean: these
// digests were taken from the generator before the wide profile existed
// (commit 5c4a50d), so any change to a default stream fails here.
func TestDefaultProfileUnchanged(t *testing.T) {
	want := map[uint64]string{
		1:   "48f25bc8ccc508e3cc4781d04667e87307f5a68ea20669a94ca260cda49ab185",
		416: "7c63a92ad33560201d4d64d4bdc1103290f0959e8eb185bfd96010e50ea28044",
	}
	for seed, w := range want {
		for _, p := range []string{"", ProfileDefault} {
			sc, err := Generate(Options{Seed: seed, HistoryDays: 7, Intel: testIntel(t), Profile: p})
			if err != nil {
				t.Fatal(err)
			}
			if got := digest(t, sc); got != w {
				t.Errorf("seed %d profile %q: digest %s, want %s (the default stream changed)", seed, p, got, w)
			}
		}
	}
}

func TestUnknownProfile(t *testing.T) {
	if _, err := Generate(Options{Seed: 1, Intel: testIntel(t), Profile: "narrow"}); err == nil {
		t.Fatal("unknown profile accepted")
	}
}

// The wide profile reaches outside the default ranges on a handful of
// seeds: small and mostly-international tenants, new tenants, night
// shifts, home countries the default never draws, attacks cheaper per
// call and starting in business hours; and it stays deterministic.
func TestWideProfileRanges(t *testing.T) {
	var small, mostlyIntl, newTenant, night, wideHome, bizAttack, cheapCall, manyExt bool
	for seed := uint64(1); seed <= 8; seed++ {
		o := Options{Seed: seed, HistoryDays: 14, Scale: 0.3, Intel: testIntel(t), Profile: ProfileWide}
		sc, err := Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		if seed == 1 {
			again, err := Generate(o)
			if err != nil {
				t.Fatal(err)
			}
			if digest(t, sc) != digest(t, again) {
				t.Fatal("wide profile: the same seed gave two streams")
			}
			def, err := Generate(Options{Seed: seed, HistoryDays: 14, Scale: 0.3, Intel: testIntel(t)})
			if err != nil {
				t.Fatal(err)
			}
			if digest(t, def) == digest(t, sc) {
				t.Fatal("wide profile gave the default stream")
			}
		}
		first := map[string]time.Time{}
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if c.Label == Legit {
				if f, ok := first[c.Tenant]; !ok || c.Start.Before(f) {
					first[c.Tenant] = c.Start
				}
			}
		}
		byName := map[string]*Tenant{}
		for _, tn := range sc.Tenants {
			byName[tn.Name] = tn
			small = small || tn.DailyCalls < 150*o.Scale
			mostlyIntl = mostlyIntl || tn.IntlShare > 0.6 && tn.Country != "PH" && tn.Country != "IN" && tn.Country != "ZA"
			newTenant = newTenant || first[tn.Name].After(sc.Start.AddDate(0, 0, 3))
			night = night || tn.shape.nightShare > 0
			for _, h := range wideHomes {
				wideHome = wideHome || h.Region == tn.Country
			}
			manyExt = manyExt || len(tn.Extensions) > 70
		}
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if c.Label == Legit || !c.Chargeable() {
				continue
			}
			tn := byName[c.Tenant]
			l := c.Start.In(tn.loc)
			if h := l.Hour(); h >= tn.OpenHour && h < tn.CloseHour && tn.openOn(l.Weekday()) && c.Class != Wangiri && c.Class != StolenCreds {
				bizAttack = true
			}
			if c.Billsec > 0 && c.Billsec < 120 && c.Class != Wangiri && c.Class != StolenCreds {
				cheapCall = true
			}
		}
	}
	for name, ok := range map[string]bool{"small tenant": small, "mostly-international tenant outside PH/IN/ZA": mostlyIntl, "new tenant": newTenant,
		"night shift": night, "wide-only home country": wideHome, "attack in business hours": bizAttack, "short attack call": cheapCall, "over 70 extensions": manyExt} {
		if !ok {
			t.Errorf("wide profile, seeds 1-8: no %s", name)
		}
	}
}
