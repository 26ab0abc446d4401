// Package snapfile writes and reads the checksummed binary files that hold
// a node's state snapshots: a magic line, a body of varints and strings,
// and a trailer with the body's length and CRC-32C. A file is written
// beside its final name, fsynced and renamed over it, so a crash leaves
// either the old snapshot or the new one, never half of one.
package snapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// trailerLen is the body length (8 bytes) and its CRC-32C (4 bytes).
const trailerLen = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned (wrapped) for a file whose checksum, length or
// contents do not hold together.
var ErrCorrupt = errors.New("snapfile: corrupt")

// Enc appends values to a snapshot body. The first write error sticks.
type Enc struct {
	w   *bufio.Writer
	crc uint32
	n   uint64
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *Enc) write(b []byte) {
	if e.err != nil {
		return
	}
	e.crc = crc32.Update(e.crc, castagnoli, b)
	e.n += uint64(len(b))
	_, e.err = e.w.Write(b)
}

// Uvarint appends an unsigned varint.
func (e *Enc) Uvarint(v uint64) { e.write(binary.AppendUvarint(e.buf[:0], v)) }

// Varint appends a signed varint.
func (e *Enc) Varint(v int64) { e.write(binary.AppendVarint(e.buf[:0], v)) }

// String appends a length-prefixed string.
func (e *Enc) String(s string) {
	e.Uvarint(uint64(len(s)))
	if e.err == nil {
		e.crc = crc32.Update(e.crc, castagnoli, []byte(s))
		e.n += uint64(len(s))
		_, e.err = e.w.WriteString(s)
	}
}

// Float64 appends a float64's IEEE bits.
func (e *Enc) Float64(f float64) {
	e.write(binary.LittleEndian.AppendUint64(e.buf[:0], math.Float64bits(f)))
}

// Write writes a snapshot to path: the magic line, the body written by
// body, and the trailer, in a temporary file that is fsynced and renamed
// over path (then the directory is fsynced).
func Write(path, magic string, body func(*Enc) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := bw.WriteString(magic); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	e := &Enc{w: bw}
	if err := body(e); err != nil {
		return err
	}
	if e.err != nil {
		return fmt.Errorf("snapfile: %w", e.err)
	}
	var tr [trailerLen]byte
	binary.LittleEndian.PutUint64(tr[:8], e.n)
	binary.LittleEndian.PutUint32(tr[8:], e.crc)
	if _, err := bw.Write(tr[:]); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("snapfile: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Read reads the snapshot at path, checks its magic line and checksum,
// and returns a decoder over its body. A missing file gives an error
// satisfying errors.Is(err, os.ErrNotExist); a damaged one ErrCorrupt.
func Read(path, magic string) (*Dec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("snapfile: %w", err)
	}
	return Parse(b, magic)
}

// Parse checks a whole snapshot file held in memory (see Read).
func Parse(b []byte, magic string) (*Dec, error) {
	if len(b) < len(magic)+trailerLen || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a %q snapshot", ErrCorrupt, magic)
	}
	body := b[len(magic) : len(b)-trailerLen]
	tr := b[len(b)-trailerLen:]
	if n := binary.LittleEndian.Uint64(tr[:8]); n != uint64(len(body)) {
		return nil, fmt.Errorf("%w: body is %d bytes, trailer says %d (truncated?)", ErrCorrupt, len(body), n)
	}
	if c := crc32.Checksum(body, castagnoli); c != binary.LittleEndian.Uint32(tr[8:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return &Dec{b: body}, nil
}

// Dec reads values from a snapshot body. The first error sticks: after
// it every read returns zero, and Err reports it.
type Dec struct {
	b   []byte
	err error
}

// NewDec decodes body without a file around it (tests, fuzzing).
func NewDec(body []byte) *Dec { return &Dec{b: body} }

func (d *Dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

// Err is the first decoding error.
func (d *Dec) Err() error { return d.err }

// Fail records a decoding error found by the caller (a value out of range).
func (d *Dec) Fail(what string) { d.fail(what) }

// Len is how many body bytes are left.
func (d *Dec) Len() int { return len(d.b) }

// Uvarint reads an unsigned varint.
func (d *Dec) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Dec) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Count reads a length that must not exceed what the rest of the body
// could hold (each element takes at least min bytes), so a corrupt count
// cannot make a reader allocate without bound.
func (d *Dec) Count(minBytes int) int {
	v := d.Uvarint()
	if minBytes < 1 {
		minBytes = 1
	}
	if v > uint64(len(d.b)/minBytes) {
		d.fail("count")
		return 0
	}
	return int(v)
}

// String reads a length-prefixed string.
func (d *Dec) String() string {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Float64 reads a float64.
func (d *Dec) Float64() float64 {
	if len(d.b) < 8 {
		d.fail("float")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

// Done reports an error unless the whole body was read.
func (d *Dec) Done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d bytes left over", ErrCorrupt, len(d.b))
	}
	return d.err
}

// Reseal returns a copy of file (magic line, body, trailer) with its
// trailer recomputed for the body as it is: fuzz targets use it to reach
// the decoders behind the checksum. magicLen is the magic line's length.
func Reseal(file []byte, magicLen int) []byte {
	if len(file) < magicLen+trailerLen {
		return file
	}
	out := append([]byte(nil), file...)
	body := out[magicLen : len(out)-trailerLen]
	binary.LittleEndian.PutUint64(out[len(out)-trailerLen:], uint64(len(body)))
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.Checksum(body, castagnoli))
	return out
}
