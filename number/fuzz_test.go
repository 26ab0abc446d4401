package number

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"+442071234567", "011442071234567", "0207 123 4567", "911", "19005551234",
		"+8816123456789", "*123#", "00", "+0", "5491123456789", "+54 9 11 2345 6789", "++1", "+1 (268) 460-1234"} {
		f.Add(s, "US")
		f.Add(s, "GB")
	}
	f.Add("0312345678", "AR")
	f.Add("0015123456", "JP")
	x := newTestIntel(f)
	f.Fuzz(func(t *testing.T, dialed, country string) {
		info, err := x.Lookup(dialed, &DialPlan{Country: country})
		if err == nil && info.Dialed != dialed {
			t.Fatalf("Lookup(%q).Dialed = %q", dialed, info.Dialed)
		}
		var digits strings.Builder
		for i := 0; i < len(dialed); i++ {
			if dialed[i] >= '0' && dialed[i] <= '9' {
				digits.WriteByte(dialed[i])
			}
		}
		d := digits.String()
		if len(d) > maxInput {
			d = d[:maxInput]
		}
		want, p := libClassify(d)
		if p != nil {
			t.Skip("the library panics on this input")
		}
		if got := classifyOf(x, d); got != want {
			t.Fatalf("Classify(%s) = %v; library says %v", d, got, want)
		}
	})
}

func FuzzRiskCSV(f *testing.F) {
	f.Add(defaultRiskCSV)
	f.Add([]byte("prefix,category,risk,action,reason\n1900,premium,90,block,x\n1900,none,,,\n"))
	f.Add([]byte("prefix,category,risk,action\n+44,irsf,5,\n"))
	f.Add([]byte("prefix,category\n"))
	f.Add([]byte("\"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadRanges("fuzz.csv", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "number: fuzz.csv:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		merged := map[string]Range{}
		for _, r := range rows {
			if _, err := parsePrefix(r.Prefix); err != nil {
				t.Fatalf("accepted bad prefix %q", r.Prefix)
			}
			if r.Risk < 0 || r.Risk > 100 {
				t.Fatalf("accepted risk %d", r.Risk)
			}
			if r.deletes() {
				delete(merged, r.Prefix)
			} else {
				merged[r.Prefix] = r
			}
		}
		rt := newRiskTable(merged)
		for p, r := range merged {
			got := rt.lookup([]byte(p))
			if len(got) == 0 || got[len(got)-1] != r {
				t.Fatalf("lookup under %s = %+v; want it to end with %+v", p, got, r)
			}
			for i := 1; i < len(got); i++ {
				if len(got[i-1].Prefix) >= len(got[i].Prefix) {
					t.Fatalf("ranges not shortest first: %+v", got)
				}
			}
		}
	})
}
