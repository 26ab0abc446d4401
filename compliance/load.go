package compliance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Formats of list files.
const (
	// FormatE164 is one E.164 number per line ("+12125550100"; the "+" is
	// optional). Blank lines and lines starting with "#" are skipped.
	FormatE164 = "e164"
	// FormatRegistry is the national registry's CSV layout: area code and
	// number in two columns ("201,2000000"). The country calling code is
	// put in front. A first line that is not digits is taken as a header.
	FormatRegistry = "registry"
)

// maxLine bounds one line of a list file.
const maxLine = 256

// LineError is a bad line in a list file.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// LoadFile reads a list file in the given format; callingCode is used by
// FormatRegistry (e.g. 1 for the US registry).
func LoadFile(path, format string, callingCode int) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("compliance: %w", err)
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil {
		size = int(st.Size() / 12) // a rough count of lines, to size the arrays
	}
	return Load(f, path, format, callingCode, size)
}

// Load reads a list in the given format from r; name is used in errors
// and hint is the expected number of entries (0 if unknown).
func Load(r io.Reader, name, format string, callingCode, hint int) (*Set, error) {
	var cc string
	switch format {
	case FormatE164, "":
	case FormatRegistry:
		if callingCode <= 0 || callingCode > 999 {
			return nil, fmt.Errorf("compliance: %s: registry format needs a country calling code", name)
		}
		cc = strconv.Itoa(callingCode)
	default:
		return nil, fmt.Errorf("compliance: %s: unknown list format %q (want e164 or registry)", name, format)
	}
	sc := bufio.NewScanner(bufio.NewReaderSize(r, 1<<20))
	sc.Buffer(make([]byte, maxLine), maxLine)
	keys := make([]uint64, 0, min(hint, 1<<28))
	sorted := true
	var last uint64
	var buf [32]byte
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var k uint64
		var ok bool
		if cc == "" {
			k, ok = keyBytes(b)
			if !ok {
				return nil, &LineError{name, line, fmt.Sprintf("want an E.164 number, got %q", clip(b))}
			}
		} else {
			area, num, found := bytes.Cut(b, []byte{','})
			area, num = bytes.TrimSpace(area), bytes.TrimSpace(num)
			if line == 1 && (len(area) == 0 || area[0] < '0' || area[0] > '9') {
				continue // header
			}
			if !found || !allDigits(area) || !allDigits(num) || len(area) == 0 || len(num) < 4 || bytes.IndexByte(num, ',') >= 0 {
				return nil, &LineError{name, line, fmt.Sprintf("want area code,number, got %q", clip(b))}
			}
			n := copy(buf[:], cc)
			if n+len(area)+len(num) > 15 {
				return nil, &LineError{name, line, fmt.Sprintf("number longer than 15 digits: %q", clip(b))}
			}
			n += copy(buf[n:], area)
			n += copy(buf[n:], num)
			k, ok = keyBytes(buf[:n])
			if !ok {
				return nil, &LineError{name, line, fmt.Sprintf("not a number: %q", clip(b))}
			}
		}
		if k < last {
			sorted = false
		}
		last = k
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &LineError{name, line + 1, fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		return nil, fmt.Errorf("compliance: %s: %w", name, err)
	}
	if sorted {
		b := NewBuilder(len(keys))
		for _, k := range keys {
			if err := b.Add(k); err != nil {
				return nil, err
			}
		}
		return b.Set()
	}
	return NewSet(keys)
}

func keyBytes(b []byte) (k uint64, ok bool) {
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	if len(b) < 2 || len(b) > 15 || b[0] == '0' {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + uint64(c-'0')
	}
	return k, true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
