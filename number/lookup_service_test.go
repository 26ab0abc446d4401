package number

import "testing"

// TestServiceCodeBeforeNumber: a service code in front of a number must
// not hide the number from screening.
func TestServiceCodeBeforeNumber(t *testing.T) {
	x := newTestIntel(t)
	cases := []struct {
		country, dialed, e164, code string
		kind                        Kind
	}{
		{"US", "*67 212 555 1234", "+12125551234", "*67", Subscriber},
		{"US", "*67011252612345678", "+252612345678", "*67", Subscriber},
		{"US", "*82 1 900 555 1234", "+19005551234", "*82", Subscriber},
		{"GB", "#31#07400123456", "+447400123456", "#31#", Subscriber},
		{"GB", "*31#00252612345678", "+252612345678", "*31#", Subscriber},
		{"US", "*67", "*67", "", ShortCode},
		{"US", "*72", "*72", "", ShortCode},
		{"GB", "*#06#", "*#06#", "", ShortCode},
	}
	for _, tc := range cases {
		info, err := x.Lookup(tc.dialed, &DialPlan{Country: tc.country})
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.dialed, err)
			continue
		}
		if info.E164 != tc.e164 || info.ServiceCode != tc.code || info.Kind != tc.kind {
			t.Errorf("Lookup(%q) = %s code %q kind %d, want %s code %q kind %d", tc.dialed, info.E164, info.ServiceCode, info.Kind, tc.e164, tc.code, tc.kind)
		}
	}
}
