package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/screen"
)

// The detector stream. Every node publishes the CDRs and refused attempts
// it sees to a Redis Stream chosen by hashing the tenant over a fixed
// number of partitions, so one tenant's records stay in one stream, in
// order. Each partition is read by one node at a time: the node holding
// the partition's lease (a Redis key with an expiry, renewed every
// lease/5). Nodes announce themselves in a sorted set scored by Redis's
// own clock; partition p belongs to the (p mod n)-th live node by name, so
// every node computes the same assignment and a partition moves only when
// a node joins or its heartbeat ages out. Redis arbitrates: a lease is
// taken with SET NX, nothing is voted on.
//
// The owner reads through a consumer group (one group, one consumer per
// node), so an entry read but not acknowledged stays in the group's
// pending list. Before handing a batch to the detectors the owner records
// the batch's last entry id as the partition's "fed" mark in the same
// script that checks it still holds the lease; it acknowledges the batch
// after the detectors saw it. A node taking a partition over
//
//  1. replays the retained entries up to the fed mark into its detectors
//     without findings (Processor.Warm): windows, latches and the call-id
//     set are rebuilt, nothing fires a second time;
//  2. claims the pending entries of the previous owner with XAUTOCLAIM once
//     they are idle for ClaimIdle, acknowledges those at or below the fed
//     mark (already seen) and processes the rest;
//  3. reads new entries only once no entry of the partition is pending, so
//     the tenant's order holds across the hand-over.
//
// A node that lost its lease (paused, cut off) fails the fed script and
// drops the batch: it stays pending for the new owner. The one window
// left is a node dying between the fed mark and its in-memory detectors
// (microseconds, no I/O): those entries are skipped by the next owner —
// at most once rather than twice, the side that cannot raise a false
// alarm.

// Entry is one record read from the stream.
type Entry struct {
	ID      string
	Part    int
	Rec     cdr.Record
	Attempt bool
}

// Processor is the node's detector pipeline.
type Processor interface {
	// Process runs entries through the detectors in order and returns
	// once they have been seen.
	Process(es []Entry)
	// Warm feeds entries another node already judged: state is rebuilt,
	// nothing is emitted.
	Warm(es []Entry)
}

// StreamOptions configures NewStream.
type StreamOptions struct {
	Client goredis.UniversalClient
	// Prefix starts every key (default "tg"); Node names this node (its
	// consumer name and heartbeat).
	Prefix, Node string
	// Partitions (default 16) must be equal on every node.
	Partitions int
	// Lease (default 5 s), ClaimIdle (default Lease), Retain (default 1 h),
	// Queue (default 65536): see config.ClusterDetect.
	Lease, ClaimIdle, Retain time.Duration
	Queue                    int
	// Batch is the most entries read or published at once (default 256).
	Batch  int
	Logger *slog.Logger
}

// StreamStats counts what the stream did on this node.
type StreamStats struct {
	Published, PublishDropped, PublishRetries int64
	Processed, Warmed, Claimed, SkippedFed    int64
	Undecodable, LeaseLost, Acquired          int64
	Owned                                     []int
}

// Stream publishes records and, once Start is called, consumes the
// partitions this node owns.
type Stream struct {
	o     StreamOptions
	log   *slog.Logger
	group string
	nodes string // sorted set of heartbeats

	pub     chan pubItem
	closed  atomic.Bool
	closing chan struct{}   // Close: publish what is queued, then stop
	ctx     context.Context // publisher; cancelled when Close gives up
	cancel  context.CancelFunc
	pubDone chan struct{}
	started atomic.Bool
	cctx    context.Context // consumer
	ccancel context.CancelFunc
	conDone chan struct{}
	stopped atomic.Bool

	mu    sync.Mutex
	owned map[int]*part // consumer goroutine only; mu guards reads by Owned

	published, pubDropped, pubRetries      atomic.Int64
	processed, warmed, claimed, skippedFed atomic.Int64
	undecodable, leaseLost, acquired       atomic.Int64

	// crashAfter, in tests, stops the consumer like a killed process at
	// the given point (see crash).
	crashAfter atomic.Int32
	crashed    chan struct{}
}

type part struct {
	n     int
	warm  bool // replayed what earlier owners fed
	ready bool // claimed what others left pending: new entries may be read
}

type pubItem struct {
	rec     cdr.Record
	attempt bool
}

// wire is an entry's one field.
type wire struct {
	Rec     cdr.Record `json:"r"`
	Dir     string     `json:"d"`
	Attempt bool       `json:"a,omitempty"`
}

// NewStream starts the publisher. Redis need not be reachable yet.
func NewStream(o StreamOptions) (*Stream, error) {
	if o.Client == nil {
		return nil, errors.New("cluster: stream: a Redis client is required")
	}
	if o.Node == "" {
		return nil, errors.New("cluster: stream: a node name is required")
	}
	if o.Prefix == "" {
		o.Prefix = "tg"
	}
	if o.Partitions <= 0 {
		o.Partitions = 16
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Second
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = o.Lease
	}
	if o.Retain <= 0 {
		o.Retain = time.Hour
	}
	if o.Queue <= 0 {
		o.Queue = 65536
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	s := &Stream{o: o, log: o.Logger, group: "detectors", pub: make(chan pubItem, o.Queue), owned: map[int]*part{}, crashed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.nodes = s.tag() + ":nodes"
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cctx, s.ccancel = context.WithCancel(context.Background())
	s.pubDone, s.conDone, s.closing = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go s.publishLoop()
	return s, nil
}

// tag keeps every key of the stream in one Redis Cluster slot, so one
// XREADGROUP reads all of a node's partitions and a script may touch a
// lease and a mark together.
func (s *Stream) tag() string        { return "{" + s.o.Prefix + ":cdr}" }
func (s *Stream) key(p int) string   { return s.tag() + ":" + strconv.Itoa(p) }
func (s *Stream) lease(p int) string { return s.tag() + ":lease:" + strconv.Itoa(p) }
func (s *Stream) fed(p int) string   { return s.tag() + ":fed:" + strconv.Itoa(p) }

// Partition returns the partition of a tenant.
func Partition(tenant string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return int(h.Sum32() % uint32(n))
}

// Publish queues a record for the stream of its tenant's partition. It
// never blocks: a full queue (Redis away for long) counts the record as
// dropped and returns false.
func (s *Stream) Publish(r cdr.Record, attempt bool) bool {
	if s.closed.Load() {
		s.pubDropped.Add(1)
		return false
	}
	select {
	case s.pub <- pubItem{rec: r, attempt: attempt}:
		return true
	default:
		s.pubDropped.Add(1)
		return false
	}
}

func (s *Stream) publishLoop() {
	defer close(s.pubDone)
	batch := make([]pubItem, 0, s.o.Batch)
	backoff := 100 * time.Millisecond
	for {
		if len(batch) == 0 {
			select {
			case it := <-s.pub:
				batch = append(batch, it)
			case <-s.closing:
				select {
				case it := <-s.pub:
					batch = append(batch, it)
				default:
					return
				}
			}
		}
		// Linger a moment for more: one round trip and one wake-up per
		// batch rather than per record (detection is not latency-bound).
		linger := time.NewTimer(2 * time.Millisecond)
	fill:
		for len(batch) < s.o.Batch {
			select {
			case it := <-s.pub:
				batch = append(batch, it)
			case <-linger.C:
				break fill
			case <-s.closing:
				break fill
			}
		}
		linger.Stop()
		err := s.xadd(batch)
		if err == nil {
			s.published.Add(int64(len(batch)))
			batch, backoff = batch[:0], 100*time.Millisecond
			continue
		}
		if s.ctx.Err() != nil {
			// Closing with Redis away: what is left is lost, and counted.
			n := int64(len(batch) + len(s.pub))
			s.pubDropped.Add(n)
			s.log.Error("cluster: detector stream unreachable at shutdown; records not published", "records", n, "err", err)
			return
		}
		s.pubRetries.Add(1)
		if s.pubRetries.Load()%50 == 1 {
			s.log.Warn("cluster: publishing to the detector stream failed; retrying", "err", err, "queued", len(s.pub)+len(batch))
		}
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Stream) xadd(batch []pubItem) error {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	minID := strconv.FormatInt(time.Now().Add(-s.o.Retain).UnixMilli(), 10)
	pipe := s.o.Client.Pipeline()
	for _, it := range batch {
		b, err := json.Marshal(wire{Rec: it.rec, Dir: it.rec.Direction.String(), Attempt: it.attempt})
		if err != nil {
			continue
		}
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: s.key(Partition(it.rec.Tenant, s.o.Partitions)), MinID: minID, Approx: true, Values: []any{"c", b}})
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Start consumes this node's partitions into p until Stop or Close. It
// may be called once.
func (s *Stream) Start(p Processor) {
	if s.started.Swap(true) {
		return
	}
	go s.consume(p)
}

// Stop stops consuming after the batch in hand and gives this node's
// partitions up at once, so the others take them over without waiting for
// the leases to run out. Publishing goes on until Close.
func (s *Stream) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	s.ccancel()
	if !s.started.Load() {
		return
	}
	select {
	case <-s.conDone:
	case <-s.crashed:
	}
	select {
	case <-s.crashed:
		return // a crashed node releases nothing
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	var ps []int
	for n := range s.owned {
		ps = append(ps, n)
	}
	clear(s.owned)
	s.mu.Unlock()
	if len(ps) > 0 {
		modes := make(map[int]string, len(ps))
		for _, n := range ps {
			modes[n] = "drop"
		}
		s.hold(ctx, modes)
	}
	s.o.Client.ZRem(ctx, s.nodes, s.o.Node)
}

// Close stops consuming (Stop), then publishes what is queued — giving up
// after a few seconds if Redis does not answer, counting what it drops.
func (s *Stream) Close() {
	s.Stop()
	if s.closed.Swap(true) {
		return
	}
	giveUp := time.AfterFunc(5*time.Second, s.cancel)
	defer giveUp.Stop()
	close(s.closing)
	<-s.pubDone
	s.cancel()
}

// Owned returns the partitions this node holds, in order.
func (s *Stream) Owned() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.owned))
	for n := range s.owned {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Stats returns the counts so far.
func (s *Stream) Stats() StreamStats {
	return StreamStats{Published: s.published.Load(), PublishDropped: s.pubDropped.Load(), PublishRetries: s.pubRetries.Load(),
		Processed: s.processed.Load(), Warmed: s.warmed.Load(), Claimed: s.claimed.Load(), SkippedFed: s.skippedFed.Load(),
		Undecodable: s.undecodable.Load(), LeaseLost: s.leaseLost.Load(), Acquired: s.acquired.Load(), Owned: s.Owned()}
}

// Scripts. Times come from Redis's clock, so nodes' clocks may disagree.
var (
	beatScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * lease)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - lease, '+inf')`)
	// KEYS: lease keys; ARGV: node, lease ms, then one mode per key
	// (take: acquire if free or renew; renew; drop). Returns 1 per key
	// held afterwards.
	holdScript = goredis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local mode = ARGV[i + 2]
  local cur = redis.call('GET', k)
  if mode == 'drop' then
    if cur == ARGV[1] then redis.call('DEL', k) end
    out[i] = 0
  elseif cur == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    out[i] = 1
  elseif (not cur) and mode == 'take' then
    redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`)
	// KEYS: lease, fed mark; ARGV: node, last id, lease ms.
	fedScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)
)

func (s *Stream) hold(ctx context.Context, modes map[int]string) map[int]bool {
	keys := make([]string, 0, len(modes))
	args := []any{s.o.Node, s.o.Lease.Milliseconds()}
	ps := make([]int, 0, len(modes))
	for n := range modes {
		ps = append(ps, n)
	}
	slices.Sort(ps)
	for _, n := range ps {
		keys = append(keys, s.lease(n))
		args = append(args, modes[n])
	}
	res, err := holdScript.Run(ctx, s.o.Client, keys, args...).Int64Slice()
	if err != nil || len(res) != len(ps) {
		return nil
	}
	out := make(map[int]bool, len(ps))
	for i, n := range ps {
		out[n] = res[i] == 1
	}
	return out
}

// CrashPoint is where Crash stops the consumer.
type CrashPoint int32

// Crash points.
const (
	// CrashAfterRead stops after the next read: entries pending, unseen.
	CrashAfterRead CrashPoint = iota + 1
	// CrashAfterFed stops after the detectors saw the next batch, before
	// it is acknowledged.
	CrashAfterFed
	// CrashNow stops at the next turn of the loop.
	CrashNow
)

// Crash makes the consumer stop at the given point as if the process had
// been killed: nothing is acknowledged, no lease released, no heartbeat
// sent afterwards (fault tests; Close then releases nothing either).
// Crashed is closed when it has stopped.
func (s *Stream) Crash(at CrashPoint) { s.crashAfter.Store(int32(at)) }

// Crashed is closed once a Crash took effect.
func (s *Stream) Crashed() <-chan struct{} { return s.crashed }

func (s *Stream) crash() bool {
	select {
	case <-s.crashed:
	default:
		close(s.crashed)
	}
	return true
}

func (s *Stream) consume(p Processor) {
	defer close(s.conDone)
	tick := s.o.Lease / 5
	var next time.Time
	for {
		if s.cctx.Err() != nil {
			return
		}
		if s.crashAfter.Load() == int32(CrashNow) {
			s.crash()
			return
		}
		if now := time.Now(); !now.Before(next) {
			next = now.Add(tick)
			s.rebalance()
		}
		var ready []int
		for _, n := range s.ownedList() {
			pt := s.owned[n]
			if !pt.ready {
				if s.takeOver(p, n) {
					return // crashed (tests)
				}
			}
			if pt.ready && s.owned[n] == pt {
				ready = append(ready, n)
			}
		}
		if len(ready) == 0 {
			select {
			case <-s.cctx.Done():
				return
			case <-time.After(min(tick, 100*time.Millisecond)):
			}
			continue
		}
		if s.read(p, ready, time.Until(next)) {
			return // crashed (tests)
		}
	}
}

func (s *Stream) ownedList() []int {
	out := make([]int, 0, len(s.owned))
	for n := range s.owned {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// rebalance beats the heartbeat, renews held leases, gives up partitions
// that now belong to another live node and takes free ones that belong
// here.
func (s *Stream) rebalance() {
	ctx, cancel := context.WithTimeout(s.cctx, s.o.Lease/2)
	defer cancel()
	live, err := beatScript.Run(ctx, s.o.Client, []string{s.nodes}, s.o.Node, s.o.Lease.Milliseconds()).StringSlice()
	if err != nil {
		if s.cctx.Err() == nil {
			s.log.Warn("cluster: detector stream heartbeat failed", "err", err)
		}
		return
	}
	if !slices.Contains(live, s.o.Node) {
		live = append(live, s.o.Node)
	}
	slices.Sort(live)
	me := slices.Index(live, s.o.Node)
	modes := map[int]string{}
	for n := range s.o.Partitions {
		mine := n%len(live) == me
		_, held := s.owned[n]
		switch {
		case mine:
			modes[n] = "take"
		case held:
			modes[n] = "drop" // nothing of ours is pending: batches are acknowledged before this runs
		}
	}
	res := s.hold(ctx, modes)
	if res == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, ok := range res {
		_, held := s.owned[n]
		switch {
		case ok && !held:
			s.owned[n] = &part{n: n}
			s.acquired.Add(1)
		case !ok && held:
			delete(s.owned, n)
			if modes[n] != "drop" {
				s.leaseLost.Add(1)
				s.log.Warn("cluster: lease of a detector partition lost to another node", "partition", n)
			}
		}
	}
}

// takeOver prepares a newly held partition: group, warm replay, claim of
// what is pending. The partition becomes ready once nothing is pending.
func (s *Stream) takeOver(p Processor, n int) (crashed bool) {
	ctx, cancel := context.WithTimeout(s.cctx, 30*time.Second)
	defer cancel()
	key := s.key(n)
	if err := s.o.Client.XGroupCreateMkStream(ctx, key, s.group, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		s.log.Warn("cluster: creating the detector consumer group", "partition", n, "err", err)
		return false
	}
	pt := s.owned[n]
	fed, err := s.o.Client.Get(ctx, s.fed(n)).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return false
	}
	if fed != "" && !pt.warm {
		// Rebuild the detectors' state from what earlier owners fed.
		start := strconv.FormatInt(time.Now().Add(-s.o.Retain).UnixMilli(), 10)
		for {
			msgs, err := s.o.Client.XRangeN(ctx, key, start, fed, int64(4*s.o.Batch)).Result()
			if err != nil {
				return false
			}
			if es := s.decode(n, msgs); len(es) > 0 {
				p.Warm(es)
				s.warmed.Add(int64(len(es)))
			}
			if len(msgs) < 4*s.o.Batch {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
	}
	pt.warm = true
	start := "0-0"
	for {
		msgs, cur, err := s.o.Client.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: key, Group: s.group, Consumer: s.o.Node,
			MinIdle: s.o.ClaimIdle, Start: start, Count: int64(s.o.Batch)}).Result()
		if err != nil {
			return false
		}
		if len(msgs) > 0 {
			s.claimed.Add(int64(len(msgs)))
			var done []string
			fresh := msgs[:0:0]
			for _, m := range msgs {
				if fed != "" && idLE(m.ID, fed) {
					done = append(done, m.ID)
					s.skippedFed.Add(1)
				} else {
					fresh = append(fresh, m)
				}
			}
			if len(done) > 0 {
				s.o.Client.XAck(ctx, key, s.group, done...)
			}
			if len(fresh) > 0 {
				ok, crashed := s.deliver(ctx, p, n, fresh)
				if crashed || !ok {
					return crashed
				}
				fed = fresh[len(fresh)-1].ID
			}
		}
		if cur == "0-0" || cur == "" {
			break
		}
		start = cur
	}
	pend, err := s.o.Client.XPending(ctx, key, s.group).Result()
	if err != nil {
		return false
	}
	if pend.Count == 0 {
		pt.ready = true
	}
	return false
}

// read takes new entries of the ready partitions.
func (s *Stream) read(p Processor, ready []int, wait time.Duration) (crashed bool) {
	streams := make([]string, 0, 2*len(ready))
	for _, n := range ready {
		streams = append(streams, s.key(n))
	}
	for range ready {
		streams = append(streams, ">")
	}
	wait = max(min(wait, 500*time.Millisecond), 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(s.cctx, wait+5*time.Second)
	defer cancel()
	res, err := s.o.Client.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: s.group, Consumer: s.o.Node, Streams: streams,
		Count: int64(s.o.Batch), Block: wait}).Result()
	if err != nil {
		if !errors.Is(err, goredis.Nil) && s.cctx.Err() == nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				for _, n := range ready { // stream deleted under us: set the group up again
					s.owned[n].ready = false
				}
			}
			s.log.Warn("cluster: reading the detector stream", "err", err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-s.cctx.Done():
			}
		}
		return false
	}
	for _, st := range res {
		n, err := strconv.Atoi(st.Stream[strings.LastIndexByte(st.Stream, ':')+1:])
		if err != nil || len(st.Messages) == 0 {
			continue
		}
		if s.crashAfter.Load() == int32(CrashAfterRead) {
			return s.crash()
		}
		if _, crashed := s.deliver(context.Background(), p, n, st.Messages); crashed {
			return true
		}
	}
	if got := len(res[0].Messages); len(res) == 1 && got < s.o.Batch/4 {
		// A thin batch: let a few milliseconds' worth gather before the
		// next read, instead of one read, script and ack per record.
		select {
		case <-time.After(5 * time.Millisecond):
		case <-s.cctx.Done():
		}
	}
	return false
}

// deliver sets the fed mark (if this node still holds the lease), runs
// the entries through the detectors and acknowledges them.
func (s *Stream) deliver(ctx context.Context, p Processor, n int, msgs []goredis.XMessage) (ok, crashed bool) {
	cctx, cancel := context.WithTimeout(ctx, s.o.Lease/2)
	defer cancel()
	held, err := fedScript.Run(cctx, s.o.Client, []string{s.lease(n), s.fed(n)}, s.o.Node, msgs[len(msgs)-1].ID, s.o.Lease.Milliseconds()).Int()
	if err != nil || held != 1 {
		if err == nil {
			s.mu.Lock()
			delete(s.owned, n)
			s.mu.Unlock()
			s.leaseLost.Add(1)
			s.log.Warn("cluster: lease of a detector partition lost; the batch stays pending for the new owner", "partition", n)
		}
		return false, false
	}
	es := s.decode(n, msgs)
	p.Process(es)
	s.processed.Add(int64(len(es)))
	if s.crashAfter.Load() == int32(CrashAfterFed) {
		return false, s.crash()
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := s.o.Client.XAck(cctx, s.key(n), s.group, ids...).Err(); err != nil {
		// The fed mark covers them: whoever claims them acknowledges
		// them without running them again.
		s.log.Warn("cluster: acknowledging detector entries", "partition", n, "err", err)
	}
	return true, false
}

// decode reads entries; unreadable ones are counted (and acknowledged
// with their batch: no node could read them either).
func (s *Stream) decode(n int, msgs []goredis.XMessage) []Entry {
	es := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		var w wire
		raw, _ := m.Values["c"].(string)
		if err := json.Unmarshal([]byte(raw), &w); err != nil || w.Rec.CallID == "" {
			s.undecodable.Add(1)
			continue
		}
		w.Rec.Direction, _ = screen.ParseDirection(w.Dir)
		es = append(es, Entry{ID: m.ID, Part: n, Rec: w.Rec, Attempt: w.Attempt})
	}
	return es
}

// idLE compares stream ids ("ms-seq").
func idLE(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || am == bm && as <= bs
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	q, _ := strconv.ParseUint(seq, 10, 64)
	return m, q
}

// String describes the stream for logs.
func (s *Stream) String() string {
	return fmt.Sprintf("detector stream %s (%d partitions, node %s)", s.tag(), s.o.Partitions, s.o.Node)
}
