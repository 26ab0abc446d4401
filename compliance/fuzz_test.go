package compliance

import (
	"bytes"
	"testing"
)

// FuzzLoad feeds arbitrary list files to both parsers: they return a set
// or an error, never panic, and every accepted number is found again.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("+12125550100\n# c\n12125550101\n"), false)
	f.Add([]byte("area,number\n212,5550100\n646,5550101\n"), true)
	f.Add([]byte("212,\n,\n\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, registry bool) {
		format := FormatE164
		if registry {
			format = FormatRegistry
		}
		s, err := Load(bytes.NewReader(data), "fuzz", format, 1, 0)
		if err != nil {
			return
		}
		if format == FormatE164 {
			for _, ln := range bytes.Split(data, []byte("\n")) {
				ln = bytes.TrimSpace(ln)
				if len(ln) == 0 || ln[0] == '#' {
					continue
				}
				if !s.ContainsE164(string(ln)) {
					t.Fatalf("accepted %q but cannot find it", ln)
				}
			}
		}
	})
}
