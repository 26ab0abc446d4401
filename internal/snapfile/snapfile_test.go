package snapfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

const magic = "snapfile test v2\n"

func write(t testing.TB, path string) {
	t.Helper()
	err := Write(path, magic, func(e *Enc) error {
		e.Uvarint(3)
		for _, s := range []string{"acme", "1001", "acme"} {
			e.String(s)
		}
		e.Varint(-7)
		e.Float64(2.5)
		e.String(strings.Repeat("x", readBuf+10)) // longer than the read buffer
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func read(d *Dec) ([]string, error) {
	var out []string
	for range d.Count(1) {
		out = append(out, d.Intern())
	}
	if d.Varint() != -7 || d.Float64() != 2.5 || len(d.String()) != readBuf+10 {
		d.Fail("values")
	}
	return out, d.Done()
}

// TestStreamedRead reads a file back through the streamed decoder, and
// finds every kind of damage: a flipped byte in the body only once the
// body was read (Done), a cut file and a foreign magic line at once.
func TestStreamedRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.snap")
	write(t, path)
	d, err := Read(path, "other\n", magic)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(d)
	d.Close()
	if err != nil || len(got) != 3 || got[0] != "acme" || got[2] != "acme" || d.Magic() != magic {
		t.Fatalf("read back %q, %v (magic %q)", got, err, d.Magic())
	}
	// Interned: the two "acme" share their bytes.
	if !sameString(got[0], got[2]) {
		t.Error("Intern returned two copies of one value")
	}

	b, _ := os.ReadFile(path)
	flipped := append([]byte(nil), b...)
	flipped[len(magic)+readBuf/2] ^= 1 // inside the long string: decodes, checksum wrong
	os.WriteFile(path, flipped, 0o600)
	d, err = Read(path, magic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := read(d); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped byte: Done = %v, want ErrCorrupt", err)
	}
	d.Close()

	os.WriteFile(path, b[:len(b)-1], 0o600)
	if _, err := Read(path, magic); !errors.Is(err, ErrCorrupt) {
		t.Errorf("cut file: %v, want ErrCorrupt", err)
	}
	os.WriteFile(path, append([]byte("other\n"), b[len(magic):]...), 0o600)
	if _, err := Read(path, magic); !errors.Is(err, ErrCorrupt) {
		t.Errorf("foreign magic: %v, want ErrCorrupt", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none"), magic); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func sameString(a, b string) bool { return a == b && unsafeData(a) == unsafeData(b) }

// FuzzRead streams arbitrary files through the decoder: it never panics,
// and a file it accepts whole has the right checksum.
func FuzzRead(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.snap")
	write(f, path)
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add([]byte(magic))
	f.Add(Reseal(append([]byte(magic), 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), len(magic)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte) {
		p := filepath.Join(dir, "f.snap")
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := Read(p, magic)
		if err != nil {
			return
		}
		defer d.Close()
		if _, err := read(d); err == nil {
			if _, perr := Parse(file, magic); perr != nil {
				t.Fatalf("streamed read accepted a file Parse refuses: %v", perr)
			}
		}
	})
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }
