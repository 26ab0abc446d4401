package number

// trie is a digit trie over E.164 prefixes; node 0 is the root. Lookups
// walk it without allocating.
type trie struct {
	next [][10]int32 // child per digit, 0 for none
	val  []int32     // value index per node, -1 for none
}

func newTrie() *trie {
	return &trie{next: make([][10]int32, 1), val: []int32{-1}}
}

// insert sets the value of prefix (digits only) and returns its node.
func (t *trie) insert(prefix string, v int32) int32 {
	n := int32(0)
	for i := 0; i < len(prefix); i++ {
		d := prefix[i] - '0'
		if t.next[n][d] == 0 {
			t.next = append(t.next, [10]int32{})
			t.val = append(t.val, -1)
			t.next[n][d] = int32(len(t.val) - 1)
		}
		n = t.next[n][d]
	}
	t.val[n] = v
	return n
}

// longest returns the value of the longest prefix of digits that has one,
// and that prefix's length; -1, 0 when none does.
func (t *trie) longest(digits []byte) (v int32, n int) {
	v = t.val[0]
	node := int32(0)
	for i, ch := range digits {
		d := ch - '0'
		if d > 9 {
			break
		}
		node = t.next[node][d]
		if node == 0 {
			break
		}
		if t.val[node] >= 0 {
			v, n = t.val[node], i+1
		}
	}
	return v, n
}
