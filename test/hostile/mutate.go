package hostile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// MaxDatagram bounds a mutant so it still fits one UDP datagram.
const MaxDatagram = 65000

// Mutator derives hostile variants of well-formed messages,
// deterministically from its seed.
type Mutator struct {
	r     *rand.Rand
	bases [][]byte
}

// NewMutator returns a mutator over bases seeded with seed.
func NewMutator(seed uint64, bases [][]byte) *Mutator {
	return &Mutator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), bases: bases}
}

// Ops names the mutation operators, in the order Next picks them.
var Ops = []string{"bitflip", "byteset", "truncate", "cut-range", "dup-header", "giant-value", "crlf-lf", "crlf-cr",
	"crlf-extra", "crlf-drop-blank", "fold", "nul", "swap-lines", "content-length", "splice", "repeat", "drop-header"}

// Next returns a new mutant: 1 to 3 operators applied to a random base.
// op names the first operator.
func (m *Mutator) Next() (op string, b []byte) {
	b = append([]byte(nil), m.bases[m.r.IntN(len(m.bases))]...)
	n := 1 + m.r.IntN(3)
	for i := 0; i < n; i++ {
		k := m.r.IntN(len(Ops))
		if i == 0 {
			op = Ops[k]
		}
		b = m.apply(Ops[k], b)
	}
	if len(b) > MaxDatagram {
		b = b[:MaxDatagram]
	}
	return op, b
}

var interesting = []byte{0, 0xff, 0x7f, 0x80, ':', ';', '\r', '\n', '<', '>', '"', '%', ' ', '\t', ',', '=', '@', '\\', '/'}

func (m *Mutator) apply(op string, b []byte) []byte {
	r := m.r
	if len(b) == 0 {
		return append(b, "\r\n"...)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	header := func() int { // a header line's index (not the request line)
		end := len(lines)
		for i, l := range lines {
			if i > 0 && len(bytes.TrimSpace(l)) == 0 {
				end = i
				break
			}
		}
		if end <= 1 {
			return 0
		}
		return 1 + r.IntN(end-1)
	}
	switch op {
	case "bitflip":
		for k := 1 + r.IntN(8); k > 0; k-- {
			b[r.IntN(len(b))] ^= 1 << r.IntN(8)
		}
	case "byteset":
		for k := 1 + r.IntN(4); k > 0; k-- {
			b[r.IntN(len(b))] = interesting[r.IntN(len(interesting))]
		}
	case "truncate":
		b = b[:r.IntN(len(b))]
	case "cut-range":
		i := r.IntN(len(b))
		j := i + r.IntN(min(64, len(b)-i)+1)
		b = append(b[:i:i], b[j:]...)
	case "dup-header":
		i := header()
		reps := 2 + r.IntN(60)
		var out []byte
		for k, l := range lines {
			out = append(out, l...)
			if k == i {
				for j := 1; j < reps; j++ {
					out = append(out, l...)
				}
			}
		}
		b = out
	case "giant-value":
		i := header()
		l := bytes.TrimRight(lines[i], "\r\n")
		size := []int{256, 1024, 4096, 9000, 17000, 40000}[r.IntN(6)]
		fill := interesting[r.IntN(len(interesting))]
		if r.IntN(2) == 0 {
			fill = 'a'
		}
		lines[i] = append(append(append([]byte(nil), l...), bytes.Repeat([]byte{fill}, size)...), "\r\n"...)
		b = bytes.Join(lines, nil)
	case "crlf-lf":
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	case "crlf-cr":
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\r"))
	case "crlf-extra":
		i := header()
		lines[i] = append([]byte("\r\n"), lines[i]...)
		b = bytes.Join(lines, nil)
	case "crlf-drop-blank":
		b = bytes.Replace(b, []byte("\r\n\r\n"), []byte("\r\n"), 1)
	case "fold":
		i := header()
		lines[i] = bytes.Replace(lines[i], []byte(": "), []byte(":\r\n\t \r\n "), 1)
		b = bytes.Join(lines, nil)
	case "nul":
		i := r.IntN(len(b) + 1)
		b = append(b[:i:i], append(bytes.Repeat([]byte{0}, 1+r.IntN(4)), b[i:]...)...)
	case "swap-lines":
		if len(lines) > 2 {
			i, j := r.IntN(len(lines)), r.IntN(len(lines))
			lines[i], lines[j] = lines[j], lines[i]
			b = bytes.Join(lines, nil)
		}
	case "content-length":
		vals := []string{"-1", "0", "1", "99999999", "4294967297", "abc", "", strconv.Itoa(r.IntN(3000)), "1 1", "+2"}
		v := vals[r.IntN(len(vals))]
		found := false
		for i, l := range lines {
			if bytes.HasPrefix(bytes.ToLower(l), []byte("content-length:")) || bytes.HasPrefix(bytes.ToLower(l), []byte("l:")) {
				lines[i] = []byte("Content-Length: " + v + "\r\n")
				found = true
			}
		}
		if !found {
			i := header()
			lines[i] = append([]byte("Content-Length: "+v+"\r\n"), lines[i]...)
		}
		b = bytes.Join(lines, nil)
	case "splice":
		o := m.bases[r.IntN(len(m.bases))]
		i := r.IntN(len(b))
		b = append(b[:i:i], o[r.IntN(len(o)+1):]...)
	case "repeat":
		b = append(b, b...)
	case "drop-header":
		i := header()
		lines = append(lines[:i], lines[i+1:]...)
		b = bytes.Join(lines, nil)
	}
	return b
}

// Torture returns the RFC 4475 torture messages kept in the repository's
// testdata/rfc4475, by file name, sorted. dir is that folder's path
// relative to the calling test.
func Torture(dir string) (names []string, msgs [][]byte, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.dat"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, filepath.Base(p))
		msgs = append(msgs, b)
	}
	return names, msgs, nil
}
