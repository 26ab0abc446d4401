package sipframe

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	const inv = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 4\r\n\r\nv=0\n"
	cases := []struct {
		name, in string
		want     []string // messages, "" = keep-alive
		err      error    // after the messages
	}{
		{"one", inv, []string{inv}, io.EOF},
		{"two back to back", inv + inv, []string{inv, inv}, io.EOF},
		{"keep-alive first", "\r\n\r\n" + inv, []string{"", "", inv}, io.EOF},
		{"compact l", "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", []string{"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"}, io.EOF},
		{"no Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", nil, ErrFrame},
		{"bad Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", nil, ErrFrame},
		{"two different lengths", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", nil, ErrFrame},
		{"body cut short", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc", nil, io.ErrUnexpectedEOF},
		{"headers cut short", "OPTIONS sip:a@b SIP/2.0\r\nVia", nil, io.ErrUnexpectedEOF},
		{"over the limit", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n" + strings.Repeat("x", 500), nil, ErrFrame},
	}
	for _, tc := range cases {
		r := bufio.NewReaderSize(strings.NewReader(tc.in), 256)
		var buf []byte
		var err error
		for i := 0; ; i++ {
			buf, err = Read(r, buf, 300)
			if err != nil {
				break
			}
			if i >= len(tc.want) || string(buf) != tc.want[i] {
				t.Errorf("%s: message %d = %q", tc.name, i, buf)
				break
			}
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: ended with %v, want %v", tc.name, err, tc.err)
		}
	}
}

// FuzzRead: any stream is cut into messages no larger than the limit or
// refused; nothing panics and no message exceeds max.
func FuzzRead(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi\r\n\r\nOPTIONS x SIP/2.0\r\nl:0\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("X\r\nContent-Length: 99999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 256)
		var buf []byte
		for range 100 {
			var err error
			buf, err = Read(r, buf, 512)
			if len(buf) > 512 {
				t.Fatalf("message of %d bytes over the 512 limit", len(buf))
			}
			if err != nil {
				return
			}
		}
	})
}
