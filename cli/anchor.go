package cli

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/store"
)

// Audit anchors. The audit log's SHA-256 chain shows a broken or edited
// row, but not a rewrite that recomputes every hash after the edit, nor
// rows cut off the end: anyone who can write the database can do both.
// An anchor pins the chain from outside: the id and hash of the newest
// entry, with an HMAC-SHA256 under a key that is not in the data
// directory (an environment variable, filled from a secrets store). A
// running server appends one to the anchor file (meant to live off the
// box: a remote mount, or shipped by the log pipeline; it is also logged)
// within a second of the log growing; 'tollgate audit verify -anchors'
// then checks that every anchored entry is still there with its hash.
// A rewrite changes the hash at the next anchored id; a truncation
// removes an anchored id; a forged anchor fails its MAC. Entries newer
// than the last anchor (under a second's worth) are covered only by the
// chain.

// anchor is one line of the anchor file.
type anchor struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"` // the entry's time
	Hash string    `json:"hash"`
	MAC  string    `json:"mac"`
}

func anchorMAC(key []byte, id int64, hash string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "tollgate-audit-anchor|%d|%s", id, hash)
	return hex.EncodeToString(m.Sum(nil))
}

// auditKey decodes the anchor key s, read from the environment variable
// env: hex, at least 16 bytes.
func auditKey(s config.Secret, env string) ([]byte, error) {
	v := strings.TrimSpace(s.Reveal())
	if v == "" {
		return nil, fmt.Errorf("audit anchor key: environment variable %s is empty or unset", env)
	}
	k, err := hex.DecodeString(v)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("audit anchor key: %s must hold at least 32 hex digits (e.g. from 'openssl rand -hex 32')", env)
	}
	return k, nil
}

// insideDir reports whether path lies in dir.
func insideDir(path, dir string) bool {
	ap, err1 := filepath.Abs(path)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// anchorer appends an anchor whenever the audit log has grown.
type anchorer struct {
	st   store.Audit
	key  []byte
	file string
	log  *slog.Logger

	last  anchor    // newest entry anchored
	since time.Time // ListAudit from here
}

func newAnchorer(st store.Audit, key []byte, file, dataDir string, log *slog.Logger) (*anchorer, error) {
	if insideDir(file, dataDir) {
		return nil, fmt.Errorf("audit anchor file %s is inside the data directory: anyone who can rewrite the log could rewrite it too; put it elsewhere, ideally off the box", file)
	}
	a := &anchorer{st: st, key: key, file: file, log: log}
	// Resume from the newest anchor already written.
	if as, err := readAnchors(file); err == nil && len(as) > 0 {
		a.last = as[len(as)-1]
		a.since = a.last.Time
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return a, nil
}

// tick anchors the newest entry if it is not anchored yet.
func (a *anchorer) tick(ctx context.Context) error {
	var newest store.AuditEntry
	if err := walkAudit(ctx, a.st, a.since, func(e store.AuditEntry) error {
		newest = e
		return nil
	}); err != nil {
		return err
	}
	if newest.ID == 0 || newest.ID == a.last.ID && newest.Hash == a.last.Hash {
		return nil
	}
	an := anchor{ID: newest.ID, Time: newest.Time.UTC(), Hash: newest.Hash, MAC: anchorMAC(a.key, newest.ID, newest.Hash)}
	line, _ := json.Marshal(an)
	f, err := os.OpenFile(a.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	a.log.Info("audit anchor", "id", an.ID, "hash", an.Hash, "mac", an.MAC)
	a.last, a.since = an, an.Time
	return nil
}

func readAnchors(path string) ([]anchor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []anchor
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var a anchor
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return nil, fmt.Errorf("%s:%d: not an anchor: %v", path, n, err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// checkAnchors checks the log against anchors: every anchor's MAC, and
// that its entry is still there with its hash. entries maps id → hash.
func checkAnchors(anchors []anchor, key []byte, entries map[int64]string, lastID int64) error {
	for i, a := range anchors {
		if !hmac.Equal([]byte(anchorMAC(key, a.ID, a.Hash)), []byte(a.MAC)) {
			return fmt.Errorf("audit anchor %d (entry %d) has a bad MAC: the anchor file was edited, or the key is wrong", i+1, a.ID)
		}
		h, ok := entries[a.ID]
		switch {
		case !ok && a.ID > lastID:
			return fmt.Errorf("audit log TRUNCATED: anchored entry %d is gone (the log ends at %d)", a.ID, lastID)
		case !ok:
			return fmt.Errorf("audit log TAMPERED: anchored entry %d is missing", a.ID)
		case h != a.Hash:
			return fmt.Errorf("audit log TAMPERED: entry %d's hash is %s, anchored as %s (rewritten with recomputed hashes)", a.ID, h, a.Hash)
		}
	}
	return nil
}

// verifyAnchors reads path and checks st against it.
func verifyAnchors(ctx context.Context, st store.Audit, path string, key []byte, out io.Writer) error {
	anchors, err := readAnchors(path)
	if err != nil {
		return err
	}
	entries := map[int64]string{}
	var lastID int64
	if err := walkAudit(ctx, st, time.Time{}, func(e store.AuditEntry) error {
		entries[e.ID] = e.Hash
		lastID = e.ID
		return nil
	}); err != nil {
		return err
	}
	if err := checkAnchors(anchors, key, entries, lastID); err != nil {
		return err
	}
	fmt.Fprintf(out, "audit anchors verified: %d anchors, the newest at entry %s.\n", len(anchors), lastAnchorID(anchors))
	return nil
}

func lastAnchorID(as []anchor) string {
	if len(as) == 0 {
		return "(none)"
	}
	return strconv.FormatInt(as[len(as)-1].ID, 10)
}
