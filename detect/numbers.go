package detect

import (
	"hash/maphash"
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
	planIDs map[string]uint64 // 1, 2, … by plan
	// recent is a direct-mapped cache in front of the plans' maps, by a
	// hash of the plan and the dialed string: a number met again is found
	// in one probe; a slot holds its last number (entries depend only on
	// plan and number, so which one a slot keeps changes no result).
	recent []numSlot
	seed   maphash.Seed
}

type numTenant struct {
	tc   tenantCache
	nums map[string]*numEntry
	exts map[string]*extSlot
	plan uint64 // the plan's number (1, 2, …), in the recent cache's key
}

type numSlot struct {
	h, plan uint64
	far     string
	ne      *numEntry
}

// recentBits is log2 of the slots of Numbers.recent (32 bytes each).
const recentBits = 15

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
	return &Numbers{res: res, tenants: map[string]*numTenant{}, plans: map[string]map[string]*numEntry{},
		planIDs: map[string]uint64{}, recent: make([]numSlot, 1<<recentBits), seed: maphash.MakeSeed()}
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
			n.planIDs[plan] = uint64(len(n.plans))
		}
		nt = &numTenant{tc: tenantCache{t: t, home: number.CallingCodeFor(t.Country)}, nums: nums, exts: map[string]*extSlot{},
			plan: n.planIDs[plan]}
		n.tenants[strings.Clone(r.Tenant)] = nt
	}
	far := farOf(r)
	h := maphash.String(n.seed, far) ^ nt.plan*0x9e3779b97f4a7c15
	sl := &n.recent[h>>(64-recentBits)]
	var ne *numEntry
	if sl.h == h && sl.plan == nt.plan && sl.far == far {
		ne = sl.ne
	} else if ne = nt.nums[far]; ne == nil {
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
		far = strings.Clone(far)
		nt.nums[far] = ne
		n.n++
	}
	if sl.ne != ne {
		*sl = numSlot{h: h, plan: nt.plan, far: far, ne: ne}
	}
	x := nt.exts[r.Extension]
	if x == nil {
		x = &extSlot{}
		nt.exts[strings.Clone(r.Extension)] = x
	}
	return Resolved{ne: ne, x: x, tenant: r.Tenant, ext: r.Extension, far: far}
}
