package store

import "testing"

func TestParseKey(t *testing.T) {
	for _, s := range []string{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="} {
		if k, err := ParseKey(s); err != nil || k[31] != 31 {
			t.Errorf("ParseKey(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", "000102"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}
