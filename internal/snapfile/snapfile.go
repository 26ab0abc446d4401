// Package snapfile writes and reads the checksummed binary files that hold
// a node's state snapshots: a magic line, a body of varints and strings,
// and a trailer with the body's length and CRC-32C. A file is written
// beside its final name, fsynced and renamed over it, so a crash leaves
// either the old snapshot or the new one, never half of one.
package snapfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
func (e *Enc) Float64(f float64) { e.Uint64(math.Float64bits(f)) }

// Uint64 appends 8 bytes (a hash: varints would be longer).
func (e *Enc) Uint64(v uint64) { e.write(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }

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

// Read opens the snapshot at path for a streamed decode: it checks the
// magic line (path must start with one of magics; Dec.Magic says which)
// and the body's length against the trailer, and returns a decoder that
// reads the body through a small buffer, never the whole file at once.
// The body's checksum is checked as it is read: Done reports a mismatch
// once the whole body was read, so a caller must treat everything it
// decoded as unusable until Done returns nil. Close the decoder when
// done. A missing file gives an error satisfying
// errors.Is(err, os.ErrNotExist); a damaged one ErrCorrupt.
func Read(path string, magics ...string) (*Dec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapfile: %w", err)
	}
	d, err := open(f, magics)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func open(f *os.File, magics []string) (*Dec, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("snapfile: %w", err)
	}
	size := fi.Size()
	longest := 0
	for _, m := range magics {
		longest = max(longest, len(m))
	}
	head := make([]byte, min(int64(longest), size))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), head); err != nil {
		return nil, fmt.Errorf("snapfile: %w", err)
	}
	magic := ""
	for _, m := range magics {
		if len(head) >= len(m) && string(head[:len(m)]) == m && size >= int64(len(m)+trailerLen) {
			magic = m
			break
		}
	}
	if magic == "" {
		return nil, fmt.Errorf("%w: not a %q snapshot", ErrCorrupt, magics)
	}
	var tr [trailerLen]byte
	if _, err := f.ReadAt(tr[:], size-trailerLen); err != nil {
		return nil, fmt.Errorf("snapfile: %w", err)
	}
	body := size - int64(len(magic)) - trailerLen
	if n := binary.LittleEndian.Uint64(tr[:8]); n != uint64(body) {
		return nil, fmt.Errorf("%w: body is %d bytes, trailer says %d (truncated?)", ErrCorrupt, body, n)
	}
	cr := &crcReader{r: io.NewSectionReader(f, int64(len(magic)), body)}
	return &Dec{r: bufio.NewReaderSize(cr, readBuf), crc: cr, want: binary.LittleEndian.Uint32(tr[8:]), left: body, magic: magic, f: f}, nil
}

// readBuf is the streamed decoder's buffer.
const readBuf = 256 << 10

// crcReader sums what passes through it.
type crcReader struct {
	r   io.Reader
	sum uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}

// Parse checks a whole snapshot file held in memory (its checksum first)
// and returns a decoder over its body (see Read).
func Parse(b []byte, magics ...string) (*Dec, error) {
	magic := ""
	for _, m := range magics {
		if len(b) >= len(m)+trailerLen && string(b[:len(m)]) == m {
			magic = m
			break
		}
	}
	if magic == "" {
		return nil, fmt.Errorf("%w: not a %q snapshot", ErrCorrupt, magics)
	}
	body := b[len(magic) : len(b)-trailerLen]
	tr := b[len(b)-trailerLen:]
	if n := binary.LittleEndian.Uint64(tr[:8]); n != uint64(len(body)) {
		return nil, fmt.Errorf("%w: body is %d bytes, trailer says %d (truncated?)", ErrCorrupt, len(body), n)
	}
	if c := crc32.Checksum(body, castagnoli); c != binary.LittleEndian.Uint32(tr[8:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	d := NewDec(body)
	d.magic = magic
	return d, nil
}

// Dec reads values from a snapshot body. The first error sticks: after
// it every read returns zero, and Err reports it.
type Dec struct {
	r     *bufio.Reader
	left  int64      // body bytes not yet read
	crc   *crcReader // nil: the checksum was checked up front (Parse, NewDec)
	want  uint32
	magic string
	f     *os.File
	err   error

	interned map[string]string
}

// NewDec decodes body without a file around it (tests, fuzzing).
func NewDec(body []byte) *Dec {
	return &Dec{r: bufio.NewReaderSize(bytes.NewReader(body), readBuf), left: int64(len(body))}
}

// Magic is the magic line the file started with (one of Read's magics).
func (d *Dec) Magic() string { return d.magic }

// Close releases the file (Read); it does not check anything.
func (d *Dec) Close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

func (d *Dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.left = 0
}

// Err is the first decoding error.
func (d *Dec) Err() error { return d.err }

// Fail records a decoding error found by the caller (a value out of range).
func (d *Dec) Fail(what string) { d.fail(what) }

// Len is how many body bytes are left.
func (d *Dec) Len() int { return int(min(d.left, math.MaxInt32)) }

// peek returns up to n of the next body bytes (fewer near the end).
func (d *Dec) peek(n int) []byte {
	if d.left <= 0 || d.err != nil {
		return nil
	}
	n = int(min(int64(n), d.left))
	b, err := d.r.Peek(n)
	if err != nil && len(b) < n {
		d.err = fmt.Errorf("%w: reading: %w", ErrCorrupt, err)
		d.left = 0
		return nil
	}
	return b
}

func (d *Dec) skip(n int) {
	d.r.Discard(n)
	d.left -= int64(n)
}

// Uvarint reads an unsigned varint.
func (d *Dec) Uvarint() uint64 {
	v, n := binary.Uvarint(d.peek(binary.MaxVarintLen64))
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.skip(n)
	return v
}

// Varint reads a signed varint.
func (d *Dec) Varint() int64 {
	v, n := binary.Varint(d.peek(binary.MaxVarintLen64))
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.skip(n)
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
	if v > uint64(d.left/int64(minBytes)) {
		d.fail("count")
		return 0
	}
	return int(v)
}

// bytes reads a length-prefixed string's bytes, valid until the next
// read.
func (d *Dec) bytes() []byte {
	n := d.Uvarint()
	if n > uint64(d.left) {
		d.fail("string")
		return nil
	}
	if n == 0 {
		return nil
	}
	if n > readBuf {
		b := make([]byte, n)
		if _, err := io.ReadFull(d.r, b); err != nil {
			d.fail("string")
			return nil
		}
		d.left -= int64(n)
		return b
	}
	b := d.peek(int(n))
	if len(b) < int(n) {
		d.fail("string")
		return nil
	}
	d.skip(int(n))
	return b
}

// String reads a length-prefixed string.
func (d *Dec) String() string { return string(d.bytes()) }

// Intern reads a length-prefixed string and returns the one copy of it
// this decoder keeps: for the values a snapshot repeats many times
// (tenants, extensions, call ids held by several counters), so the state
// it loads shares one string per value.
func (d *Dec) Intern() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	if d.interned == nil {
		d.interned = make(map[string]string, 1024)
	}
	s := string(b)
	d.interned[s] = s
	return s
}

// ForgetInterned drops the decoder's table of interned strings (the
// strings stay with whoever holds them).
func (d *Dec) ForgetInterned() { d.interned = nil }

// Float64 reads a float64.
func (d *Dec) Float64() float64 { return math.Float64frombits(d.Uint64()) }

// Uint64 reads 8 bytes.
func (d *Dec) Uint64() uint64 {
	b := d.peek(8)
	if len(b) < 8 {
		d.fail("8-byte value")
		return 0
	}
	v := binary.LittleEndian.Uint64(b)
	d.skip(8)
	return v
}

// Done reports an error unless the whole body was read and, for a file
// streamed by Read, its checksum matched.
func (d *Dec) Done() error {
	if d.err == nil && d.left > 0 {
		d.err = fmt.Errorf("%w: %d bytes left over", ErrCorrupt, d.left)
	}
	if d.err == nil && d.crc != nil && d.crc.sum != d.want {
		d.err = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
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
