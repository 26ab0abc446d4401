package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a statement waits for another connection or
// process to release its lock before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// file is one domain's handle on its database file: the helper every
// domain of this package opens its file with, so that all of them get
// the same settings and the same migration rules.
type file struct {
	// w holds the single connection this process writes through, so that
	// writers in one process queue in Go instead of spinning on the file lock.
	w *sql.DB
	// r serves reads; in WAL mode they never wait for the writer.
	r *sql.DB
}

// schema is one domain's tables: the steps that build them, in order and
// only ever appended to (a released step is never edited), and the table
// that records how many have run. Several domains may share a file, each
// with its own version table.
type schema struct {
	name         string // in errors: "reputation schema version 4 …"
	versionTable string
	steps        []string
}

// fileOptions are what differs between the domains' files.
type fileOptions struct {
	// normalSync trades the last commits before a power cut for cheaper
	// writes (synchronous=NORMAL); the default, FULL, keeps every
	// acknowledged commit.
	normalSync bool
	// cacheKiB sizes the page cache of each connection; 0 keeps SQLite's.
	cacheKiB int
	// private makes the file readable by its owner only (it holds secrets).
	private bool
}

// openFile opens the database at path, creating it and its parent
// directory if missing, and brings sc's tables up to date. Errors start
// with who.
func openFile(who, path string, sc schema, o fileOptions) (file, error) {
	fail := func(err error) (file, error) { return file{}, fmt.Errorf("%s: open %q: %w", who, path, err) }
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return fail(errors.New("want a file path"))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return fail(err)
	}
	dsn := dataSourceName(abs, o)
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fail(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return fail(err)
	}
	r.SetMaxIdleConns(4)
	f := file{w: w, r: r}
	if err := f.init(context.Background(), sc); err != nil {
		f.Close()
		return fail(err)
	}
	if o.private {
		if err := os.Chmod(abs, 0o600); err != nil {
			f.Close()
			return fail(err)
		}
	}
	return f, nil
}

// dataSourceName builds the driver DSN for the absolute path abs. Every
// connection gets the same settings: WAL, a busy timeout for lock waits
// between processes, foreign keys on, and BEGIN IMMEDIATE for
// transactions so that a read-then-write transaction never fails to
// upgrade its lock.
func dataSourceName(abs string, o fileOptions) string {
	u := url.URL{Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	if o.normalSync {
		q.Set("_synchronous", "NORMAL")
	}
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	if o.cacheKiB > 0 {
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", o.cacheKiB))
	}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// init checks the connection settings and applies pending migrations.
func (f file) init(ctx context.Context, sc schema) error {
	var mode string
	if err := f.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return sc.migrate(ctx, f.w)
}

// Close closes both pools. Pending writes have already been committed.
func (f file) Close() error {
	return errors.Join(f.r.Close(), f.w.Close())
}

// migrate brings the tables up to the latest version in one transaction
// (BEGIN IMMEDIATE: one migrator at a time). A database written by a
// newer binary is refused rather than guessed at.
func (sc schema) migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer rollback(tx)
	latest := len(sc.steps)
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+sc.versionTable+` (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+sc.versionTable).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	switch {
	case have > latest:
		return fmt.Errorf("%s schema version %d is newer than this binary supports (%d); upgrade tollgate", sc.name, have, latest)
	case have == latest:
		return nil
	}
	for v := have; v < latest; v++ {
		if _, err := tx.ExecContext(ctx, sc.steps[v]); err != nil {
			return fmt.Errorf("migrate to %s schema version %d: %w", sc.name, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+sc.versionTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+sc.versionTable+` (version) VALUES (?)`, latest); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// write runs f in a transaction on the writing connection; when bump is
// not empty it is executed in the same transaction after f (a data
// version raised with every change, so that a reader that sees the new
// version also sees the change). When f fails nothing is written.
func (f file) write(ctx context.Context, bump string, fn func(tx *sql.Tx) error) error {
	tx, err := f.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if err := fn(tx); err != nil {
		return err
	}
	if bump != "" {
		if _, err := tx.ExecContext(ctx, bump); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rollback ends tx after a failure; its own error adds nothing.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
