package detect

import (
	"strings"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
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
	plans   map[string]map[string]*numEntry
	n       int
}

type numTenant struct {
	tc   tenantCache
	nums map[string]*numEntry
	exts map[string]*extSlot
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

// NewNumbers returns a Numbers over res.
func NewNumbers(res Resolver) *Numbers {
	return &Numbers{res: res, tenants: map[string]*numTenant{}, plans: map[string]map[string]*numEntry{}}
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
			nums = map[string]*numEntry{}
			n.plans[plan] = nums
		}
		nt = &numTenant{tc: tenantCache{t: t, home: number.CallingCodeFor(t.Country)}, nums: nums, exts: map[string]*extSlot{}}
		n.tenants[strings.Clone(r.Tenant)] = nt
	}
	far := farOf(r)
	ne := nt.nums[far]
	if ne == nil {
		info, err := n.res.Lookup(far, r.Tenant)
		if err != nil {
			return Resolved{}
		}
		if n.n >= maxCachedNumbers {
			for _, m := range n.plans {
				clear(m)
			}
			n.n = 0
		}
		ne = newNumEntry(info, nt.tc.t, nt.tc.home)
		nt.nums[strings.Clone(far)] = ne
		n.n++
	}
	x := nt.exts[r.Extension]
	if x == nil {
		x = &extSlot{}
		nt.exts[strings.Clone(r.Extension)] = x
	}
	return Resolved{ne: ne, x: x, tenant: r.Tenant, ext: r.Extension, far: far}
}
