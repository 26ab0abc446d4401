package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
)

// RepTarget is the shared reputation store a RepSpool writes to
// (store/postgres.Reputation): a reputation.Store with honeypot events, and the
// keyed writes that make a replay harmless — a write carrying a key that
// was applied before has no second effect.
type RepTarget interface {
	reputation.Store
	reputation.BatchUpserter
	honeypot.EventStore
	AddBanOnce(ctx context.Context, key string, b reputation.Ban) (reputation.Ban, error)
	UpsertOnce(ctx context.Context, key string, e reputation.Entry) (reputation.Entry, error)
	UpsertBatchOnce(ctx context.Context, key string, es []reputation.Entry) error
	AppendEventsOnce(ctx context.Context, key string, evs []honeypot.Event) error
}

// RepSpool is the reputation store of a cluster node: reads go to the
// shared store; bans, entry upserts, lockouts and honeypot event batches
// that the shared store fails to take are kept in an append-only file on
// local disk (fsynced before the write is acknowledged), bounded in size,
// and written in order when it answers again (Drain). Every write
// carries a key that the shared store records with its effect, so a
// replay after a crash between writing and emptying the file, or of a
// direct write whose commit was not acknowledged, does not ban twice,
// count hits twice or store events twice. Once anything is
// buffered, later writes go behind it. Overlay hands the buffered bans
// and entries to reputation.Refresh, so this node enforces them at once.
//
// Not buffered: removals and releases (they fail while the store is
// away, and the caller sees it), and lockouts are not enforced from the
// buffer for other readers (OverlayLockouts hands them to this node's
// reputation.Refresh, so this node enforces them at once).
type RepSpool struct {
	RepTarget
	path string
	max  int64
	log  *slog.Logger

	drainMu sync.Mutex // one drain at a time; held by Close too
	mu      sync.Mutex // the file's end, the counts and the overlay
	f       *os.File
	size    int64
	records int64
	entries []reputation.Entry
	bans    []reputation.Ban
	locks   []reputation.Lockout
	full    bool

	down atomic.Bool // the last write or drain failed

	// Spooled and Drained count records (a batch counts as one), Full the
	// writes refused because the file reached its bound (lost), Invalid
	// the spooled records the store refused on replay (lost).
	Spooled, Drained, Full, Invalid atomic.Int64
}

// Replay operations.
const (
	repEntries = "entries"
	repBan     = "ban"
	repLockout = "lockout"
	repEvents  = "events"
)

type repRecord struct {
	Key     string              `json:"k"`
	Op      string              `json:"op"`
	Entries []reputation.Entry  `json:"es,omitempty"`
	Ban     *reputation.Ban     `json:"b,omitempty"`
	Lockout *reputation.Lockout `json:"l,omitempty"`
	Events  []honeypot.Event    `json:"ev,omitempty"`
}

// OpenRepSpool opens (or creates) the buffer file name in dir, bounded to
// maxBytes, in front of dst. One process uses a file at a time. Records a
// killed node left there are kept for Drain (and laid over the node's
// snapshot meanwhile).
func OpenRepSpool(dst RepTarget, dir, name string, maxBytes int64, log *slog.Logger) (*RepSpool, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: reputation spool: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cluster: reputation spool: %w", err)
	}
	s := &RepSpool{RepTarget: dst, path: path, max: maxBytes, log: log, f: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: reputation spool: %w", err)
	}
	if s.size > 0 {
		s.down.Store(true) // until a drain says otherwise
		log.Warn("cluster: reputation writes left on local disk by an earlier run; replaying them", "records", s.records, "bytes", s.size)
	}
	return s, nil
}

// load reads what an earlier run left: the overlay and the counts.
func (s *RepSpool) load() error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	if s.size, err = dropTornTail(s.f, st.Size()); err != nil {
		return err
	}
	os.Remove(s.path + ".tmp") // a drain's unfinished rewrite: the file is whole
	return each(io.NewSectionReader(s.f, 0, s.size), func(r repRecord) error {
		s.records++
		s.remember(r)
		return nil
	}, func(error) {})
}

// each calls fn for every readable record of rd in order, and bad for
// every line it cannot read.
func each(rd io.Reader, fn func(repRecord) error, bad func(error)) error {
	br := bufio.NewReaderSize(rd, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a torn last line (no newline) was never acknowledged
		}
		if err != nil {
			return err
		}
		var r repRecord
		if err := json.Unmarshal(line, &r); err != nil || r.Key == "" {
			bad(err)
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// remember adds a buffered record's bans and entries to the overlay.
func (s *RepSpool) remember(r repRecord) {
	switch r.Op {
	case repEntries:
		s.entries = append(s.entries, r.Entries...)
	case repBan:
		if r.Ban != nil {
			s.bans = append(s.bans, *r.Ban)
		}
	case repLockout:
		if r.Lockout != nil {
			s.locks = append(s.locks, *r.Lockout)
		}
	}
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Overlay implements reputation.Overlayer: the entries and bans buffered
// and not yet written to the shared store.
func (s *RepSpool) Overlay() ([]reputation.Entry, []reputation.Ban) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries), slices.Clone(s.bans)
}

// OverlayLockouts implements reputation.LockOverlayer: the lockouts
// buffered and not yet written to the shared store.
func (s *RepSpool) OverlayLockouts() []reputation.Lockout {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.locks)
}

// RepSpoolStats is what the buffer holds and has done.
type RepSpoolStats struct {
	Bytes, Records                  int64
	Spooled, Drained, Full, Invalid int64
	Down                            bool
}

// Stats returns the buffer's counts.
func (s *RepSpool) Stats() RepSpoolStats {
	s.mu.Lock()
	b, n := s.size, s.records
	s.mu.Unlock()
	return RepSpoolStats{Bytes: b, Records: n, Spooled: s.Spooled.Load(), Drained: s.Drained.Load(),
		Full: s.Full.Load(), Invalid: s.Invalid.Load(), Down: s.down.Load()}
}

// Pending is the size of what waits in the buffer, in bytes.
func (s *RepSpool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// directTimeout bounds a write to the shared store before it is buffered
// instead: a PostgreSQL that hangs (rather than refuses) must not hold
// the guard or the honeypot, which wait for the buffer's lock.
const directTimeout = 5 * time.Second

// write tries direct (unless records wait already), and buffers r when
// the store fails for any reason but an invalid record.
func (s *RepSpool) write(ctx context.Context, r repRecord, direct func(ctx context.Context) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 {
		dctx, cancel := context.WithTimeout(ctx, directTimeout)
		err := direct(dctx)
		cancel()
		if err == nil || errors.Is(err, reputation.ErrInvalid) {
			if err == nil {
				s.down.Store(false)
			}
			return err
		}
		if !s.down.Swap(true) {
			s.log.Warn("cluster: shared reputation store unavailable; buffering reputation writes on local disk", "err", err)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if s.size+int64(len(b)) > s.max {
		s.Full.Add(1)
		if !s.full {
			s.full = true
			s.log.Error("cluster: reputation spool FULL: bans, entries and honeypot events are being LOST until PostgreSQL answers",
				"bytes", s.size, "max_bytes", s.max, "op", r.Op)
		}
		return ErrSpoolFull
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("cluster: reputation spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("cluster: reputation spool: %w", err)
	}
	s.size += int64(len(b))
	s.records++
	s.remember(r)
	s.Spooled.Add(1)
	return nil
}

// Upsert implements reputation.Store. A buffered entry is returned as
// given (normalized): the merge with the stored one happens on replay.
func (s *RepSpool) Upsert(ctx context.Context, e reputation.Entry) (reputation.Entry, error) {
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return e, err
	}
	out := e
	key := newKey()
	err := s.write(ctx, repRecord{Key: key, Op: repEntries, Entries: []reputation.Entry{e}}, func(ctx context.Context) error {
		var err error
		out, err = s.RepTarget.UpsertOnce(ctx, key, e)
		return err
	})
	if err != nil {
		return e, err
	}
	return out, nil
}

// UpsertBatch implements reputation.BatchUpserter.
func (s *RepSpool) UpsertBatch(ctx context.Context, es []reputation.Entry) error {
	if len(es) == 0 {
		return nil
	}
	now := time.Now()
	norm := make([]reputation.Entry, len(es))
	for i, e := range es {
		if err := reputation.Normalize(&e, now); err != nil {
			return err
		}
		norm[i] = e
	}
	key := newKey()
	return s.write(ctx, repRecord{Key: key, Op: repEntries, Entries: norm}, func(ctx context.Context) error {
		return s.RepTarget.UpsertBatchOnce(ctx, key, norm)
	})
}

// AddBan implements reputation.Store. A buffered ban is returned with id
// 0: it gets its id when it reaches the shared store.
func (s *RepSpool) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	if err := reputation.NormalizeBan(&b, time.Now()); err != nil {
		return b, err
	}
	out := b
	key := newKey()
	err := s.write(ctx, repRecord{Key: key, Op: repBan, Ban: &b}, func(ctx context.Context) error {
		var err error
		out, err = s.RepTarget.AddBanOnce(ctx, key, b)
		return err
	})
	if err != nil {
		return b, err
	}
	return out, nil
}

// BanCount implements reputation.Store: the store's count plus the bans
// buffered for the address. While the store is away the buffer's count
// alone is given (escalation then starts from what this node knows)
// rather than no ban at all.
func (s *RepSpool) BanCount(ctx context.Context, ip string) (int, error) {
	p, err := reputation.ParsePrefix(ip)
	if err != nil {
		return 0, &reputation.FieldError{Field: "ip", Msg: err.Error()}
	}
	ip = reputation.FormatPrefix(p)
	pending := 0
	s.mu.Lock()
	for i := range s.bans {
		if s.bans[i].IP == ip {
			pending++
		}
	}
	s.mu.Unlock()
	if s.down.Load() {
		return pending, nil
	}
	cctx, cancel := context.WithTimeout(ctx, directTimeout)
	defer cancel()
	n, err := s.RepTarget.BanCount(cctx, ip)
	if err != nil && !errors.Is(err, reputation.ErrInvalid) {
		return pending, nil
	}
	return n + pending, err
}

// PutLockout implements reputation.Store.
func (s *RepSpool) PutLockout(ctx context.Context, l reputation.Lockout) error {
	return s.write(ctx, repRecord{Key: newKey(), Op: repLockout, Lockout: &l}, func(ctx context.Context) error {
		return s.RepTarget.PutLockout(ctx, l)
	})
}

// AppendEvents implements honeypot.EventStore.
func (s *RepSpool) AppendEvents(ctx context.Context, evs []honeypot.Event) error {
	if len(evs) == 0 {
		return nil
	}
	key := newKey()
	return s.write(ctx, repRecord{Key: key, Op: repEvents, Events: evs}, func(ctx context.Context) error {
		return s.RepTarget.AppendEventsOnce(ctx, key, evs)
	})
}

// replay writes one buffered record with its key.
func (s *RepSpool) replay(ctx context.Context, r repRecord) error {
	switch r.Op {
	case repEntries:
		return s.RepTarget.UpsertBatchOnce(ctx, r.Key, r.Entries)
	case repBan:
		if r.Ban == nil {
			return reputation.ErrInvalid
		}
		_, err := s.RepTarget.AddBanOnce(ctx, r.Key, *r.Ban)
		return err
	case repLockout:
		if r.Lockout == nil {
			return reputation.ErrInvalid
		}
		return s.RepTarget.PutLockout(ctx, *r.Lockout) // the last one written wins: harmless twice
	case repEvents:
		return s.RepTarget.AppendEventsOnce(ctx, r.Key, r.Events)
	}
	return fmt.Errorf("%w: unknown spooled operation %q", reputation.ErrInvalid, r.Op)
}

// Drain writes every buffered record to the shared store in order and
// removes them from the buffer. It stops at the first failure and keeps
// every record: those already written are skipped by their keys next
// time. Writes are not held while it talks to the store: records
// buffered meanwhile go behind the ones it replays, and stay.
func (s *RepSpool) Drain(ctx context.Context) error {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	s.mu.Lock()
	end, f := s.size, s.f
	s.mu.Unlock()
	if end == 0 {
		return nil
	}
	// The first end bytes are not written again until this drain ends:
	// writes only append, and only a drain cuts.
	var n, recs int64
	var nEntries, nBans, nLocks int
	err := each(io.NewSectionReader(f, 0, end), func(r repRecord) error {
		err := s.replay(ctx, r)
		if errors.Is(err, reputation.ErrInvalid) {
			// Accepted when buffered, refused now (a newer schema's rule):
			// counted and logged, not retried forever.
			s.Invalid.Add(1)
			s.log.Error("cluster: buffered reputation write refused by the shared store", "op", r.Op, "err", err)
			err = nil
		} else if err == nil {
			n++
		}
		if err == nil {
			recs++
			switch r.Op {
			case repEntries:
				nEntries += len(r.Entries)
			case repBan:
				if r.Ban != nil {
					nBans++
				}
			case repLockout:
				if r.Lockout != nil {
					nLocks++
				}
			}
		}
		return err
	}, func(err error) {
		s.Invalid.Add(1)
		s.log.Error("cluster: unreadable reputation spool line skipped", "err", err)
	})
	if err != nil {
		s.down.Store(true)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cut(end); err != nil {
		return fmt.Errorf("cluster: reputation spool: %w", err)
	}
	s.records -= recs
	s.entries = slices.Clone(s.entries[nEntries:])
	s.bans = slices.Clone(s.bans[nBans:])
	s.locks = slices.Clone(s.locks[nLocks:])
	if s.size == 0 {
		s.full = false
		s.down.Store(false)
	}
	s.Drained.Add(n)
	s.log.Info("cluster: buffered reputation writes written to the shared store", "records", n, "still_buffered", s.records)
	return nil
}

// cut removes the first end bytes of the file (mu held). When records
// were buffered behind them, the rest is copied to a new file that
// replaces the old one whole (a crash meanwhile leaves the old one, to
// be replayed again harmlessly).
func (s *RepSpool) cut(end int64) error {
	if s.size == end {
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		s.size = 0
		return s.f.Sync()
	}
	tmp := s.path + ".tmp"
	t, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(t, io.NewSectionReader(s.f, end, s.size-end))
	if err == nil {
		err = t.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		t.Close()
		return err
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		d.Sync()
		d.Close()
	}
	s.f.Close()
	s.f = t // the renamed file, open for appending
	s.size -= end
	return nil
}

// Close closes the buffer file (not the store).
func (s *RepSpool) Close() error {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
