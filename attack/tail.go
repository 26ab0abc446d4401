package attack

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Tail follows a log file the way `tail -F` does: it starts at the end
// (or the beginning when fromStart), hands every complete line to fn, and
// reopens the file when it is rotated (a new file under the name) or
// truncated. It returns when ctx ends. A missing file is waited for.
func Tail(ctx context.Context, path string, fromStart bool, poll time.Duration, fn func(line string)) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	var f *os.File
	var st os.FileInfo
	var off int64
	var br *bufio.Reader
	var partial []byte
	open := func(atEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		ns, err := nf.Stat()
		if err != nil {
			nf.Close()
			return
		}
		if f != nil {
			f.Close()
		}
		f, st, off, partial = nf, ns, 0, partial[:0]
		if atEnd {
			off, _ = f.Seek(0, io.SeekEnd)
		}
		br = bufio.NewReaderSize(f, 64<<10)
	}
	open(!fromStart)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if f != nil {
			for {
				chunk, err := br.ReadSlice('\n')
				off += int64(len(chunk))
				if len(partial)+len(chunk) > maxLine {
					partial = partial[:0] // an overlong line is dropped whole
					chunk = nil
				}
				partial = append(partial, chunk...)
				if err == nil {
					line := partial[:len(partial)-1]
					if n := len(line); n > 0 && line[n-1] == '\r' {
						line = line[:n-1]
					}
					fn(string(line))
					partial = partial[:0]
					continue
				}
				if errors.Is(err, bufio.ErrBufferFull) {
					continue
				}
				break // io.EOF or a read error: wait for more
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// Rotated (the name now points at another file) or truncated?
		ns, err := os.Stat(path)
		switch {
		case err != nil:
			// Moved away and not yet recreated: keep reading the old file.
		case f == nil:
			open(false)
		case !os.SameFile(st, ns):
			// Drain what was written to the old file before the rename.
			for {
				chunk, err := br.ReadSlice('\n')
				partial = append(partial, chunk...)
				if err != nil {
					break
				}
				line := partial[:len(partial)-1]
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
				fn(string(line))
				partial = partial[:0]
			}
			open(false)
		case ns.Size() < off:
			open(false)
		}
	}
}
