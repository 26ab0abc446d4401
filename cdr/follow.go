package cdr

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// Follower reads a CDR log as it grows, like tail -F: it survives the log
// being rotated (renamed or removed and recreated) or truncated, reading
// what the old file still held before moving to the new one.
type Follower struct {
	Path string
	Opts Options
	// Poll is how often the file is checked; default 250 ms.
	Poll time.Duration
	// FromStart reads the existing content first; otherwise following
	// starts at the current end of the file.
	FromStart bool
	// Malformed, when set, is called for each malformed line (on Run's
	// goroutine), e.g. to log it.
	Malformed func(LineError)

	rd      *Reader
	f       *os.File
	info    os.FileInfo
	off     int64
	partial []byte
	buf     []byte
	head    []byte // the file's first bytes, to notice a truncate-and-rewrite
}

// Run calls fn for every record until ctx ends. Malformed lines are
// counted in Stats.
func (fl *Follower) Run(ctx context.Context, fn func(*Record)) error {
	if fl.Poll <= 0 {
		fl.Poll = 250 * time.Millisecond
	}
	fl.rd = &Reader{p: NewParser(fl.Opts), onBad: fl.Malformed}
	fl.buf = make([]byte, 256<<10)
	defer func() {
		if fl.f != nil {
			fl.f.Close()
		}
	}()
	first := true
	t := time.NewTicker(fl.Poll)
	defer t.Stop()
	var rec Record
	for {
		if fl.f == nil {
			if err := fl.open(!first || fl.FromStart); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		first = false
		if fl.f != nil {
			fl.checkRotation(fn, &rec)
		}
		if fl.f != nil {
			if err := fl.drain(fn, &rec); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (fl *Follower) open(fromStart bool) error {
	f, err := os.Open(fl.Path)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	fl.f, fl.info, fl.off, fl.partial = f, info, 0, fl.partial[:0]
	fl.head = fl.head[:0]
	if !fromStart {
		fl.off, _ = f.Seek(0, io.SeekEnd)
		fl.head = fl.readHead(fl.head)
	}
	return nil
}

// drain reads what was appended since the last read.
func (fl *Follower) drain(fn func(*Record), rec *Record) error {
	for {
		n, err := fl.f.ReadAt(fl.buf, fl.off)
		if n > 0 && len(fl.head) < 64 && fl.off < 64 {
			k := min(int64(n), 64-fl.off)
			fl.head = append(fl.head[:fl.off], fl.buf[:k]...)
		}
		if n > 0 {
			fl.off += int64(n)
			fl.lines(fl.buf[:n], fn, rec)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (fl *Follower) lines(b []byte, fn func(*Record), rec *Record) {
	for len(b) > 0 {
		i := indexNL(b)
		if i < 0 {
			if len(fl.partial) <= MaxLine {
				fl.partial = append(fl.partial, b...)
			}
			return
		}
		line := b[:i]
		if len(fl.partial) > 0 {
			line = append(fl.partial, line...)
			fl.partial = fl.partial[:0]
		}
		if fl.rd.Feed(line, rec) {
			fn(rec)
		}
		b = b[i+1:]
	}
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// checkRotation reopens the path when it now names another file, or the
// file shrank (copytruncate).
func (fl *Follower) checkRotation(fn func(*Record), rec *Record) {
	info, err := os.Stat(fl.Path)
	switch {
	case err != nil:
		// Removed: keep the old one until a new file appears.
		return
	case !os.SameFile(info, fl.info):
		_ = fl.drain(fn, rec)
		fl.flushPartial(fn, rec)
		fl.f.Close()
		fl.f = nil
		if fl.open(true) != nil {
			fl.f = nil
		}
	case info.Size() < fl.off || !bytesEqual(fl.readHead(nil), fl.head):
		fl.off, fl.partial, fl.head = 0, fl.partial[:0], fl.head[:0]
	}
}

// readHead returns the file's first bytes, as many as head holds.
func (fl *Follower) readHead(dst []byte) []byte {
	n := min(int64(64), fl.off)
	if cap(dst) < int(n) {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	k, _ := fl.f.ReadAt(dst, 0)
	return dst[:k]
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func (fl *Follower) flushPartial(fn func(*Record), rec *Record) {
	if len(fl.partial) > 0 {
		if fl.rd.Feed(fl.partial, rec) {
			fn(rec)
		}
		fl.partial = fl.partial[:0]
	}
}

// Stats returns what was read so far. It is not safe to call while Run runs
// on another goroutine.
func (fl *Follower) Stats() Stats {
	if fl.rd == nil {
		return Stats{}
	}
	return fl.rd.stats
}
