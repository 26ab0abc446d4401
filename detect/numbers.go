package detect

import (
	"strings"
	"unsafe"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/internal/prefetch"
	"github.com/tollgate-voip/tollgate/number"
)

// Numbers looks far ends up ahead of an Engine, on another goroutine (a
// replay's parser), so the Engine's own goroutine is spared its number
// look-ups: Engine.EnrichResolved takes what Resolve found. It reaches the
// same entries the Engine would (the Resolver's look-up, shared between
// tenants of one dial plan as the Engine shares them); it needs a Resolver
// safe for concurrent use and is itself for one goroutine.
type Numbers struct {
	res     Resolver
	tenants map[string]*numTenant
	plans   map[string]*numPlan
	n       int
}

type numTenant struct {
	tc   tenantCache
	nums *numPlan
	exts map[string]*extSlot
}

// numPlan is the numbers met by the tenants of one dial plan: those of up
// to 16 digits (after an optional "+") by packDigits — a look-up hashes
// one word and compares keys held in the map, not strings elsewhere in
// memory — and any other by its string.
type numPlan struct {
	packed map[uint64]*numEntry
	other  map[string]*numEntry
}

// packDigits packs a number of 1 to 16 digits, with or without a leading
// "+", into a key no other string has: the digits' value, their count
// from bit 54 (10^16 < 2^54) and the "+" at bit 59. ok is false for any
// other string.
func packDigits(s string) (k uint64, ok bool) {
	if len(s) > 0 && s[0] == '+' {
		k, s = 1<<59, s[1:]
	}
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return k | uint64(len(s))<<54 | v, true
}

func (p *numPlan) get(far string) *numEntry {
	if k, ok := packDigits(far); ok {
		return p.packed[k]
	}
	return p.other[far]
}

func (p *numPlan) put(far string, ne *numEntry) {
	if k, ok := packDigits(far); ok {
		p.packed[k] = ne
		return
	}
	p.other[strings.Clone(far)] = ne
}

// extSlot is one extension of a tenant, interned by Numbers: the Engine
// keeps in it what it found for them (the tenant's cache, the extension's
// baseline handle), so a record through the same slot costs the Engine
// no look-up by name. Numbers makes it on its goroutine and never reads
// what the Engine writes.
type extSlot struct {
	tc *tenantCache
	h  *baseline.Handle
}

// Resolved is one record's far end as Numbers found it (the zero value:
// not found; the Engine then looks it up itself).
type Resolved struct {
	ne               *numEntry
	x                *extSlot
	tenant, ext, far string
}

// Prefetch hints the entries an Engine's enrichment of the record will
// read (the far end's entry, the extension's slot) into the cache of the
// goroutine that calls it: a replay calls it for its next call while it
// plays the current one. Numbers made most entries on another goroutine,
// long before, so the Engine's first touch would otherwise wait for
// memory.
func (h *Resolved) Prefetch() {
	prefetch.Object(unsafe.Pointer(h.ne), unsafe.Sizeof(*h.ne))
	prefetch.Object(unsafe.Pointer(h.x), unsafe.Sizeof(*h.x))
}

// NewNumbers returns a Numbers over res.
func NewNumbers(res Resolver) *Numbers {
	return &Numbers{res: res, tenants: map[string]*numTenant{}, plans: map[string]*numPlan{}}
}

// Resolve looks up r's far end.
func (n *Numbers) Resolve(r *cdr.Record) Resolved {
	nt := n.tenants[r.Tenant]
	if nt == nil {
		t, err := n.res.Tenant(r.Tenant)
		if err != nil {
			return Resolved{}
		}
		plan := t.Country + "\x00" + strings.Join(t.IntlPrefixes, ",") + "\x00" + t.NationalPrefix
		nums := n.plans[plan]
		if nums == nil {
			nums = &numPlan{packed: map[uint64]*numEntry{}, other: map[string]*numEntry{}}
			n.plans[plan] = nums
		}
		nt = &numTenant{tc: tenantCache{t: t, home: number.CallingCodeFor(t.Country)}, nums: nums, exts: map[string]*extSlot{}}
		n.tenants[strings.Clone(r.Tenant)] = nt
	}
	far := farOf(r)
	ne := nt.nums.get(far)
	if ne == nil {
		info, err := n.res.Lookup(far, r.Tenant)
		if err != nil {
			return Resolved{}
		}
		if n.n >= maxCachedNumbers {
			for _, p := range n.plans {
				clear(p.packed)
				clear(p.other)
			}
			n.n = 0
		}
		ne = newNumEntry(info, nt.tc.t, nt.tc.home)
		nt.nums.put(far, ne)
		n.n++
	}
	x := nt.exts[r.Extension]
	if x == nil {
		x = &extSlot{}
		nt.exts[strings.Clone(r.Extension)] = x
	}
	return Resolved{ne: ne, x: x, tenant: r.Tenant, ext: r.Extension, far: far}
}
