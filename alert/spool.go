package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// spool keeps the alerts the store refused in a local file, one JSON line
// each, fsynced before Raise returns, and writes them to the store in
// order once it answers again. While it holds any, new alerts queue
// behind them, so the store receives alerts in the order they were raised.
type spool struct {
	path string
	max  int64 // bytes

	mu      sync.Mutex
	f       *os.File
	size    int64
	pending int

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// ErrSpoolFull is returned (and counted as a store error) when the store
// refuses an alert and the spool file has reached its size bound.
var ErrSpoolFull = errors.New("alert: spool full")

// SpoolTo makes the manager keep alerts the store refuses in the file at
// path (at most maxBytes; 0 means 64 MiB) and write them to the store in
// order, every second and at Close, once it accepts them again. Alerts
// left in the file by an earlier process are replayed the same way.
// A crash during a replay can store up to replayChunk alerts twice;
// none is lost.
func (m *Manager) SpoolTo(path string, maxBytes int64) error {
	if m.st == nil {
		return errors.New("alert: a spool needs a store")
	}
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("alert: spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("alert: spool: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return fmt.Errorf("alert: spool: %w", err)
	}
	sp := &spool{path: path, max: maxBytes, f: f, size: fi.Size(), pending: bytes.Count(raw, []byte{'\n'}), stop: make(chan struct{}), done: make(chan struct{})}
	m.sp = sp
	go func() {
		defer close(sp.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			m.replay(context.Background())
			select {
			case <-sp.stop:
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Spooled returns how many alerts wait in the spool for the store.
func (m *Manager) Spooled() int {
	if m.sp == nil {
		return 0
	}
	m.sp.mu.Lock()
	defer m.sp.mu.Unlock()
	return m.sp.pending
}

// store stores a, through the spool when there is one: straight to the
// store while the spool is empty and the store accepts it, else appended
// to the spool file (fsynced). It returns a with the store's ID, or ID 0
// when spooled.
func (m *Manager) store(ctx context.Context, a store.Alert) (store.Alert, error) {
	sp := m.sp
	if sp == nil {
		return m.st.AddAlert(ctx, a)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.pending == 0 {
		stored, err := m.st.AddAlert(ctx, a)
		if err == nil {
			return stored, nil
		}
		m.log.Warn("alert: store refused an alert; spooling it", "err", err, "code", a.Code, "spool", sp.path)
	}
	line, err := json.Marshal(a)
	if err != nil {
		return a, err
	}
	line = append(line, '\n')
	if sp.size+int64(len(line)) > sp.max {
		return a, fmt.Errorf("%w (%d bytes, %s)", ErrSpoolFull, sp.max, sp.path)
	}
	if _, err := sp.f.Write(line); err != nil {
		return a, fmt.Errorf("alert: spool: %w", err)
	}
	if err := sp.f.Sync(); err != nil {
		return a, fmt.Errorf("alert: spool: %w", err)
	}
	sp.size += int64(len(line))
	sp.pending++
	return a, nil
}

// replayChunk is how many replayed alerts are stored between two rewrites
// of the spool file.
const replayChunk = 64

// replay writes the spooled alerts to the store in order, stopping at the
// first refusal; what was stored leaves the file.
func (m *Manager) replay(ctx context.Context) {
	sp := m.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.pending == 0 {
		return
	}
	raw, err := os.ReadFile(sp.path)
	if err != nil {
		m.log.Error("alert: reading the spool", "err", err, "spool", sp.path)
		return
	}
	lines := bytes.SplitAfter(raw, []byte{'\n'})
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	done, stored := 0, 0
	for i, l := range lines {
		var a store.Alert
		if err := json.Unmarshal(l, &a); err != nil {
			m.log.Error("alert: unreadable spool line skipped", "err", err, "spool", sp.path)
			done = i + 1
			continue
		}
		if _, err := m.st.AddAlert(ctx, a); err != nil {
			break
		}
		done, stored = i+1, stored+1
		if stored%replayChunk == 0 {
			if err := sp.rewrite(lines[done:]); err != nil {
				m.log.Error("alert: rewriting the spool", "err", err, "spool", sp.path)
				return
			}
		}
	}
	if done > 0 {
		if err := sp.rewrite(lines[done:]); err != nil {
			m.log.Error("alert: rewriting the spool", "err", err, "spool", sp.path)
			return
		}
		m.log.Info("alert: spooled alerts stored", "stored", stored, "left", sp.pending)
	}
}

// rewrite replaces the spool file with rest (write, fsync, rename, fsync
// of the directory) and reopens it for appending.
func (sp *spool) rewrite(rest [][]byte) error {
	tmp := sp.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var size int64
	for _, l := range rest {
		n, _ := w.Write(l)
		size += int64(n)
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, sp.path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(sp.path)); err == nil {
		d.Sync()
		d.Close()
	}
	nf, err := os.OpenFile(sp.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	sp.f.Close()
	sp.f, sp.size, sp.pending = nf, size, len(rest)
	return nil
}

// closeSpool stops the replay loop, tries once more and closes the file.
func (m *Manager) closeSpool() {
	if m.sp == nil {
		return
	}
	m.sp.once.Do(func() {
		close(m.sp.stop)
		<-m.sp.done
		m.replay(context.Background())
		m.sp.mu.Lock()
		m.sp.f.Close()
		m.sp.mu.Unlock()
	})
}
