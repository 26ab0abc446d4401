// Package cluster holds what several tollgate nodes need to share one
// state: change notices over Redis pub/sub (so a block set on one node
// bites on the others well within a second), a store wrapper that sends
// them, and a disk spool that keeps records while PostgreSQL is away.
package cluster

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/store"
)

// Changes sends and receives "shared state changed" notices on one Redis
// channel. Notices carry no data: a node that hears one re-reads the
// store. A notice missed while the subscription reconnects is caught by
// the periodic refresh every node keeps as a safety net.
//
// A notice names what changed ("blocks", "killswitch", "compliance",
// "reputation"): C delivers every notice, On only those about the lists
// named, so a node re-reads only what changed.
type Changes struct {
	c       goredis.UniversalClient
	channel string
	node    string
	ch      chan struct{}
	ps      *goredis.PubSub
	log     *slog.Logger

	mu      sync.Mutex
	routes  []route                  // registered by On
	pending map[string]chan struct{} // per list: a publish is due (Notify)
	done    chan struct{}            // closed by Close: Notify's publishers end

	Published, Received atomic.Int64
}

// route is a channel of On and the lists it is for.
type route struct {
	what []string
	ch   chan struct{}
}

// NewChanges subscribes to prefix+":changes".
func NewChanges(ctx context.Context, c goredis.UniversalClient, prefix, node string, log *slog.Logger) *Changes {
	if log == nil {
		log = slog.Default()
	}
	ch := &Changes{c: c, channel: prefix + ":changes", node: node, ch: make(chan struct{}, 1), log: log,
		pending: map[string]chan struct{}{}, done: make(chan struct{})}
	ch.ps = c.Subscribe(ctx, ch.channel)
	go ch.run()
	return ch
}

func (c *Changes) run() {
	for m := range c.ps.Channel(goredis.WithChannelHealthCheckInterval(5 * time.Second)) {
		c.Received.Add(1)
		signal(c.ch)
		// The payload is "node what" (a node name may hold spaces, what
		// does not); a notice naming nothing wakes every route.
		what := ""
		if i := strings.LastIndexByte(m.Payload, ' '); i >= 0 {
			what = m.Payload[i+1:]
		}
		c.mu.Lock()
		for _, r := range c.routes {
			if what == "" || slices.Contains(r.what, what) {
				signal(r.ch)
			}
		}
		c.mu.Unlock()
	}
}

// signal makes a value due on ch (capacity 1) unless one already is: a
// flood of notices leaves at most one refresh pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a refresh is already due
	}
}

// C delivers a value after one or more notices (coalesced).
func (c *Changes) C() <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.ch
}

// On delivers a value after one or more notices about any of the lists
// named (coalesced: a flood of notices leaves one value pending). Each
// call makes a new channel; notices received before it are not delivered.
func (c *Changes) On(what ...string) <-chan struct{} {
	if c == nil {
		return nil
	}
	r := route{what: slices.Clone(what), ch: make(chan struct{}, 1)}
	c.mu.Lock()
	c.routes = append(c.routes, r)
	c.mu.Unlock()
	return r.ch
}

// Notify publishes a notice about what without waiting for Redis: a
// goroutine per list publishes it (Publish, bounded by its timeout), and
// writes made while one is being published are covered by one more
// notice, not one each. A request that changed the list need not wait.
func (c *Changes) Notify(what string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	ch, ok := c.pending[what]
	if !ok {
		select {
		case <-c.done: // closed
			c.mu.Unlock()
			return
		default:
		}
		ch = make(chan struct{}, 1)
		c.pending[what] = ch
		go c.publisher(what, ch)
	}
	c.mu.Unlock()
	signal(ch)
}

// publisher publishes what each time Notify made it due, until Close.
func (c *Changes) publisher(what string, ch chan struct{}) {
	for {
		select {
		case <-c.done:
			return
		case <-ch:
			c.Publish(what)
		}
	}
}

// Publish tells every node (this one too) that what changed must be
// re-read. A failure is logged: the periodic refresh still converges.
func (c *Changes) Publish(what string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.c.Publish(ctx, c.channel, c.node+" "+what).Err(); err != nil {
		c.log.Warn("cluster: publishing a change notice failed; other nodes pick it up within their refresh", "what", what, "err", err)
		return
	}
	c.Published.Add(1)
}

// Close ends the subscription and Notify's publishers (a notice still
// due is dropped: the other nodes' periodic refresh picks the change up).
func (c *Changes) Close() error {
	c.mu.Lock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.mu.Unlock()
	return c.ps.Close()
}

// Store wraps the shared store: changes to blocks and kill switches send
// a notice, and decisions and call events go through the spool.
type Store struct {
	store.Store
	Changes *Changes
	Spool   *Spool
}

// AddBlock implements store.Blocks and sends a notice.
func (s *Store) AddBlock(ctx context.Context, b store.Block) (store.Block, error) {
	b, err := s.Store.AddBlock(ctx, b)
	if err == nil && s.Changes != nil {
		s.Changes.Publish("blocks")
	}
	return b, err
}

// RemoveBlock implements store.Blocks and sends a notice.
func (s *Store) RemoveBlock(ctx context.Context, id int64) (store.Block, error) {
	b, err := s.Store.RemoveBlock(ctx, id)
	if err == nil && s.Changes != nil {
		s.Changes.Publish("blocks")
	}
	return b, err
}

// SetKillSwitch implements store.KillSwitches and sends a notice.
func (s *Store) SetKillSwitch(ctx context.Context, k store.KillSwitch) error {
	err := s.Store.SetKillSwitch(ctx, k)
	if err == nil && s.Changes != nil {
		s.Changes.Publish("killswitch")
	}
	return err
}

// AppendDecisions implements store.Decisions through the spool.
func (s *Store) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if s.Spool == nil {
		return s.Store.AppendDecisions(ctx, ds)
	}
	return s.Spool.AppendDecisions(ctx, ds)
}

// AppendCallEvents implements store.Decisions through the spool.
func (s *Store) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	if s.Spool == nil {
		return s.Store.AppendCallEvents(ctx, es)
	}
	return s.Spool.AppendCallEvents(ctx, es)
}
