package seglog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// On disk, a stream is a directory of segment files NAME-SEQ.seg (SEQ 16
// hex digits, rising). A segment starts with an 8-byte header (magic,
// version, stream kind) followed by frames, one per append:
//
//	u32 body length | u32 CRC-32C of the body | body
//	body: u32 records | i64 min time | i64 max time (Unix ns) |
//	      u32 filter length | Bloom filter | payload (codec.go)
//
// A frame is written with one write and made durable (fdatasync) before
// the append returns. A torn frame at the end of the last segment is cut
// off when the stream is next opened for writing. A sealed segment has a
// NAME-SEQ.sum beside it with its time range, so queries and retention
// skip it without reading it.

var segMagic = [7]byte{'T', 'G', 'S', 'E', 'G', 0, 1}

const (
	segHeaderLen   = 8
	frameHeaderLen = 8
	bodyPrefixLen  = 24
	maxBody        = 256 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// blockInfo locates one frame.
type blockInfo struct {
	off        int64 // of the frame header
	body       uint32
	count      uint32
	minT, maxT int64
}

// segment is one file of a stream.
type segment struct {
	seq        uint64
	path       string
	minT, maxT int64
	count      int64
	size       int64
	created    time.Time
	alloc      int64 // the active segment's file length: zeros beyond size
	sealed     bool
	blocks     []blockInfo // always set for the active segment; loaded on demand once sealed
}

// stream is one kind of record (decisions or call events) in its segments.
type stream struct {
	name     byte // file prefix
	kind     byte // in the segment header
	path     string
	readOnly bool
	opts     *Options

	mu     sync.Mutex
	segs   []*segment // oldest first; the last is active when writable
	f      *os.File   // the active segment, when writable
	cached []*segment // sealed segments whose blocks are loaded, oldest load first

	// dirty: appended since the last fdatasync (Options.DeferSync).
	dirty bool

	// Owned by the appender (calls are serialised by wmu).
	wmu   sync.Mutex
	enc   encoder
	frame []byte
}

func (s *stream) segName(seq uint64) string {
	return filepath.Join(s.path, fmt.Sprintf("%c-%016x.seg", s.name, seq))
}

func sumPath(seg string) string { return strings.TrimSuffix(seg, ".seg") + ".sum" }

// open lists the stream's segments. A writable stream recovers unsealed
// segments (cut a torn tail, seal) and starts a new active one.
func (s *stream) open() error {
	if !s.readOnly {
		if err := os.MkdirAll(s.path, 0o750); err != nil {
			return fmt.Errorf("seglog: %w", err)
		}
	}
	ents, err := os.ReadDir(s.path)
	if err != nil {
		if s.readOnly && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("seglog: %w", err)
	}
	prefix := string(s.name) + "-"
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ".seg") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, prefix), ".seg"), 16, 64)
		if err != nil {
			continue
		}
		seg := &segment{seq: seq, path: filepath.Join(s.path, n)}
		if err := s.loadSummary(seg); err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpU64(a.seq, b.seq) })
	if s.readOnly {
		return nil
	}
	next := uint64(1)
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1].seq + 1
	}
	return s.startSegment(next)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loadSummary reads seg's .sum, or scans the segment when it has none
// (the last one of a killed writer), sealing it when writable.
func (s *stream) loadSummary(seg *segment) error {
	b, err := os.ReadFile(sumPath(seg.path))
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 4 {
			var v [4]int64
			ok := true
			for i := range f {
				if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
					ok = false
				}
			}
			if ok {
				seg.minT, seg.maxT, seg.count, seg.size, seg.sealed = v[0], v[1], v[2], v[3], true
				return nil
			}
		}
	}
	// No (valid) summary: read the frames, checking each one.
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	defer f.Close()
	blocks, end, err := scanFrames(f, s.kind, true)
	if err != nil {
		return err
	}
	seg.blocks, seg.size = blocks, end
	seg.minT, seg.maxT, seg.count = math.MaxInt64, math.MinInt64, 0
	for _, b := range blocks {
		seg.minT, seg.maxT = min(seg.minT, b.minT), max(seg.maxT, b.maxT)
		seg.count += int64(b.count)
	}
	if s.readOnly {
		return nil // a live writer may still be appending to it
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > end {
		if err := os.Truncate(seg.path, end); err != nil {
			return fmt.Errorf("seglog: cutting torn frame: %w", err)
		}
		s.opts.Logger.Info("seglog: recovered a segment left open (cut its unused or torn end)", "segment", seg.path, "bytes", fi.Size()-end)
	}
	return s.seal(seg)
}

// scanFrames reads the frame headers of a segment from the start and
// returns them with the offset where valid frames end. With check it
// reads each body and stops at the first whose checksum fails.
func scanFrames(f *os.File, kind byte, check bool) ([]blockInfo, int64, error) {
	var hdr [segHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, nil // created, never written: empty
		}
		return nil, 0, fmt.Errorf("seglog: %s: %w", f.Name(), err)
	}
	if [7]byte(hdr[:7]) != segMagic || hdr[7] != kind {
		return nil, 0, fmt.Errorf("seglog: %s: not a segment of this log", f.Name())
	}
	var (
		out  []blockInfo
		off  = int64(segHeaderLen)
		head [frameHeaderLen + bodyPrefixLen]byte
		body []byte
	)
	for {
		if _, err := f.ReadAt(head[:], off); err != nil {
			return out, off, nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(head[0:])
		if n < bodyPrefixLen || n > maxBody {
			return out, off, nil
		}
		if check {
			body = slices.Grow(body[:0], int(n))[:n]
			if _, err := f.ReadAt(body, off+frameHeaderLen); err != nil {
				return out, off, nil
			}
			if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(head[4:]) {
				return out, off, nil
			}
		}
		out = append(out, blockInfo{off: off, body: n,
			count: binary.LittleEndian.Uint32(head[8:]),
			minT:  int64(binary.LittleEndian.Uint64(head[12:])),
			maxT:  int64(binary.LittleEndian.Uint64(head[20:]))})
		off += frameHeaderLen + int64(n)
	}
}

// seal writes seg's summary; an empty segment is removed instead.
func (s *stream) seal(seg *segment) error {
	seg.sealed = true
	if seg.count == 0 {
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("seglog: %w", err)
		}
		seg.size = 0
		return nil
	}
	sum := fmt.Sprintf("%d %d %d %d\n", seg.minT, seg.maxT, seg.count, seg.size)
	tmp := sumPath(seg.path) + ".tmp"
	if err := writeSync(tmp, []byte(sum)); err != nil {
		return err
	}
	if err := os.Rename(tmp, sumPath(seg.path)); err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	return syncDir(s.path)
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seglog: sync %s: %w", dir, err)
	}
	return nil
}

// startSegment creates segment seq and makes it active. Sealed segments
// that were empty are dropped from the list.
func (s *stream) startSegment(seq uint64) error {
	path := s.segName(seq)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	var hdr [segHeaderLen]byte
	copy(hdr[:], segMagic[:])
	hdr[7] = s.kind
	_, err = f.Write(hdr[:])
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(s.path)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("seglog: new segment: %w", err)
	}
	s.segs = slices.DeleteFunc(s.segs, func(g *segment) bool { return g.sealed && g.count == 0 })
	s.segs = append(s.segs, &segment{seq: seq, path: path, size: segHeaderLen, alloc: segHeaderLen, created: s.opts.Now(),
		minT: math.MaxInt64, maxT: math.MinInt64, blocks: []blockInfo{}})
	s.f = f
	return nil
}

// rollIfDue seals the active segment and starts the next when it is big
// or old enough. Called with wmu held.
func (s *stream) rollIfDue() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	act := s.segs[len(s.segs)-1]
	if act.size < s.opts.SegmentBytes && s.opts.Now().Sub(act.created) < s.opts.SegmentSpan {
		return nil
	}
	return s.rollLocked()
}

func (s *stream) rollLocked() error {
	act := s.segs[len(s.segs)-1]
	if act.count == 0 {
		act.created = s.opts.Now() // nothing to seal: keep using it
		return nil
	}
	err := s.f.Truncate(act.size) // the zeros ahead
	if err == nil {
		err = s.f.Sync() // the data appended without a sync (DeferSync), and the new length
	}
	s.dirty = false
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	act.blocks = nil // loaded again on demand
	if err := s.seal(act); err != nil {
		return err
	}
	return s.startSegment(act.seq + 1)
}

// append writes one frame holding n records encoded into s.enc.buf, with
// the filter f, and makes it durable. Called with wmu held. On failure
// the file is cut back, so a retried batch is never stored twice.
func (s *stream) append(n int, minT, maxT int64, filter []byte) error {
	body := bodyPrefixLen + len(filter) + len(s.enc.buf)
	if body > maxBody {
		return fmt.Errorf("seglog: batch of %d bytes is too large", body)
	}
	fr := slices.Grow(s.frame[:0], frameHeaderLen+body)
	fr = binary.LittleEndian.AppendUint32(fr, uint32(body))
	fr = binary.LittleEndian.AppendUint32(fr, 0) // checksum, below
	fr = binary.LittleEndian.AppendUint32(fr, uint32(n))
	fr = binary.LittleEndian.AppendUint64(fr, uint64(minT))
	fr = binary.LittleEndian.AppendUint64(fr, uint64(maxT))
	fr = binary.LittleEndian.AppendUint32(fr, uint32(len(filter)))
	fr = append(fr, filter...)
	fr = append(fr, s.enc.buf...)
	binary.LittleEndian.PutUint32(fr[4:], crc32.Checksum(fr[frameHeaderLen:], crcTable))
	s.frame = fr

	s.mu.Lock()
	act := s.segs[len(s.segs)-1]
	off, f := act.size, s.f
	s.mu.Unlock()
	if f == nil {
		return errors.New("seglog: closed")
	}
	var err error
	if off+int64(len(fr)) > act.alloc {
		err = s.zeroFill(f, act, off+int64(len(fr)))
	}
	if err == nil {
		_, err = f.WriteAt(fr, off)
	}
	if err == nil && !s.opts.DeferSync {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err != nil {
		// Zero what may have been written: a reader stops at zeros.
		if _, zerr := f.WriteAt(make([]byte, len(fr)), off); zerr != nil {
			err = errors.Join(err, zerr)
		}
		return fmt.Errorf("seglog: append %s: %w", s.segName(act.seq), err)
	}
	s.mu.Lock()
	s.dirty = s.opts.DeferSync
	act.blocks = append(act.blocks, blockInfo{off: off, body: uint32(body), count: uint32(n), minT: minT, maxT: maxT})
	act.size = off + int64(len(fr))
	act.count += int64(n)
	act.minT, act.maxT = min(act.minT, minT), max(act.maxT, maxT)
	s.mu.Unlock()
	return nil
}

// zeroChunk is how far ahead the active segment is filled with zeros.
// Appending into bytes the file already holds lets each append's
// fdatasync flush data only; growing the file would make every one of
// them commit the file system's journal too (about 4× slower on ext4).
const zeroChunk = 1 << 20

var zeros = make([]byte, zeroChunk)

// zeroFill extends act's file with zeros to at least need bytes and
// makes the new length durable. Called with wmu held.
func (s *stream) zeroFill(f *os.File, act *segment, need int64) error {
	end := act.alloc
	for end < need {
		if _, err := f.WriteAt(zeros, end); err != nil {
			return err
		}
		end += zeroChunk
	}
	if err := f.Sync(); err != nil {
		return err
	}
	s.mu.Lock()
	act.alloc = end
	s.mu.Unlock()
	return nil
}

// view is a segment as a reader sees it at one moment.
type view struct {
	seg        *segment
	minT, maxT int64
	blocks     []blockInfo // nil: not loaded
}

// snapshot returns the segments that may hold records in [from, to].
func (s *stream) snapshot(from, to int64) []view {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]view, 0, len(s.segs))
	for _, g := range s.segs {
		if g.count == 0 || g.maxT < from || g.minT > to {
			continue
		}
		out = append(out, view{seg: g, minT: g.minT, maxT: g.maxT, blocks: g.blocks})
	}
	return out
}

// blocksOf returns v's blocks, reading a sealed segment's frame headers
// the first time and keeping the last few segments' lists.
func (s *stream) blocksOf(v view, f *os.File) ([]blockInfo, error) {
	bs, _, err := scanFrames(f, s.kind, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.seg.sealed && v.seg.blocks == nil {
		v.seg.blocks = bs
		s.cached = append(s.cached, v.seg)
		if len(s.cached) > s.opts.CachedSegments {
			s.cached[0].blocks = nil
			s.cached = slices.Delete(s.cached, 0, 1)
		}
	}
	return bs, nil
}

// readBody reads and checks one frame's body.
func readBody(f *os.File, b blockInfo, buf []byte) ([]byte, error) {
	buf = slices.Grow(buf[:0], frameHeaderLen+int(b.body))[:frameHeaderLen+int(b.body)]
	if _, err := f.ReadAt(buf, b.off); err != nil {
		return nil, fmt.Errorf("seglog: %s: %w", f.Name(), err)
	}
	body := buf[frameHeaderLen:]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
		return nil, fmt.Errorf("seglog: %s at %d: checksum mismatch", f.Name(), b.off)
	}
	return body, nil
}

// splitBody returns a body's filter and payload.
func splitBody(body []byte) (filter, payload []byte, err error) {
	fl := binary.LittleEndian.Uint32(body[20:])
	if uint64(fl) > uint64(len(body)-bodyPrefixLen) {
		return nil, nil, errCorrupt
	}
	return body[bodyPrefixLen : bodyPrefixLen+fl], body[bodyPrefixLen+fl:], nil
}

// prune removes sealed segments whose newest record is older than cutoff
// and reports how many records went with them.
func (s *stream) prune(cutoff int64) (segs int, records int64, err error) {
	s.mu.Lock()
	var gone []*segment
	kept := s.segs[:0]
	for i, g := range s.segs {
		if g.sealed && g.maxT < cutoff && (s.readOnly || i < len(s.segs)-1) {
			gone = append(gone, g)
			continue
		}
		kept = append(kept, g)
	}
	clear(s.segs[len(kept):])
	s.segs = kept
	s.cached = slices.DeleteFunc(s.cached, func(g *segment) bool { return slices.Contains(gone, g) })
	s.mu.Unlock()
	for _, g := range gone {
		// The summary goes first: a segment without one is scanned, never lost.
		if e := os.Remove(sumPath(g.path)); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = errors.Join(err, e)
		}
		if e := os.Remove(g.path); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = errors.Join(err, e)
		}
		segs++
		records += g.count
	}
	return segs, records, err
}

// size returns the bytes on disk and the records of the stream.
func (s *stream) size() (bytes, records int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		bytes += g.size
		records += g.count
	}
	return bytes, records
}

// close seals the active segment.
func (s *stream) close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	act := s.segs[len(s.segs)-1]
	err := s.f.Truncate(act.size)
	if err == nil {
		err = s.f.Sync()
	}
	s.dirty = false
	err = errors.Join(err, s.f.Close())
	s.f = nil
	if e := s.seal(act); e != nil {
		err = errors.Join(err, e)
	}
	return err
}

// each calls fn with a decoder over every frame that overlaps [from, to],
// oldest segment first, stopping at fn's first error.
func (s *stream) each(ctx context.Context, from, to int64, fn func(dec *decoder, n int) error) error {
	var (
		dec decoder
		buf []byte
	)
	for _, v := range s.snapshot(from, to) {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.withBlocks(v, func(f *os.File, bs []blockInfo) error {
			return frames(f, bs, func(b blockInfo) bool { return b.maxT >= from && b.minT <= to }, &dec, &buf, fn)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// frames calls fn with a decoder over each frame of bs that keep accepts,
// in order; buf is reused between frames.
func frames(f *os.File, bs []blockInfo, keep func(blockInfo) bool, dec *decoder, buf *[]byte, fn func(dec *decoder, n int) error) error {
	for _, b := range bs {
		if !keep(b) {
			continue
		}
		body, err := readBody(f, b, *buf)
		if err != nil {
			return err
		}
		*buf = body[:0]
		_, payload, err := splitBody(body)
		if err != nil {
			return err
		}
		dec.reset(payload, b.minT)
		if err := fn(dec, int(b.count)); err != nil {
			return err
		}
	}
	return nil
}

// eachNewest is each from the newest frame back, skipping frames whose
// filter rules key out (key 0: no filter) and, once floor() rises, the
// frames and segments wholly older than it.
func (s *stream) eachNewest(ctx context.Context, from, to int64, key uint64, floor func() int64, fn func(dec *decoder, n int) error) error {
	var (
		dec decoder
		buf []byte
	)
	vs := s.snapshot(from, to)
	slices.SortStableFunc(vs, func(a, b view) int { return cmpI64(b.maxT, a.maxT) })
	for _, v := range vs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if v.maxT < floor() {
			continue
		}
		err := s.withBlocks(v, func(f *os.File, bs []blockInfo) error {
			for i := len(bs) - 1; i >= 0; i-- {
				b := bs[i]
				if b.maxT < from || b.minT > to || b.maxT < floor() {
					continue
				}
				body, err := readBody(f, b, buf)
				if err != nil {
					return err
				}
				buf = body[:0]
				filter, payload, err := splitBody(body)
				if err != nil {
					return err
				}
				if key != 0 && !bloomHas(filter, key) {
					continue
				}
				dec.reset(payload, b.minT)
				if err := fn(&dec, int(b.count)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func cmpI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// withBlocks opens v's file and calls fn with its frames. A segment that
// retention removed meanwhile is skipped.
func (s *stream) withBlocks(v view, fn func(f *os.File, bs []blockInfo) error) error {
	f, err := os.Open(v.seg.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("seglog: %w", err)
	}
	defer f.Close()
	bs := v.blocks
	if bs == nil {
		if bs, err = s.blocksOf(v, f); err != nil {
			return err
		}
	}
	return fn(f, bs)
}

// sync makes what was appended durable (Options.DeferSync).
func (s *stream) sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	f, dirty := s.f, s.dirty
	s.mu.Unlock()
	if f == nil || !dirty {
		return nil
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("seglog: sync %s: %w", f.Name(), err)
	}
	s.mu.Lock()
	s.dirty = false
	s.mu.Unlock()
	return nil
}
