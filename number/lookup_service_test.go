package number

import (
	"errors"
	"testing"
)

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
		// A number inside any other shape of code is screened too: the
		// '#' that ends dialing, call forwarding to it, GSM parameters.
		{"US", "011252612345678#", "+252612345678", "#", Subscriber},
		{"US", "011252612345678*", "+252612345678", "*", Subscriber},
		{"US", "**21*011252612345678#", "+252612345678", "**21*#", Subscriber},
		{"US", "*21*011252612345678#", "+252612345678", "*21*#", Subscriber},
		{"US", "*72011252612345678#", "+252612345678", "*72#", Subscriber},
		{"US", "#31#011252612345678#", "+252612345678", "#31##", Subscriber},
		{"US", "*1*2*011252612345678", "+252612345678", "*1*2*", Subscriber},
		{"GB", "**61*00252612345678*11#", "+252612345678", "**61**11#", Subscriber},
		{"US", "1 900 555 1234#", "+19005551234", "#", Subscriber},
		{"GB", "##002#", "##002#", "", ShortCode},
		{"GB", "*#21#", "*#21#", "", ShortCode},
		{"US", "911#", "911#", "", ShortCode},
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

// TestServiceCodeTwoNumbers: a service string carrying two numbers is
// refused, since either could be the one the switch dials.
func TestServiceCodeTwoNumbers(t *testing.T) {
	x := newTestIntel(t)
	for _, d := range []string{"**21*12125550100*011252612345678#", "*12125550100#011252612345678"} {
		if info, err := x.Lookup(d, &DialPlan{Country: "US"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Lookup(%q) = %s %v, want ErrInvalid", d, info.E164, err)
		}
	}
}
