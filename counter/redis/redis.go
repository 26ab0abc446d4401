// Package redis implements counter.Store on Redis, so several tollgate
// nodes enforce one set of limits together. A decision's operations run in
// one server-side script (one round trip); windows and slots are sorted
// sets whose members are call ids, sums are hashes that remember the ids
// they counted, and every key expires on its own. It works against a
// single server, Sentinel and Redis Cluster (see Options.Client).
//
// When Redis cannot be reached the store counts on a local
// counter.Memory, reports counter.Unavailable from Apply so the engine
// applies the tenant's on_error, queues what it counted (bounded) and
// writes it to Redis when Redis answers again.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/counter"
)

// Options configures New.
type Options struct {
	// Client is a single-server, Sentinel (FailoverClient) or Cluster
	// client; goredis.NewUniversalClient makes the right one.
	Client goredis.UniversalClient
	// Prefix starts every key (default "tg").
	Prefix string
	// Timeout bounds one call to Redis (default 250 ms).
	Timeout time.Duration
	// ProbeEvery is how often an unreachable Redis is tried again
	// (default 250 ms).
	ProbeEvery time.Duration
	// MaxPending bounds the writes queued while Redis is unreachable
	// (default 100000); beyond it writes are counted as dropped.
	MaxPending int
	// OnState is called when Redis becomes unreachable (err != nil) and
	// when it answers again (err == nil). It must not block.
	OnState func(err error)
	Logger  *slog.Logger
}

// Store is a counter.Store on Redis. It is safe for concurrent use.
type Store struct {
	c       goredis.UniversalClient
	cluster bool
	prefix  string
	timeout time.Duration
	probe   time.Duration
	onState func(error)
	log     *slog.Logger

	// local counts while Redis is unreachable.
	local *counter.Memory
	down  atomic.Bool

	mu      sync.Mutex
	pending []pendingOp
	maxPend int
	probing bool

	closed chan struct{}
	once   sync.Once

	stats struct {
		applies, roundTrips, fallbacks, replayed, dropped, outages atomic.Int64
	}
}

var _ counter.Store = (*Store)(nil)

// New returns a Store on o.Client. It loads the scripts if Redis answers;
// an unreachable Redis is not an error (the store starts degraded and
// recovers on its own).
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("counter/redis: a client is required")
	}
	s := &Store{
		c: o.Client, prefix: o.Prefix, timeout: o.Timeout, probe: o.ProbeEvery,
		onState: o.OnState, log: o.Logger, maxPend: o.MaxPending,
		local: counter.NewMemory(0), closed: make(chan struct{}),
	}
	if s.prefix == "" {
		s.prefix = "tg"
	}
	if s.timeout <= 0 {
		s.timeout = 250 * time.Millisecond
	}
	if s.probe <= 0 {
		s.probe = 250 * time.Millisecond
	}
	if s.maxPend <= 0 {
		s.maxPend = 100000
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	_, s.cluster = o.Client.(*goredis.ClusterClient)
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout)
	defer cancel()
	if err := s.loadScripts(ctx); err != nil {
		s.markDown(err)
	}
	return s, nil
}

// Close stops the recovery probe. It does not close the client.
func (s *Store) Close() { s.once.Do(func() { close(s.closed) }) }

// Up reports whether Redis answered the last call.
func (s *Store) Up() bool { return !s.down.Load() }

// Stats counts what the store did.
type Stats struct {
	Applies    int64 // Apply calls
	RoundTrips int64 // network round trips to Redis
	Fallbacks  int64 // operations counted locally because Redis was unreachable
	Pending    int   // local writes waiting for Redis
	Replayed   int64 // local writes written to Redis after it returned
	Dropped    int64 // local writes not queued because the queue was full
	Outages    int64 // times Redis became unreachable
	Up         bool
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	return Stats{
		Applies: s.stats.applies.Load(), RoundTrips: s.stats.roundTrips.Load(),
		Fallbacks: s.stats.fallbacks.Load(), Pending: n, Replayed: s.stats.replayed.Load(),
		Dropped: s.stats.dropped.Load(), Outages: s.stats.outages.Load(), Up: s.Up(),
	}
}

func (s *Store) loadScripts(ctx context.Context) error {
	load := func(ctx context.Context, c goredis.Scripter) error {
		for _, sc := range scripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if cc, ok := s.c.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return load(ctx, c) })
	}
	return load(ctx, s.c)
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// usable reports whether err means Redis answered (a nil reply is an
// answer).
func failure(err error) bool { return err != nil && !errors.Is(err, goredis.Nil) }

// markDown switches to local counting and starts the recovery probe.
func (s *Store) markDown(err error) {
	s.mu.Lock()
	first := !s.down.Load()
	s.down.Store(true)
	start := !s.probing
	s.probing = true
	s.mu.Unlock()
	if first {
		s.stats.outages.Add(1)
		s.log.Error("counter/redis: Redis unreachable; counting locally until it returns", "err", err)
		if s.onState != nil {
			s.onState(err)
		}
	}
	if start {
		go s.recover()
	}
}

// recover tries Redis until it answers, writes the queued local counts,
// then switches back.
func (s *Store) recover() {
	t := time.NewTicker(s.probe)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			s.mu.Lock()
			s.probing = false
			s.mu.Unlock()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout)
		err := s.loadScripts(ctx)
		if err == nil {
			err = s.replay(ctx)
		}
		cancel()
		if err != nil {
			continue
		}
		s.mu.Lock()
		if len(s.pending) > 0 { // written while replaying: go round again
			s.mu.Unlock()
			continue
		}
		s.down.Store(false)
		s.probing = false
		s.mu.Unlock()
		// What was counted locally is in Redis now; the next outage starts
		// from an empty local count.
		s.local.Reset(0, "", "")
		s.log.Info("counter/redis: Redis reachable again; local counts written", "replayed", s.stats.replayed.Load())
		if s.onState != nil {
			s.onState(nil)
		}
		return
	}
}

// pendingOp is a write made locally while Redis was unreachable.
type pendingOp struct {
	kind   byte // 'w' window event, 's' slot, 'u' remove, 'e' extend, 'a' add, 'd' delete the key
	key    string
	id     string
	score  int64 // µs: event time or lease
	ttl    int64 // ms
	amount float64
}

// queue keeps a local write for Redis. When Redis came back in the
// meantime it is written at once.
func (s *Store) queue(ops ...pendingOp) {
	s.stats.fallbacks.Add(int64(len(ops)))
	s.mu.Lock()
	if !s.down.Load() {
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout)
		defer cancel()
		if err := s.write(ctx, ops); err != nil {
			s.mu.Lock()
			s.pending = append(s.pending, ops...)
			s.mu.Unlock()
			s.markDown(err)
		}
		return
	}
	for _, op := range ops {
		if len(s.pending) >= s.maxPend {
			s.stats.dropped.Add(1)
			continue
		}
		s.pending = append(s.pending, op)
	}
	s.mu.Unlock()
}

// replay writes the queued local writes in order, in batches.
func (s *Store) replay(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := min(len(s.pending), 512)
		batch := append([]pendingOp(nil), s.pending[:n]...)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := s.write(ctx, batch); err != nil {
			return err
		}
		s.mu.Lock()
		s.pending = append(s.pending[:0], s.pending[n:]...)
		s.mu.Unlock()
		s.stats.replayed.Add(int64(n))
	}
}

// write sends queued writes in one pipeline. Every write is idempotent, so
// sending one twice after a timeout is harmless.
func (s *Store) write(ctx context.Context, ops []pendingOp) error {
	pipe := s.c.Pipeline()
	for _, op := range ops {
		switch op.kind {
		case 'w', 's':
			forceScript.EvalSha(ctx, pipe, []string{op.key}, string(op.kind), op.id, strconv.FormatInt(op.score, 10), op.ttl)
		case 'u':
			forceScript.EvalSha(ctx, pipe, []string{op.key}, "u", op.id)
		case 'e':
			extendScript.EvalSha(ctx, pipe, []string{op.key}, op.id, strconv.FormatInt(op.score, 10), op.ttl)
		case 'a':
			addScript.EvalSha(ctx, pipe, []string{op.key}, op.id, strconv.FormatFloat(op.amount, 'g', -1, 64), sumTTL)
		case 'd':
			pipe.Del(ctx, op.key)
		}
	}
	s.stats.roundTrips.Add(1)
	_, err := pipe.Exec(ctx)
	if failure(err) {
		return err
	}
	return nil
}

// Times in Redis are microseconds since the epoch: exact in a float64
// sorted-set score for the next 250 years.
func us(t time.Time) int64 { return t.UnixMicro() }

// keyTTL is how long a key outlives what it must remember (ms).
const ttlSlack = int64(time.Minute / time.Millisecond)

// sumTTL keeps daily sums three days (ms).
const sumTTL = int64(3 * 24 * time.Hour / time.Millisecond)

func windowTTL(w time.Duration) int64 {
	return int64((w+counter.LateGrace)/time.Millisecond) + ttlSlack
}

func slotTTL(t, lease time.Time) int64 {
	return max(int64(lease.Sub(t)/time.Millisecond), 0) + ttlSlack
}

// group is the ops of one hash tag: they run in one script.
type group struct {
	idx  []int
	keys []string
	args []any
	cmd  *goredis.Cmd
}

// Apply implements counter.Store. On a single server or Sentinel every op
// runs in one script: one round trip, atomic. In a Cluster the ops of one
// tenant share a slot and run in one script; system-wide ops (another
// slot) run in a second script pipelined with the first, still one round
// trip. If one script refuses while the other admitted, what the other
// added is removed again in a second round trip: no limit is ever
// exceeded, though a concurrent call may briefly see the withdrawn
// reservation.
func (s *Store) Apply(t time.Time, ops []counter.Op, res []counter.Result) int {
	if len(ops) == 0 {
		return -1
	}
	s.stats.applies.Add(1)
	if s.down.Load() {
		return s.applyLocal(t, ops, res)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	failed, err := s.applyRemote(ctx, t, ops, res)
	if err != nil {
		s.markDown(err)
		return s.applyLocal(t, ops, res)
	}
	return failed
}

// applyLocal counts on the local store and queues what it applied.
func (s *Store) applyLocal(t time.Time, ops []counter.Op, res []counter.Result) int {
	if f := s.local.Apply(t, ops, res); f >= 0 {
		return f
	}
	var q []pendingOp
	for i := range ops {
		op := &ops[i]
		switch {
		case op.Kind == counter.OpWindow && res[i].Added:
			q = append(q, pendingOp{kind: 'w', key: s.key(op.Key), id: op.ID, score: us(t), ttl: windowTTL(op.Window)})
		case op.Kind == counter.OpSlot:
			q = append(q, pendingOp{kind: 's', key: s.key(op.Key), id: op.ID, score: us(op.Lease), ttl: slotTTL(t, op.Lease)})
		}
	}
	if len(q) > 0 {
		s.queue(q...)
	}
	return counter.Unavailable
}

func (s *Store) appendOp(g *group, t time.Time, i int, op *counter.Op) {
	g.idx = append(g.idx, i)
	g.keys = append(g.keys, s.key(op.Key))
	ts := strconv.FormatInt(us(t), 10)
	switch op.Kind {
	case counter.OpWindow:
		// Events are kept counter.LateGrace past the window, so a call
		// stamped earlier than calls already counted still finds them.
		g.args = append(g.args, "w", op.ID, strconv.FormatInt(us(t.Add(-op.Window)), 10), ts, op.Limit,
			strconv.FormatInt(us(t.Add(-op.Window-counter.LateGrace)), 10), windowTTL(op.Window), ts)
	case counter.OpSlot:
		g.args = append(g.args, "s", op.ID, ts, strconv.FormatInt(us(op.Lease), 10), op.Limit, 0, slotTTL(t, op.Lease), ts)
	case counter.OpSumBelow:
		g.args = append(g.args, "m", op.ID, ts, ts, 0, strconv.FormatFloat(op.Max, 'g', -1, 64), 0, ts)
	default:
		g.args = append(g.args, "?", op.ID, ts, ts, 0, 0, 0, ts)
	}
}

func (s *Store) applyRemote(ctx context.Context, t time.Time, ops []counter.Op, res []counter.Result) (int, error) {
	var gs [2]group // [0]: tenant (or everything), [1]: system-wide
	for i := range ops {
		g := &gs[0]
		if s.cluster && ops[i].Key.Tenant == "" {
			g = &gs[1]
		}
		s.appendOp(g, t, i, &ops[i])
	}
	// In a Cluster a batch could in principle span tenants; keys of other
	// tenants than the first go to further scripts.
	extra := s.splitTenants(&gs[0], ops)
	groups := make([]*group, 0, 2+len(extra))
	for i := range gs {
		if len(gs[i].idx) > 0 {
			groups = append(groups, &gs[i])
		}
	}
	for i := range extra {
		groups = append(groups, &extra[i])
	}
	s.stats.roundTrips.Add(1)
	if len(groups) == 1 {
		g := groups[0]
		g.cmd = applyScript.Run(ctx, s.c, g.keys, append([]any{len(g.idx)}, g.args...)...)
	} else {
		pipe := s.c.Pipeline()
		for _, g := range groups {
			g.cmd = applyScript.EvalSha(ctx, pipe, g.keys, append([]any{len(g.idx)}, g.args...)...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			if !goredis.HasErrorPrefix(err, "NOSCRIPT") {
				return 0, err
			}
			// The scripts were flushed (a restarted server): load them
			// and run each group again. Every op is idempotent by id.
			if err := s.loadScripts(ctx); err != nil {
				return 0, err
			}
			for _, g := range groups {
				g.cmd = applyScript.Run(ctx, s.c, g.keys, append([]any{len(g.idx)}, g.args...)...)
			}
		}
	}
	failed := -1
	applied := make([]bool, len(groups))
	for gi, g := range groups {
		vals, err := g.cmd.Slice()
		if err != nil {
			return 0, err
		}
		if len(vals) != 1+4*len(g.idx) {
			return 0, fmt.Errorf("counter/redis: apply script returned %d values for %d ops", len(vals), len(g.idx))
		}
		gf, _ := vals[0].(int64)
		applied[gi] = gf < 0
		for j, i := range g.idx {
			r := counter.Result{}
			n, _ := vals[1+4*j].(int64)
			ok, _ := vals[2+4*j].(int64)
			added, _ := vals[3+4*j].(int64)
			r.N, r.OK, r.Added = int(n), ok == 1, added == 1
			if sum, _ := vals[4+4*j].(string); sum != "" && sum != "0" {
				r.Sum, _ = strconv.ParseFloat(sum, 64)
			}
			res[i] = r
			if gf >= 0 && int(gf) == j && (failed < 0 || i < failed) {
				failed = i
			}
		}
	}
	if failed >= 0 && len(groups) > 1 {
		s.withdraw(ctx, groups, applied, ops, res)
	}
	return failed, nil
}

// splitTenants moves ops of further tenants out of g (Cluster only: a
// batch normally holds one tenant's keys).
func (s *Store) splitTenants(g *group, ops []counter.Op) []group {
	if !s.cluster || len(g.idx) == 0 {
		return nil
	}
	first := ops[g.idx[0]].Key.Tenant
	same := true
	for _, i := range g.idx {
		if ops[i].Key.Tenant != first {
			same = false
			break
		}
	}
	if same {
		return nil
	}
	by := map[string]*group{}
	var order []string
	keep := group{}
	for j, i := range g.idx {
		tn := ops[i].Key.Tenant
		dst := &keep
		if tn != first {
			if by[tn] == nil {
				by[tn] = &group{}
				order = append(order, tn)
			}
			dst = by[tn]
		}
		dst.idx = append(dst.idx, i)
		dst.keys = append(dst.keys, g.keys[j])
		dst.args = append(dst.args, g.args[j*argsPerOp:(j+1)*argsPerOp]...)
	}
	*g = keep
	out := make([]group, 0, len(order))
	for _, tn := range order {
		out = append(out, *by[tn])
	}
	return out
}

// withdraw removes what admitted groups added when another group refused.
func (s *Store) withdraw(ctx context.Context, groups []*group, applied []bool, ops []counter.Op, res []counter.Result) {
	var q []pendingOp
	for gi, g := range groups {
		if !applied[gi] {
			continue
		}
		for _, i := range g.idx {
			if res[i].Added && (ops[i].Kind == counter.OpWindow || ops[i].Kind == counter.OpSlot) {
				q = append(q, pendingOp{kind: 'u', key: s.key(ops[i].Key), id: ops[i].ID})
			}
		}
	}
	if len(q) == 0 {
		return
	}
	if err := s.write(ctx, q); err != nil {
		s.queue(q...)
	}
}

// Reserve implements counter.Store.
func (s *Store) Reserve(k counter.Key, id string, t time.Time, window time.Duration, limit int) (int, bool, bool) {
	ops := [1]counter.Op{{Kind: counter.OpWindow, Key: k, ID: id, Window: window, Limit: limit}}
	var res [1]counter.Result
	s.Apply(t, ops[:], res[:])
	return res[0].N, res[0].OK, res[0].Added
}

// Acquire implements counter.Store.
func (s *Store) Acquire(k counter.Key, id string, t, lease time.Time, limit int) (int, bool, bool) {
	ops := [1]counter.Op{{Kind: counter.OpSlot, Key: k, ID: id, Lease: lease, Limit: limit}}
	var res [1]counter.Result
	s.Apply(t, ops[:], res[:])
	return res[0].N, res[0].OK, res[0].Added
}

// remote runs f against Redis unless it is known to be unreachable; it
// reports false (and marks Redis down) when f failed.
func (s *Store) remote(f func(ctx context.Context) error) bool {
	if s.down.Load() {
		return false
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.stats.roundTrips.Add(1)
	if err := f(ctx); failure(err) {
		s.markDown(err)
		return false
	}
	return true
}

// Unreserve implements counter.Store.
func (s *Store) Unreserve(k counter.Key, id string) {
	key := s.key(k)
	if s.remote(func(ctx context.Context) error { return s.c.ZRem(ctx, key, id).Err() }) {
		return
	}
	s.local.Unreserve(k, id)
	s.queue(pendingOp{kind: 'u', key: key, id: id})
}

// Count implements counter.Store.
func (s *Store) Count(k counter.Key, t time.Time, window time.Duration) int {
	var n int64
	key := s.key(k)
	if s.remote(func(ctx context.Context) (err error) {
		n, err = s.c.ZCount(ctx, key, "("+strconv.FormatInt(us(t.Add(-window)), 10), strconv.FormatInt(us(t), 10)).Result()
		return err
	}) {
		return int(n)
	}
	return s.local.Count(k, t, window)
}

// Extend implements counter.Store.
func (s *Store) Extend(k counter.Key, id string, lease time.Time) bool {
	var held int64
	key := s.key(k)
	ttl := max(int64(time.Until(lease)/time.Millisecond), 0) + ttlSlack
	if s.remote(func(ctx context.Context) (err error) {
		held, err = extendScript.Run(ctx, s.c, []string{key}, id, strconv.FormatInt(us(lease), 10), ttl).Int64()
		return err
	}) {
		return held == 1
	}
	ok := s.local.Extend(k, id, lease)
	s.queue(pendingOp{kind: 'e', key: key, id: id, score: us(lease), ttl: ttl})
	return ok
}

// Release implements counter.Store.
func (s *Store) Release(k counter.Key, id string) bool {
	var n int64
	key := s.key(k)
	if s.remote(func(ctx context.Context) (err error) {
		n, err = s.c.ZRem(ctx, key, id).Result()
		return err
	}) {
		return n == 1
	}
	ok := s.local.Release(k, id)
	s.queue(pendingOp{kind: 'u', key: key, id: id})
	return ok
}

// Held implements counter.Store.
func (s *Store) Held(k counter.Key, t time.Time) int {
	var n int64
	key := s.key(k)
	if s.remote(func(ctx context.Context) (err error) {
		n, err = s.c.ZCount(ctx, key, "("+strconv.FormatInt(us(t), 10), "+inf").Result()
		return err
	}) {
		return int(n)
	}
	return s.local.Held(k, t)
}

// Add implements counter.Store.
func (s *Store) Add(k counter.Key, id string, amount float64) float64 {
	var v float64
	key := s.key(k)
	if s.remote(func(ctx context.Context) (err error) {
		v, err = addScript.Run(ctx, s.c, []string{key}, id, strconv.FormatFloat(amount, 'g', -1, 64), sumTTL).Float64()
		return err
	}) {
		return v
	}
	v = s.local.Add(k, id, amount)
	s.queue(pendingOp{kind: 'a', key: key, id: id, amount: amount})
	return v
}

// Sum implements counter.Store.
func (s *Store) Sum(k counter.Key) float64 {
	var v float64
	key := s.key(k)
	if s.remote(func(ctx context.Context) (err error) {
		v, err = s.c.HGet(ctx, key, "v").Float64()
		return err
	}) {
		return v
	}
	return s.local.Sum(k)
}

// Delete implements counter.Store: one DEL. While Redis is unreachable
// the local count is dropped and the DEL is queued with the local writes,
// in order, so it lands after the events it was meant to forget.
func (s *Store) Delete(k counter.Key) {
	key := s.key(k)
	if s.remote(func(ctx context.Context) error { return s.c.Del(ctx, key).Err() }) {
		return
	}
	s.local.Delete(k)
	s.queue(pendingOp{kind: 'd', key: key})
}

// scan calls f with every key matching pattern, on every master.
func (s *Store) scan(ctx context.Context, pattern string, f func(ctx context.Context, c goredis.Cmdable, key string) error) error {
	each := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			if err := f(ctx, c, it.Val()); err != nil {
				return err
			}
		}
		return it.Err()
	}
	if cc, ok := s.c.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return each(ctx, c) })
	}
	return each(ctx, s.c)
}

// Reset implements counter.Store. It scans the keyspace, so it is meant
// for the operator's API, not for the screening path.
func (s *Store) Reset(scope counter.Scope, tenant, subject string) int {
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.scan(ctx, s.pattern(scope, tenant, subject), func(ctx context.Context, c goredis.Cmdable, key string) error {
		if k, ok := s.parseKey(key); !ok || (subject != "" && k.Subject != subject) || (tenant != "" && k.Tenant != tenant) {
			return nil
		}
		d, err := c.Del(ctx, key).Result()
		n.Add(d)
		return err
	})
	if err != nil {
		s.log.Error("counter/redis: reset", "err", err)
	}
	return int(n.Load()) + s.local.Reset(scope, tenant, subject)
}

// Sweep implements counter.Store. Redis keys expire on their own and
// windows and slots are pruned whenever they are used; only the local
// fallback needs sweeping.
func (s *Store) Sweep(t time.Time) { s.local.Sweep(t) }

// List returns every counter matching the filter (see Reset), for the API.
func (s *Store) List(scope counter.Scope, tenant, subject string, t time.Time) []counter.Snapshot {
	var (
		mu  sync.Mutex
		out []counter.Snapshot
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.scan(ctx, s.pattern(scope, tenant, subject), func(ctx context.Context, c goredis.Cmdable, key string) error {
		k, ok := s.parseKey(key)
		if !ok || (subject != "" && k.Subject != subject) || (tenant != "" && k.Tenant != tenant) {
			return nil
		}
		sn := counter.Snapshot{Scope: k.Scope.String(), Tenant: k.Tenant, Subject: k.Subject, Bucket: k.Bucket}
		var err error
		var n int64
		switch {
		case isSumScope(k.Scope):
			sn.Sum, err = c.HGet(ctx, key, "v").Float64()
			if failure(err) {
				return err
			}
			n, err = c.HLen(ctx, key).Result()
			sn.Count = int(max(n-1, 0))
		case isSlotScope(k.Scope):
			n, err = c.ZCount(ctx, key, "("+strconv.FormatInt(us(t), 10), "+inf").Result()
			sn.Count = int(n)
		default:
			n, err = c.ZCount(ctx, key, "("+strconv.FormatInt(us(t.Add(-31*24*time.Hour)), 10), strconv.FormatInt(us(t), 10)).Result()
			sn.Count = int(n)
		}
		if failure(err) {
			return err
		}
		mu.Lock()
		out = append(out, sn)
		mu.Unlock()
		return nil
	})
	if err != nil {
		s.log.Error("counter/redis: list", "err", err)
		return s.local.List(scope, tenant, subject, t)
	}
	return out
}
