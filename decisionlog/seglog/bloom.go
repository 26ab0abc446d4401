package seglog

// A block's Bloom filter holds the keys queries look records up by (call
// id, extension, numbers), so a query reads and decodes only the blocks
// that may hold a match. About 8 bits and 5 probes per key: roughly 2 %
// of the blocks without a match are read anyway.

const (
	bloomBitsPerKey = 8
	bloomProbes     = 5
)

// Key classes, so that an extension never matches a number.
const (
	keyCall      = 'c'
	keyExtension = 'x'
	keyNumber    = 'n'
)

// hashKey is 64-bit FNV-1a over the class byte and s.
func hashKey(class byte, s string) uint64 {
	h := uint64(14695981039346656037)
	h ^= uint64(class)
	h *= 1099511628211
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// bloomLen is the filter size in bytes for n keys.
func bloomLen(n int) int {
	if n == 0 {
		return 0
	}
	return max(8, (n*bloomBitsPerKey+7)/8)
}

// bloomAdd sets h's bits in f.
func bloomAdd(f []byte, h uint64) {
	m := uint64(len(f)) * 8
	a, b := h, h>>32|h<<32
	for range bloomProbes {
		bit := a % m
		f[bit/8] |= 1 << (bit % 8)
		a += b
	}
}

// bloomHas reports whether h may be in f; an empty filter may hold anything.
func bloomHas(f []byte, h uint64) bool {
	if len(f) == 0 {
		return true
	}
	m := uint64(len(f)) * 8
	a, b := h, h>>32|h<<32
	for range bloomProbes {
		bit := a % m
		if f[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
		a += b
	}
	return true
}
