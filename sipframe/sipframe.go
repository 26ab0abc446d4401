// Package sipframe cuts SIP messages out of a byte stream (TCP, TLS):
// the header section up to the blank line, then exactly Content-Length
// octets of body (RFC 3261 section 18.3). The SIP front end and the
// honeypot share it.
package sipframe

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// ErrFrame reports a stream that cannot be cut into messages: a line
// longer than the read buffer, a message over the size limit, a missing,
// malformed or repeated-and-different Content-Length. The connection
// cannot be resynchronised after it and should be closed.
var ErrFrame = errors.New("sip: bad stream framing")

// Read appends one message from r to msg[:0]'s backing array and returns
// it. Leading CRLFs (keep-alives) yield an empty message. max bounds the
// whole message, headers and body.
func Read(r *bufio.Reader, msg []byte, max int) ([]byte, error) {
	msg = msg[:0]
	clen := -1
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return msg, ErrFrame
		}
		if err != nil {
			if len(msg) > 0 && errors.Is(err, io.EOF) {
				return msg, io.ErrUnexpectedEOF
			}
			return msg, err
		}
		if len(msg)+len(line) > max {
			return msg, ErrFrame
		}
		blank := len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == ""
		if blank && len(msg) == 0 {
			return msg, nil
		}
		msg = append(msg, line...)
		if blank {
			break
		}
		if n, ok := contentLength(line); ok {
			if n < 0 || clen >= 0 && clen != n {
				return msg, ErrFrame
			}
			clen = n
		}
	}
	if clen < 0 {
		return msg, ErrFrame // a stream message must carry Content-Length
	}
	if len(msg)+clen > max {
		return msg, ErrFrame
	}
	start := len(msg)
	msg = append(msg, make([]byte, clen)...)
	if _, err := io.ReadFull(r, msg[start:]); err != nil {
		return msg, err
	}
	return msg, nil
}

// contentLength reads a Content-Length (or compact l) header line: the
// value, -1 when it is not a number in 0…16 MiB, ok false for any other
// header.
func contentLength(line []byte) (int, bool) {
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 {
		return 0, false
	}
	name := strings.TrimRight(string(line[:colon]), " \t")
	if !strings.EqualFold(name, "Content-Length") && !strings.EqualFold(name, "l") {
		return 0, false
	}
	v := strings.Trim(string(line[colon+1:]), " \t\r\n")
	if v == "" || len(v) > 8 || strings.TrimLeft(v, "0123456789") != "" {
		return -1, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > 1<<24 {
		return -1, true
	}
	return n, true
}
