package number

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvError names the file, line and field of a bad CSV value.
type csvError struct {
	file  string
	line  int
	field string
	err   error
}

func (e *csvError) Error() string {
	if e.field == "" {
		return fmt.Sprintf("number: %s:%d: %v", e.file, e.line, e.err)
	}
	return fmt.Sprintf("number: %s:%d: field %s: %v", e.file, e.line, e.field, e.err)
}

func (e *csvError) Unwrap() error { return e.err }

// readTable reads a CSV with a header row whose first columns must be
// want (extra trailing columns in want are optional), calling row for
// each record with its line number. Lines starting with '#' are comments.
func readTable(name string, r io.Reader, want []string, required int, row func(line int, rec []string) error) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return &csvError{file: name, line: pe.Line, err: pe.Err}
			}
			return &csvError{file: name, err: err}
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if header {
			header = false
			if len(rec) < required || len(rec) > len(want) {
				return &csvError{file: name, line: line, err: fmt.Errorf("header %q: want %q", strings.Join(rec, ","), strings.Join(want, ","))}
			}
			for i, h := range rec {
				if !strings.EqualFold(h, want[i]) {
					return &csvError{file: name, line: line, err: fmt.Errorf("header column %d is %q; want %q", i+1, h, want[i])}
				}
			}
			continue
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		if len(rec) < required || len(rec) > len(want) {
			return &csvError{file: name, line: line, err: fmt.Errorf("%d fields; want %d to %d (%s)", len(rec), required, len(want), strings.Join(want, ","))}
		}
		if err := row(line, rec); err != nil {
			return err
		}
	}
	if header {
		return &csvError{file: name, line: 1, err: fmt.Errorf("missing header %q", strings.Join(want, ","))}
	}
	return nil
}

// parsePrefix accepts an E.164 prefix with an optional leading "+".
func parsePrefix(s string) (string, error) {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return "", errors.New("empty prefix")
	}
	if len(s) > 15 {
		return "", fmt.Errorf("prefix %q longer than 15 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("prefix %q: %q is not a digit", s, s[i])
		}
	}
	return s, nil
}
