package honeypot

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

func (s *Server) mac(parts ...string) [32]byte {
	h := hmac.New(sha256.New, s.secret[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// challenge is a stateless digest challenge: the nonce is the time and a
// MAC over it and the caller's address.
func (s *Server) challenge(a netip.Addr, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 16)
	m := s.mac("nonce", a.String(), ts)
	nonce := ts + hex.EncodeToString(m[:8])
	return `Digest algorithm=MD5, realm="` + s.o.Realm + `", nonce="` + nonce + `"`
}

// digest is the parsed Authorization header.
type digest struct {
	username, realm, nonce, uri, response, qop, nc, cnonce, algorithm string

	ha2 string // cached by matches
}

// parseDigest reads the parameters of a Digest Authorization value,
// tolerating spaces, missing quotes and unknown parameters.
func parseDigest(v string) digest {
	var d digest
	v = strings.TrimSpace(v)
	if len(v) < 6 || !strings.EqualFold(v[:6], "digest") {
		return d
	}
	v = v[6:]
	for len(v) > 0 {
		v = strings.TrimLeft(v, " \t,")
		eq := strings.IndexByte(v, '=')
		if eq < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(v[:eq]))
		v = strings.TrimLeft(v[eq+1:], " \t")
		var val string
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				val, v = v[1:], ""
			} else {
				val, v = v[1:end+1], v[end+2:]
			}
		} else {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				val, v = v, ""
			} else {
				val, v = v[:end], v[end:]
			}
			val = strings.TrimSpace(val)
		}
		if len(val) > 256 {
			val = val[:256]
		}
		switch key {
		case "username":
			d.username = val
		case "realm":
			d.realm = val
		case "nonce":
			d.nonce = val
		case "uri":
			d.uri = val
		case "response":
			d.response = strings.ToLower(val)
		case "qop":
			d.qop = val
		case "nc":
			d.nc = val
		case "cnonce":
			d.cnonce = val
		case "algorithm":
			d.algorithm = strings.ToLower(val)
		}
	}
	return d
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// matches reports whether password produces the digest's response, with
// or without qop=auth (some tools announce qop but compute without it).
func (d *digest) matches(password, method string) bool {
	ha1 := md5hex(d.username + ":" + d.realm + ":" + password)
	if d.ha2 == "" {
		d.ha2 = md5hex(method + ":" + d.uri)
	}
	ha2 := d.ha2
	if md5hex(ha1+":"+d.nonce+":"+ha2) == d.response {
		return true
	}
	return d.cnonce != "" && md5hex(ha1+":"+d.nonce+":"+d.nc+":"+d.cnonce+":auth:"+ha2) == d.response
}

// commonPasswords are tried against every guess (with the username and
// its variations, and every number up to four digits), so the record
// shows what the attacker typed whenever it is a usual guess.
var commonPasswords = []string{"", "password", "pass", "secret", "admin", "test", "1234", "12345", "123456", "1234567",
	"12345678", "123456789", "0000", "00000", "000000", "1111", "111111", "qwerty", "abc123", "asterisk", "sip", "voip",
	"pbx", "freepbx", "changeme", "default", "welcome", "letmein", "passw0rd", "p@ssw0rd"}

// crackBudget bounds the CPU spent recovering passwords: at most this
// many guesses per second are tried against the dictionary.
const crackBudget = 10

var crackLimit struct {
	sync.Mutex
	sec  int64
	used int
}

// crack returns the password behind the digest when it is a common one.
func (s *Server) crack(d *digest, method string) string {
	if d.response == "" || len(d.response) != 32 || d.username == "" {
		return ""
	}
	sec := time.Now().Unix()
	crackLimit.Lock()
	if crackLimit.sec != sec {
		crackLimit.sec, crackLimit.used = sec, 0
	}
	crackLimit.used++
	over := crackLimit.used > crackBudget
	crackLimit.Unlock()
	if over {
		return ""
	}
	u := d.username
	for _, p := range append([]string{u, u + u, u + "123", u + "1234", strings.ToLower(u)}, commonPasswords...) {
		if d.matches(p, method) {
			return display(p)
		}
	}
	buf := make([]byte, 0, 8)
	for width := 1; width <= 4; width++ {
		limit := 1
		for range width {
			limit *= 10
		}
		for n := 0; n < limit; n++ {
			buf = strconv.AppendInt(buf[:0], int64(n), 10)
			for len(buf) < width {
				buf = append([]byte{'0'}, buf...)
			}
			if d.matches(string(buf), method) {
				return string(buf)
			}
		}
	}
	return ""
}

// display marks an empty password so it is not mistaken for "unknown".
func display(p string) string {
	if p == "" {
		return "(empty)"
	}
	return p
}
