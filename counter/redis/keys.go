package redis

import (
	"strconv"
	"strings"

	"github.com/tollgate-voip/tollgate/counter"
)

// Keys look like
//
//	tg:{t:acme}:ext_intl_calls:0:1001
//	tg:{s}:system_spend:20415:
//
// prefix, hash tag, scope, bucket, subject. The hash tag puts every key of
// one tenant in one Redis Cluster slot, so a decision's tenant keys are
// updated by one script; system-wide keys share the tag {s}. Tenant names
// holding a brace or a colon are written as hex ("x" + hex digits) so no
// tenant can cut its tag short or collide with another.

// tag returns the hash tag of a tenant ("" = system-wide).
func tag(tenant string) string {
	if tenant == "" {
		return "{s}"
	}
	if strings.ContainsAny(tenant, "{}:*?[]\\") {
		return "{x" + hexString(tenant) + "}"
	}
	return "{t:" + tenant + "}"
}

func hexString(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}

// key returns the Redis key of k.
func (s *Store) key(k counter.Key) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + len(k.Tenant) + len(k.Subject) + 40)
	b.WriteString(s.prefix)
	b.WriteByte(':')
	b.WriteString(tag(k.Tenant))
	b.WriteByte(':')
	b.WriteString(k.Scope.String())
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(k.Bucket, 10))
	b.WriteByte(':')
	b.WriteString(k.Subject)
	return b.String()
}

// parseKey is the inverse of key, for listing.
func (s *Store) parseKey(key string) (counter.Key, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix+":{")
	if !ok {
		return counter.Key{}, false
	}
	t, rest, ok := strings.Cut(rest, "}:")
	if !ok {
		return counter.Key{}, false
	}
	var k counter.Key
	switch {
	case t == "s":
	case strings.HasPrefix(t, "t:"):
		k.Tenant = t[2:]
	case strings.HasPrefix(t, "x"):
		b := make([]byte, 0, len(t)/2)
		for i := 1; i+1 < len(t); i += 2 {
			v, err := strconv.ParseUint(t[i:i+2], 16, 8)
			if err != nil {
				return counter.Key{}, false
			}
			b = append(b, byte(v))
		}
		k.Tenant = string(b)
	default:
		return counter.Key{}, false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 {
		return counter.Key{}, false
	}
	if k.Scope, ok = counter.ParseScope(parts[0]); !ok {
		return counter.Key{}, false
	}
	var err error
	if k.Bucket, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return counter.Key{}, false
	}
	k.Subject = parts[2]
	return k, true
}

// pattern returns the SCAN pattern for a Reset filter.
func (s *Store) pattern(scope counter.Scope, tenant, subject string) string {
	p := globEscape(s.prefix) + ":"
	if tenant == "" {
		p += "{*}:"
	} else {
		p += globEscape(tag(tenant)) + ":"
	}
	if scope == 0 {
		p += "*:"
	} else {
		p += scope.String() + ":"
	}
	p += "*:"
	if subject == "" {
		p += "*"
	} else {
		p += globEscape(subject)
	}
	return p
}

func globEscape(s string) string {
	if !strings.ContainsAny(s, "*?[]\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isSlotScope reports whether keys of a scope hold concurrency slots.
func isSlotScope(sc counter.Scope) bool {
	return sc == counter.ExtIntlConcurrent || sc == counter.TenantConcurrent
}

// isSumScope reports whether keys of a scope hold sums.
func isSumScope(sc counter.Scope) bool {
	return sc == counter.TenantIntlSpend || sc == counter.SystemSpend
}
