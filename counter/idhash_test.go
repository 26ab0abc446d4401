package counter

import "testing"

// TestIDHashVectors checks the id hash against SipHash-2-4's published
// test vectors (key 00 01 … 0f, messages 00 01 … of each length).
func TestIDHashVectors(t *testing.T) {
	k := idKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	want := map[int]uint64{0: 0x726fdb47dd0e0e31, 1: 0x74f839c593dc67fd, 2: 0x0d6c8009d9a94f5a, 15: 0xa129ca6149be45e5}
	for n, w := range want {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i)
		}
		if got := k.hash(string(msg)); got != w {
			t.Errorf("hash of %d bytes = %#x, want %#x", n, got, w)
		}
	}
}

func BenchmarkIDHash(b *testing.B) {
	k := newIDKey()
	for range b.N {
		k.hash("a84b4c76e66710@pc33.atlanta.example.com")
	}
}
