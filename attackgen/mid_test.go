package attackgen

import (
	"math/rand/v2"
	"testing"

	"github.com/tollgate-voip/tollgate/number"
)

func TestMidFraudRangesExist(t *testing.T) {
	n := &numbers{x: testIntel(t), rng: rand.New(rand.NewPCG(1, 2)), ranges: map[string][]*numberRange{}}
	for _, m := range midFraud {
		if rg := n.rangeOf(m.region, m.typ, 3); rg == nil {
			t.Errorf("%s %s: libphonenumber has no such numbers", m.region, m.typ)
		} else if d := n.in(rg); d == "" {
			t.Errorf("%s %s: no number drawn", m.region, m.typ)
		}
	}
}

// Every destination the generator may draw has real numbers.
func TestWorldRangesExist(t *testing.T) {
	n := &numbers{x: testIntel(t), rng: rand.New(rand.NewPCG(3, 4)), ranges: map[string][]*numberRange{}}
	for _, reg := range sortedKeys(expensive) {
		if n.rangeOf(reg, number.Mobile, 3) == nil && n.rangeOf(reg, fixedType(reg), 3) == nil {
			t.Errorf("expensive destination %s: no numbers", reg)
		}
	}
	for _, h := range homes {
		for _, typ := range []number.Type{fixedType(h.Region), mobileType(h.Region)} {
			if n.rangeOf(h.Region, typ, 4) == nil {
				t.Errorf("home %s: no %s numbers", h.Region, typ)
			}
		}
	}
	for _, reg := range sortedKeys(partners) {
		if n.rangeOf(reg, fixedType(reg), 4) == nil {
			t.Errorf("partner %s: no fixed numbers", reg)
		}
	}
}
