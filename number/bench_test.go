package number

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

var benchNumbers = []struct{ name, digits string }{
	{"US", "12015550123"},
	{"UK", "447400123456"},
}

var sinkType Type

func BenchmarkClassify(b *testing.B) {
	x := newTestIntel(b)
	for _, n := range benchNumbers {
		b.Run(n.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, t, _ := x.Classify(n.digits)
				sinkType = t
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	x := newTestIntel(b)
	for _, n := range benchNumbers {
		b.Run(n.name, func(b *testing.B) {
			b.ReportAllocs()
			dialed := "+" + n.digits
			for b.Loop() {
				info, err := x.Lookup(dialed, nil)
				if err != nil {
					b.Fatal(err)
				}
				sinkType = info.Type
			}
		})
	}
}

// BenchmarkLibrary is the reference: parse, type and region with the library.
func BenchmarkLibrary(b *testing.B) {
	for _, n := range benchNumbers {
		b.Run(n.name, func(b *testing.B) {
			b.ReportAllocs()
			dialed := "+" + n.digits
			for b.Loop() {
				num, err := phonenumbers.Parse(dialed, "")
				if err != nil {
					b.Fatal(err)
				}
				sinkType = Type(phonenumbers.GetNumberType(num))
				_ = phonenumbers.GetRegionCodeForNumber(num)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
