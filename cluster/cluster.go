// Package cluster holds what several tollgate nodes need to share one
// state: change notices over Redis pub/sub (so a block set on one node
// bites on the others well within a second), a store wrapper that sends
// them, and a disk spool that keeps records while PostgreSQL is away.
package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/store"
)

// Changes sends and receives "shared state changed" notices on one Redis
// channel. Notices carry no data: a node that hears one re-reads the
// store. A notice missed while the subscription reconnects is caught by
// the periodic refresh every node keeps as a safety net.
type Changes struct {
	c       goredis.UniversalClient
	channel string
	node    string
	ch      chan struct{}
	ps      *goredis.PubSub
	log     *slog.Logger

	Published, Received atomic.Int64
}

// NewChanges subscribes to prefix+":changes".
func NewChanges(ctx context.Context, c goredis.UniversalClient, prefix, node string, log *slog.Logger) *Changes {
	if log == nil {
		log = slog.Default()
	}
	ch := &Changes{c: c, channel: prefix + ":changes", node: node, ch: make(chan struct{}, 1), log: log}
	ch.ps = c.Subscribe(ctx, ch.channel)
	go ch.run()
	return ch
}

func (c *Changes) run() {
	for range c.ps.Channel(goredis.WithChannelHealthCheckInterval(5 * time.Second)) {
		c.Received.Add(1)
		select {
		case c.ch <- struct{}{}:
		default: // a refresh is already due
		}
	}
}

// C delivers a value after one or more notices (coalesced).
func (c *Changes) C() <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.ch
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

// Close ends the subscription.
func (c *Changes) Close() error { return c.ps.Close() }

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
