package cdr

import (
	"bufio"
	"errors"
	"io"
)

// MaxLine is the longest line read; a longer one is counted malformed.
const MaxLine = 64 << 10

// MaxReported is how many malformed lines a Reader keeps for its report;
// beyond it they are only counted.
const MaxReported = 100

// Stats counts what a Reader read.
type Stats struct {
	Lines     int         `json:"lines"`
	Records   int         `json:"records"`
	Malformed int         `json:"malformed"`
	Errors    []LineError `json:"errors,omitempty"` // the first MaxReported
}

// Reader reads records line by line, skipping (and reporting) malformed ones.
type Reader struct {
	br    *bufio.Reader
	p     *Parser
	stats Stats
	err   error
	long  []byte
	onBad func(LineError)
}

// NewReader reads records from r.
func NewReader(r io.Reader, o Options) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 256<<10), p: NewParser(o)}
}

// Next reads the next good record into rec; it returns false at the end of
// input or on a read error (see Err).
func (r *Reader) Next(rec *Record) bool {
	for {
		line, err := r.readLine()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return false
		}
		if r.Feed(line, rec) {
			return true
		}
	}
}

// Feed parses one line as the next line of the input; it reports whether
// it was a good record (a malformed one is counted, blank lines and
// headers are skipped).
func (r *Reader) Feed(line []byte, rec *Record) bool {
	r.stats.Lines++
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		return false
	}
	if len(line) > MaxLine {
		r.malformed(&LineError{Msg: "line longer than 64 KiB"})
		return false
	}
	err := r.p.Parse(string(line), rec)
	if err == nil {
		rec.Line = r.stats.Lines
		r.stats.Records++
		return true
	}
	if err == errHeader {
		return false
	}
	le, ok := err.(*LineError)
	if !ok {
		le = &LineError{Msg: err.Error()}
	}
	r.malformed(le)
	return false
}

func (r *Reader) malformed(le *LineError) {
	r.stats.Malformed++
	if r.onBad != nil {
		e := *le
		e.Line = r.stats.Lines
		r.onBad(e)
	}
	if len(r.stats.Errors) < MaxReported {
		e := *le
		e.Line = r.stats.Lines
		r.stats.Errors = append(r.stats.Errors, e)
	}
}

// readLine returns the next line without its newline; the slice is valid
// until the next call. A final line without a newline is returned too.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.br.ReadSlice('\n')
			if len(r.long) <= MaxLine {
				r.long = append(r.long, line...)
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if n := len(r.long); n > 0 && r.long[n-1] == '\n' {
			r.long = r.long[:n-1]
		}
		return r.long, nil
	}
	if errors.Is(err, io.EOF) && len(line) > 0 {
		return line, nil
	}
	return nil, err
}

// Stats returns what was read so far.
func (r *Reader) Stats() Stats { return r.stats }

// Err is the read error that stopped Next, if any.
func (r *Reader) Err() error { return r.err }
