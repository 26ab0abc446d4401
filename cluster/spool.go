package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/tollgate-voip/tollgate/store"
)

// ErrSpoolFull is returned when the shared store is away and the spool has
// reached its size bound: the caller keeps the records (the decision log
// retries and counts what it finally drops).
var ErrSpoolFull = errors.New("cluster: spool full")

// Spool writes decisions and call events to the shared store, and when
// that fails keeps them in an append-only file on local disk (fsynced
// before the write is acknowledged), bounded in size. Once anything is
// spooled, later records go behind it so order is kept; Drain writes the
// file to the store and empties it. A node killed while records are
// spooled drains them when it starts again.
type Spool struct {
	dst  store.Decisions
	path string
	max  int64
	log  *slog.Logger

	mu   sync.Mutex
	f    *os.File
	size int64

	Spooled, Drained, Full, Invalid atomic.Int64
}

type spoolRecord struct {
	D []store.Decision  `json:"d,omitempty"`
	E []store.CallEvent `json:"e,omitempty"`
}

// OpenSpool opens (or creates) the spool in dir, bounded to maxBytes.
func OpenSpool(dst store.Decisions, dir string, maxBytes int64, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: spool: %w", err)
	}
	path := filepath.Join(dir, "records.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cluster: spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: spool: %w", err)
	}
	size, err := dropTornTail(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: spool: %w", err)
	}
	return &Spool{dst: dst, path: path, max: maxBytes, log: log, f: f, size: size}, nil
}

// dropTornTail cuts a last line a crash left without its newline (it was
// never acknowledged), so the next record does not run into it.
func dropTornTail(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				keep := end - n + i + 1
				if keep == size {
					return size, nil
				}
				return keep, f.Truncate(keep)
			}
		}
		end -= n
	}
	return 0, f.Truncate(0)
}

// Pending is the size of what waits in the spool, in bytes.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// AppendDecisions writes ds to the store, or to the spool when the store
// fails (or records are already spooled).
func (s *Spool) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	return s.append(ctx, spoolRecord{D: ds}, func() error { return s.dst.AppendDecisions(ctx, ds) })
}

// AppendCallEvents is AppendDecisions for call events.
func (s *Spool) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	return s.append(ctx, spoolRecord{E: es}, func() error { return s.dst.AppendCallEvents(ctx, es) })
}

func (s *Spool) append(_ context.Context, r spoolRecord, direct func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 {
		err := direct()
		if err == nil || errors.Is(err, store.ErrInvalid) {
			return err // bad records are the caller's to report, not to keep
		}
		s.log.Warn("cluster: shared store unavailable; spooling records to local disk", "err", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if s.size+int64(len(b)) > s.max {
		s.Full.Add(1)
		return ErrSpoolFull
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("cluster: spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("cluster: spool: %w", err)
	}
	s.size += int64(len(b))
	s.Spooled.Add(int64(len(r.D) + len(r.E)))
	return nil
}

// Drain writes every spooled record to the store in order and empties the
// spool. It stops at the first failure, keeping what is not yet written
// (records are idempotent: one written twice is stored once).
func (s *Spool) Drain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 {
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rd := bufio.NewReaderSize(s.f, 1<<16)
	n := int64(0)
	for {
		line, err := rd.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a torn last line (no newline) was never acknowledged
		}
		if err != nil {
			return err
		}
		var r spoolRecord
		if err := json.Unmarshal(line, &r); err != nil {
			s.Invalid.Add(1)
			s.log.Error("cluster: unreadable spool line skipped", "err", err)
			continue
		}
		if len(r.D) > 0 {
			err = s.dst.AppendDecisions(ctx, r.D)
		} else if len(r.E) > 0 {
			err = s.dst.AppendCallEvents(ctx, r.E)
		}
		if errors.Is(err, store.ErrInvalid) {
			// Accepted when spooled, refused by the store now (a newer
			// schema's rule): counted and logged, not retried forever.
			s.Invalid.Add(int64(len(r.D) + len(r.E)))
			s.log.Error("cluster: spooled records refused by the shared store", "records", len(r.D)+len(r.E), "err", err)
		} else if err != nil {
			// Keep the rest; the records already written are stored
			// again harmlessly next time.
			return err
		}
		n += int64(len(r.D) + len(r.E))
	}
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.size = 0
	s.Drained.Add(n)
	s.log.Info("cluster: spooled records written to the shared store", "records", n)
	return nil
}

// Close closes the spool file.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
