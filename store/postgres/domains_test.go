package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// domain is one store built on a borrowed pool (NewX(ctx, pool)), as the
// tests below see it.
type domain struct {
	name         string
	versionTable string
	steps        int
	open         func(ctx context.Context, pool *pgxpool.Pool) (interface{ Close() error }, error)
	// write stores one record; read checks it through the store; table
	// holds it.
	write, read func(ctx context.Context, s any) error
	table       string
}

var domainNow = time.Unix(1700000000, 0).UTC()

var domains = []domain{
	{"compliance", "compliance_schema_version", postgres.ComplianceSteps,
		func(ctx context.Context, p *pgxpool.Pool) (interface{ Close() error }, error) {
			return postgres.NewCompliance(ctx, p)
		},
		func(ctx context.Context, s any) error {
			_, err := s.(*postgres.Compliance).AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Source: "test"})
			return err
		},
		func(ctx context.Context, s any) error {
			c := s.(*postgres.Compliance)
			if got, err := c.OptOuts(ctx); err != nil || len(got) != 1 {
				return fmt.Errorf("OptOuts = %v, %v; want the one added", got, err)
			}
			if v, err := c.Version(ctx); err != nil || v == 0 {
				return fmt.Errorf("Version = %d, %v; want the raised version", v, err)
			}
			return nil
		}, "compliance_opt_outs"},
	{"console", "console_schema_version", postgres.UserSteps,
		func(ctx context.Context, p *pgxpool.Pool) (interface{ Close() error }, error) {
			return postgres.NewUsers(ctx, p)
		},
		func(ctx context.Context, s any) error {
			return s.(*postgres.Users).AddUser(ctx, auth.User{Name: "alice", Role: auth.RoleOperator, PasswordHash: "h", Created: domainNow, Updated: domainNow})
		},
		func(ctx context.Context, s any) error {
			if u, err := s.(*postgres.Users).User(ctx, "alice"); err != nil || u.Name != "alice" {
				return fmt.Errorf("User = %+v, %v", u, err)
			}
			return nil
		}, "console_users"},
	{"actions", "actions_schema_version", postgres.ActionSteps,
		func(ctx context.Context, p *pgxpool.Pool) (interface{ Close() error }, error) {
			return postgres.NewActions(ctx, p)
		},
		func(ctx context.Context, s any) error {
			_, err := s.(*postgres.Actions).AddAction(ctx, action.Record{Tenant: "acme", Kind: "number", Value: "+4930111", Verdict: action.Reject})
			return err
		},
		func(ctx context.Context, s any) error {
			if rs, err := s.(*postgres.Actions).ListActions(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].Value != "+4930111" {
				return fmt.Errorf("ListActions = %+v, %v", rs, err)
			}
			return nil
		}, "detector_actions"},
	{"reputation", "reputation_schema_version", postgres.ReputationSteps,
		func(ctx context.Context, p *pgxpool.Pool) (interface{ Close() error }, error) {
			return postgres.NewReputation(ctx, p)
		},
		func(ctx context.Context, s any) error {
			_, err := s.(*postgres.Reputation).Upsert(ctx, reputation.Entry{Kind: "number", Value: "+4930111", Hits: 1, Source: "manual"})
			return err
		},
		func(ctx context.Context, s any) error {
			if e, err := s.(*postgres.Reputation).Get(ctx, "number", "+4930111"); err != nil || e.Hits != 1 {
				return fmt.Errorf("Get = %+v, %v", e, err)
			}
			return nil
		}, "reputation_entries"},
	{"voice", "voice_schema_version", postgres.VoiceSteps,
		func(ctx context.Context, p *pgxpool.Pool) (interface{ Close() error }, error) {
			k, err := vstore.NewKeys(make([]byte, 32))
			if err != nil {
				return nil, err
			}
			return postgres.NewVoice(ctx, p, k)
		},
		func(ctx context.Context, s any) error {
			return s.(*postgres.Voice).PutSubject(ctx, vstore.Subject{Tenant: "acme", ID: "acct-1", Kind: vstore.KindCustomer, Model: "m", Created: domainNow, Updated: domainNow, Print: []byte("p")})
		},
		func(ctx context.Context, s any) error {
			if sub, err := s.(*postgres.Voice).GetSubject(ctx, "acme", "acct-1"); err != nil || string(sub.Print) != "p" {
				return fmt.Errorf("GetSubject = %+v, %v", sub, err)
			}
			return nil
		}, "voice_subjects"},
}

// TestDomainsMigrateConcurrently: for every domain, nodes starting at
// once bring the schema up exactly once (one version row, the binary's
// version), and a newer schema than the binary knows is refused, not used.
func TestDomainsMigrateConcurrently(t *testing.T) {
	for _, d := range domains {
		t.Run(d.name, func(t *testing.T) {
			dsn := newDSN(t, d.name)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { _, errs[i] = onOwnPool(t, dsn, d.open) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("node %d: %v", i, err)
				}
			}
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			var n, v int
			if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM `+d.versionTable).Scan(&n, &v); err != nil || n != 1 || v != d.steps {
				t.Fatalf("%s holds %d rows, version %d, %v; want one row, %d", d.versionTable, n, v, err, d.steps)
			}
			if _, err := c.Exec(ctx, `UPDATE `+d.versionTable+` SET version = version + 1`); err != nil {
				t.Fatal(err)
			}
			if _, err := onOwnPool(t, dsn, d.open); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Fatalf("opening a newer schema: %v", err)
			}
		})
	}
}

// TestDomainsBorrowPool: for every domain, NewX on a pool the caller owns
// migrates the tables and works; closing the store leaves that pool
// usable; a second store on the same pool (migration done) works too; a
// nil pool is refused.
func TestDomainsBorrowPool(t *testing.T) {
	for _, d := range domains {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			pool, err := pgschema.Connect(ctx, "test", newDSN(t, d.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if _, err := d.open(ctx, nil); err == nil {
				t.Error("a nil pool was accepted")
			}
			s, err := d.open(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.write(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := d.read(ctx, s); err != nil {
				t.Fatalf("on the borrowed pool: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+d.table).Scan(&n); err != nil {
				t.Fatalf("the borrowed pool after the store's Close: %v (Close closed a pool it does not own)", err)
			}
			if n != 1 {
				t.Errorf("rows of %s read through the pool = %d, want 1", d.table, n)
			}
			s2, err := d.open(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := d.read(ctx, s2); err != nil {
				t.Errorf("a second store on the pool: %v", err)
			}
		})
	}
}

// TestVoiceNeedsKeys: voice records are never stored in the clear.
func TestVoiceNeedsKeys(t *testing.T) {
	pool, err := pgschema.Connect(context.Background(), "test", newDSN(t, "voice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.NewVoice(context.Background(), pool, nil); !errors.Is(err, vstore.ErrNoKeys) {
		t.Errorf("NewVoice without keys = %v, want ErrNoKeys", err)
	}
}
