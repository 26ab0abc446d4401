package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/internal/sqlq"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// Voice is the shared voice store of cluster mode: the voice tables in
// the cluster's PostgreSQL database, so every node sees the same
// voiceprints, watchlist, results and passive statistics. Records are
// sealed with vstore.Keys exactly as in store/sqlite.Voice (same
// encoding, same associated data), so every node needs the same keys.
// Times are kept as Unix nanoseconds, as in SQLite, so they round-trip
// exactly.
type Voice struct {
	pool *pgxpool.Pool
	keys *vstore.Keys
}

var _ vstore.Store = (*Voice)(nil)

// voiceMigrations holds the voice schema, one step per version; steps are
// only ever appended. The version lives in its own table so the voice
// tables can share a database with store/postgres.
var voiceMigrations = []string{
	// 1: initial schema.
	`
CREATE TABLE voice_subjects (
	tenant     text NOT NULL,
	id         text NOT NULL,
	kind       text NOT NULL,
	key_id     text NOT NULL,
	sealed     bytea NOT NULL,
	created_ns bigint NOT NULL,
	updated_ns bigint NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX voice_subjects_kind ON voice_subjects (tenant, kind);
CREATE INDEX voice_subjects_key_id ON voice_subjects (key_id);

-- One counter per tenant and kind, raised in the transaction that changes
-- the subjects, so every node's cache can tell it is stale.
CREATE TABLE voice_generation (
	tenant text NOT NULL,
	kind   text NOT NULL,
	gen    bigint NOT NULL,
	PRIMARY KEY (tenant, kind)
);

CREATE TABLE voice_results (
	seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	call_id  text NOT NULL,
	tenant   text NOT NULL,
	time_ns  bigint NOT NULL,
	op       text NOT NULL,
	subject  text NOT NULL,
	decision text NOT NULL,
	score    double precision NOT NULL,
	llr      double precision NOT NULL,
	speech   double precision NOT NULL,
	risk     integer NOT NULL,
	reason   text NOT NULL
);
CREATE INDEX voice_results_call ON voice_results (call_id);

CREATE TABLE voice_call_stats (
	call_id    text NOT NULL,
	key        text NOT NULL,
	key_id     text NOT NULL,
	sealed     bytea NOT NULL,
	updated_ns bigint NOT NULL,
	PRIMARY KEY (call_id, key)
);
CREATE INDEX voice_call_stats_updated ON voice_call_stats (updated_ns);
`,
}

// NewVoice builds the voice store on pool, which the caller keeps:
// Close leaves it open. It brings the voice tables up to date; several
// nodes may do so at once. keys seal the records.
func NewVoice(ctx context.Context, pool *pgxpool.Pool, keys *vstore.Keys) (*Voice, error) {
	if keys == nil {
		return nil, vstore.ErrNoKeys
	}
	if err := onPool(ctx, "voice store", pool, voiceSchema); err != nil {
		return nil, err
	}
	return &Voice{pool: pool, keys: keys}, nil
}

// voiceSchema is the voice tables and their version record.
var voiceSchema = pgschema.Schema{Name: "voice", VersionTable: "voice_schema_version", Lock: pgschema.LockVoice, Steps: voiceMigrations}

// Close does nothing: the pool belongs to the caller.
func (s *Voice) Close() error { return nil }

// PutSubject creates or replaces a subject and raises the generation of
// its kind, and of its former kind when that differs.
func (s *Voice) PutSubject(ctx context.Context, sub vstore.Subject) error {
	kid, sealed, err := s.keys.SealSubject(sub)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The former kind must be read under the row's lock: two nodes
		// moving one subject between kinds at once must each see what the
		// other wrote, or a kind's generation could miss a change. A row
		// that does not exist yet cannot be locked, so it is inserted; if
		// another node inserted it first, its row is locked and updated.
		oldKind, inserted := "", false
		for !inserted {
			err := tx.QueryRow(ctx, `SELECT kind FROM voice_subjects WHERE tenant=$1 AND id=$2 FOR UPDATE`, sub.Tenant, sub.ID).Scan(&oldKind)
			if err == nil {
				if _, err := tx.Exec(ctx, `UPDATE voice_subjects SET kind=$3, key_id=$4, sealed=$5, updated_ns=$6 WHERE tenant=$1 AND id=$2`,
					sub.Tenant, sub.ID, sub.Kind, kid, sealed, sub.Updated.UnixNano()); err != nil {
					return err
				}
				break
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO voice_subjects (tenant,id,kind,key_id,sealed,created_ns,updated_ns) VALUES ($1,$2,$3,$4,$5,$6,$7)
				ON CONFLICT (tenant,id) DO NOTHING`, sub.Tenant, sub.ID, sub.Kind, kid, sealed, sub.Created.UnixNano(), sub.Updated.UnixNano())
			if err != nil {
				return err
			}
			inserted = tag.RowsAffected() == 1
		}
		// Generation rows are locked in one order (sorted kinds) so two
		// puts moving subjects in opposite directions cannot deadlock.
		kinds := []string{sub.Kind, oldKind}
		slices.Sort(kinds)
		for i, k := range kinds {
			if k == "" || i > 0 && k == kinds[i-1] {
				continue
			}
			if err := bumpVoiceGen(ctx, tx, sub.Tenant, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func bumpVoiceGen(ctx context.Context, tx pgx.Tx, tenant, kind string) error {
	_, err := tx.Exec(ctx, `INSERT INTO voice_generation (tenant,kind,gen) VALUES ($1,$2,1)
		ON CONFLICT (tenant,kind) DO UPDATE SET gen=voice_generation.gen+1`, tenant, kind)
	return err
}

// GetSubject reads one subject.
func (s *Voice) GetSubject(ctx context.Context, tenant, id string) (vstore.Subject, error) {
	var kind, kid string
	var sealed []byte
	var created, updated int64
	err := s.pool.QueryRow(ctx, `SELECT kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=$1 AND id=$2`, tenant, id).
		Scan(&kind, &kid, &sealed, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return vstore.Subject{}, vstore.ErrNotFound
	}
	if err != nil {
		return vstore.Subject{}, err
	}
	return s.keys.OpenSubject(tenant, id, kind, kid, sealed, created, updated)
}

// DeleteSubject removes a subject and everything sealed with it.
func (s *Voice) DeleteSubject(ctx context.Context, tenant, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var kind string
		err := tx.QueryRow(ctx, `DELETE FROM voice_subjects WHERE tenant=$1 AND id=$2 RETURNING kind`, tenant, id).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return vstore.ErrNotFound
		}
		if err != nil {
			return err
		}
		return bumpVoiceGen(ctx, tx, tenant, kind)
	})
}

// Subjects lists a tenant's subjects of one kind.
func (s *Voice) Subjects(ctx context.Context, tenant, kind string) ([]vstore.Subject, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+vstore.SubjectCols+` FROM voice_subjects WHERE tenant=$1 AND kind=$2 ORDER BY id`, tenant, kind)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (vstore.Subject, error) { return s.keys.ScanSubject(r, tenant, kind) })
}

// Generation implements Store: one indexed read, cheap enough to ask on
// every identification.
func (s *Voice) Generation(ctx context.Context, tenant, kind string) (string, error) {
	var g int64
	err := s.pool.QueryRow(ctx, `SELECT gen FROM voice_generation WHERE tenant=$1 AND kind=$2`, tenant, kind).Scan(&g)
	if errors.Is(err, pgx.ErrNoRows) {
		return "0", nil
	}
	return fmt.Sprint(g), err
}

// AddResult records a result against a call.
func (s *Voice) AddResult(ctx context.Context, r vstore.Result) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO voice_results (call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		r.CallID, r.Tenant, r.Time.UnixNano(), r.Op, r.Subject, r.Decision, r.Score, r.LLR, r.Speech, r.Risk, r.Reason)
	return err
}

// Results implements Store.
func (s *Voice) Results(ctx context.Context, callIDs []string) (map[string][]vstore.Result, error) {
	if len(callIDs) == 0 {
		return map[string][]vstore.Result{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+vstore.ResultCols+` FROM voice_results WHERE call_id = ANY($1) ORDER BY seq`, callIDs)
	rs, err := sqlq.Collect(rows, err, vstore.ScanResult)
	if err != nil {
		return nil, err
	}
	return vstore.ByCall(rs), nil
}

// CallStats implements Store; nil, nil when there are none.
func (s *Voice) CallStats(ctx context.Context, callID, key string) ([]byte, error) {
	var kid string
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT key_id,sealed FROM voice_call_stats WHERE call_id=$1 AND key=$2`, callID, key).Scan(&kid, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.keys.OpenStats(callID, key, kid, sealed)
}

// PutCallStats implements Store.
func (s *Voice) PutCallStats(ctx context.Context, callID, key string, stats []byte, now time.Time) error {
	kid, sealed, err := s.keys.SealStats(callID, key, stats)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO voice_call_stats (call_id,key,key_id,sealed,updated_ns) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (call_id,key) DO UPDATE SET key_id=excluded.key_id, sealed=excluded.sealed, updated_ns=excluded.updated_ns`, callID, key, kid, sealed, now.UnixNano())
	return err
}

// ExpireCallStats implements Store.
func (s *Voice) ExpireCallStats(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM voice_call_stats WHERE updated_ns < $1`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// Rekey re-seals with the current key every subject sealed with another
// one, and returns how many it re-sealed. Each record is rewritten only if
// it is still the one that was read, so a subject another node replaced
// meanwhile is left as that node wrote it.
func (s *Voice) Rekey(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant,id FROM voice_subjects WHERE key_id<>$1`, s.keys.Current())
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var k [2]string
		err := r.Scan(&k[0], &k[1])
		return k, err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range ids {
		var kind, kid string
		var sealed []byte
		err := s.pool.QueryRow(ctx, `SELECT kind,key_id,sealed FROM voice_subjects WHERE tenant=$1 AND id=$2`, k[0], k[1]).Scan(&kind, &kid, &sealed)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted meanwhile
		}
		if err != nil {
			return n, err
		}
		if kid == s.keys.Current() {
			continue
		}
		newKid, resealed, err := s.keys.ResealSubject(k[0], k[1], kid, sealed)
		if err != nil {
			return n, err
		}
		done := false
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE voice_subjects SET key_id=$3, sealed=$4 WHERE tenant=$1 AND id=$2 AND key_id=$5 AND sealed=$6`,
				k[0], k[1], newKid, resealed, kid, sealed)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			done = true
			return bumpVoiceGen(ctx, tx, k[0], kind)
		})
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}
