package action

import (
	"context"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// MemoryBlocks keeps blocks and kill switches in memory: the replay
// enforces what its detectors decide through it, with the same snapshot
// (blocks.Set) and lookups live screening uses.
type MemoryBlocks struct {
	mu    sync.Mutex
	next  int64
	bs    map[int64]store.Block
	kills map[string]store.KillSwitch
}

// NewMemoryBlocks returns an empty store.
func NewMemoryBlocks() *MemoryBlocks {
	return &MemoryBlocks{bs: map[int64]store.Block{}, kills: map[string]store.KillSwitch{}}
}

// AddBlock implements store.Blocks.
func (m *MemoryBlocks) AddBlock(_ context.Context, b store.Block) (store.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	b.ID = m.next
	m.bs[b.ID] = b
	return b, nil
}

// RemoveBlock implements store.Blocks.
func (m *MemoryBlocks) RemoveBlock(_ context.Context, id int64) (store.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bs[id]
	if !ok {
		return b, store.ErrNotFound
	}
	delete(m.bs, id)
	return b, nil
}

// ListBlocks implements store.Blocks: the blocks unexpired at now (expired
// ones are dropped for good).
func (m *MemoryBlocks) ListBlocks(_ context.Context, now time.Time) ([]store.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.Block, 0, len(m.bs))
	for id, b := range m.bs {
		if !b.Expires.IsZero() && !now.IsZero() && !b.Expires.After(now) {
			delete(m.bs, id)
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// SetKillSwitch implements store.KillSwitches.
func (m *MemoryBlocks) SetKillSwitch(_ context.Context, k store.KillSwitch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kills[k.Tenant] = k
	return nil
}

// KillSwitches implements store.KillSwitches.
func (m *MemoryBlocks) KillSwitches(context.Context) ([]store.KillSwitch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.KillSwitch, 0, len(m.kills))
	for _, k := range m.kills {
		out = append(out, k)
	}
	return out, nil
}
