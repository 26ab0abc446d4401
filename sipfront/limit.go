package sipfront

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source address, sharded to keep lock
// contention low. A shard that grows past its cap forgets full buckets,
// and if that is not enough, everything: a flood of spoofed sources can
// cost memory only up to the cap.
type limiter struct {
	rate, burst float64
	trusted     []netip.Prefix
	seed        maphash.Seed
	shards      [64]limShard
}

type limShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const limShardCap = 4096

func newLimiter(rate, burst float64, trusted []netip.Prefix) *limiter {
	if burst < 1 {
		burst = 1
	}
	l := &limiter{rate: rate, burst: burst, trusted: trusted, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[netip.Addr]*bucket{}
	}
	return l
}

// allow takes one token for a request from a at now.
func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	a = a.Unmap()
	if trusted(l.trusted, a) {
		return true
	}
	a = sourceKey(a)
	b16 := a.As16()
	sh := &l.shards[maphash.Bytes(l.seed, b16[:])%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[a]
	if b == nil {
		if len(sh.m) >= limShardCap {
			l.sweep(sh, now)
		}
		b = &bucket{tokens: l.burst, last: now}
		sh.m[a] = b
	} else {
		b.tokens += now.Sub(b.last).Seconds() * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) sweep(sh *limShard, now time.Time) {
	for a, b := range sh.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(sh.m, a)
		}
	}
	if len(sh.m) >= limShardCap {
		clear(sh.m)
	}
}

// sourceKey is what a per-source limit counts against: an IPv4 address,
// or an IPv6 address's /64. One host or site is handed a whole /64 and
// can send from any address in it, so counting each address alone let it
// escape the per-source rate and connection limits (and fill the
// limiter until it forgot every bucket). The attack guard counts IPv6
// failures per /64 by default too (attack.ipv6_bits).
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
}
