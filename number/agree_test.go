package number

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

const shortExamples = "testdata/libphonenumber/short_number_examples.csv"

// TestShortNumbersAgree checks emergency and short-code answers against
// the library on every short-number example.
func TestShortNumbersAgree(t *testing.T) {
	x := newTestIntel(t)
	f, err := os.Open(shortExamples)
	if err != nil {
		t.Fatalf("short number examples (testdata/libphonenumber, see its PROVENANCE.md): %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	emergencies := 0
	for _, row := range rows[1:] {
		region, digits := row[0], row[2]
		flags := x.short.lookup(region, []byte(digits))
		if got, want := flags&shortEmergency != 0, phonenumbers.IsEmergencyNumber(digits, region); got != want {
			t.Errorf("%s %s: emergency %v; library says %v", region, digits, got, want)
		}
		num, err := phonenumbers.Parse(digits, region)
		if err == nil {
			if got, want := flags&shortCode != 0, phonenumbers.IsValidShortNumberForRegion(num, region); got != want {
				t.Errorf("%s %s: short code %v; library says %v", region, digits, got, want)
			}
		}
		if row[1] == "emergency" {
			emergencies++
			info, err := x.Lookup(digits, &DialPlan{Country: region})
			if err != nil || info.Kind != Emergency {
				t.Errorf("Lookup(%s in %s) = %v, %v; want Emergency", digits, region, info.Kind, err)
			}
		}
	}
	t.Logf("%d short-number examples agree; %d emergency numbers reported", len(rows)-1, emergencies)
}

// TestCarrierAgrees checks the carrier trie against the library on the
// example numbers and random numbers.
func TestCarrierAgrees(t *testing.T) {
	x := newTestIntel(t)
	var nums []string
	for _, row := range readExamples(t) {
		nums = append(nums, strings.TrimPrefix(row[5], "+"))
	}
	g := newRandomDigits(7, nums)
	n := 100_000
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	for range n {
		nums = append(nums, g.next())
	}
	known := 0
	for _, d := range nums {
		num, err := phonenumbers.Parse("+"+d, "")
		if err != nil {
			continue
		}
		want, err := phonenumbers.GetCarrierForNumber(num, "en")
		if err != nil {
			t.Fatal(err)
		}
		info, _ := x.Lookup("+"+d, nil)
		if info.Carrier != want {
			t.Errorf("carrier of +%s = %q; library says %q", d, info.Carrier, want)
		}
		if want != "" {
			known++
		}
	}
	t.Logf("%d numbers agree on carrier (%d with a carrier)", len(nums), known)
}
