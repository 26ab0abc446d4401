package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/storetest"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// TestVoiceSuite runs the voice store conformance suite on a fresh
// database; every handle is on another connection pool, as another node
// holds.
func TestVoiceSuite(t *testing.T) {
	storetest.RunVoice(t, func(t *testing.T) *storetest.VoiceDB {
		dsn := newDSN(t, "voice")
		ctx := context.Background()
		exec := func(f func(c *pgx.Conn)) {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			f(c)
		}
		return &storetest.VoiceDB{
			Open: func(k *vstore.Keys) storetest.VoiceStore {
				return mustOnOwnPool(t, dsn, func(ctx context.Context, p *pgxpool.Pool) (*postgres.Voice, error) {
					return postgres.NewVoice(ctx, p, k)
				})
			},
			Raw: func() []byte {
				var out []byte
				exec(func(c *pgx.Conn) {
					for _, q := range []string{
						`SELECT convert_to(tenant||' '||id||' '||kind||' '||key_id, 'UTF8'), sealed FROM voice_subjects`,
						`SELECT convert_to(call_id||' '||key||' '||key_id, 'UTF8'), sealed FROM voice_call_stats`,
					} {
						rows, err := c.Query(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						for rows.Next() {
							var text, sealed []byte
							if err := rows.Scan(&text, &sealed); err != nil {
								t.Fatal(err)
							}
							out = append(append(append(out, text...), '\n'), sealed...)
						}
						if rows.Err() != nil {
							t.Fatal(rows.Err())
						}
					}
				})
				return out
			},
			CopySubject: func(tenant, from, to string) {
				exec(func(c *pgx.Conn) {
					if _, err := c.Exec(ctx, `INSERT INTO voice_subjects SELECT tenant,$1,kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=$2 AND id=$3`, to, tenant, from); err != nil {
						t.Fatal(err)
					}
				})
			},
		}
	})
}

// TestVoiceKindChangeWaitsForOtherNode: a put must learn a subject's
// former kind from the row as another node's transaction leaves it, not as
// it was before, or the kind the subject leaves keeps its generation and
// every node's cache keeps a stale watchlist. The other node is played by
// a transaction held open here.
func TestVoiceKindChangeWaitsForOtherNode(t *testing.T) {
	dsn := newDSN(t, "voice")
	ctx := context.Background()
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, err := postgres.NewVoice(ctx, pool, storetest.VoiceKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0).UTC()
	x := vstore.Subject{Tenant: "acme", ID: "x", Kind: vstore.KindCustomer, Model: "m", Created: now, Updated: now, Print: []byte("p")}
	if err := a.PutSubject(ctx, x); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The other node moves x to the watchlist (its sealed record is still
	// the customer one: only the kind matters here).
	var otherGen int64
	if _, err := tx.Exec(ctx, `UPDATE voice_subjects SET kind='fraudster' WHERE tenant='acme' AND id='x'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE voice_generation SET gen=gen+1 WHERE tenant='acme' AND kind='customer'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO voice_generation (tenant,kind,gen) VALUES ('acme','fraudster',1)
		ON CONFLICT (tenant,kind) DO UPDATE SET gen=voice_generation.gen+1 RETURNING gen`).Scan(&otherGen); err != nil {
		t.Fatal(err)
	}
	// This node puts x back as a customer while the other's transaction
	// is open: it must wait for the row.
	done := make(chan error, 1)
	go func() { done <- a.PutSubject(ctx, x) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname=current_database() AND wait_event_type='Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("put did not wait for the other node's transaction: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("put never waited on a lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// x left the watchlist, so the watchlist's generation must have moved
	// past the one the other node committed with x on it.
	if f := storetest.VoiceIDs(t, a, "acme", vstore.KindFraudster); len(f) != 0 {
		t.Fatalf("fraudsters %v, want none", f)
	}
	if g := storetest.VoiceGen(t, a, "acme", vstore.KindFraudster); g == fmt.Sprint(otherGen) {
		t.Errorf("x left the watchlist but its generation is still %s, the one a cache saw with x on it", g)
	}
}
