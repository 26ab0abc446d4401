package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// TestPartsOrder: components start in the order added and close in
// reverse; a failed start stops there, and Close still closes every
// component added, started or not, joining their errors.
func TestPartsOrder(t *testing.T) {
	var log []string
	part := func(name string, startErr, closeErr error) Component {
		return Funcs{
			StartFunc: func(context.Context) error { log = append(log, "start "+name); return startErr },
			CloseFunc: func(context.Context) error { log = append(log, "close "+name); return closeErr },
		}
	}
	var p Parts
	p.Add("a", part("a", nil, nil))
	p.Add("b", part("b", nil, nil))
	p.Add("c", Closer(func() error { log = append(log, "close c"); return nil }))
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "close c", "close b", "close a"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("order = %v, want %v", log, want)
	}
	if p.Len() != 0 || p.Close(t.Context()) != nil {
		t.Error("Close did not forget the closed parts")
	}

	log = nil
	boom, shut := errors.New("boom"), errors.New("stuck")
	p.Add("a", part("a", nil, nil))
	p.Add("b", part("b", boom, shut))
	p.Add("c", part("c", nil, nil))
	if err := p.Start(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want boom", err)
	}
	err := p.Close(t.Context())
	if !errors.Is(err, shut) || !strings.Contains(err.Error(), "b: stuck") {
		t.Errorf("Close = %v, want b's error named", err)
	}
	want = []string{"start a", "start b", "close c", "close b", "close a"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("order after a failed start = %v, want %v", log, want)
	}
}

// TestEmbeddedState: the embedded backend keeps each domain in its file of
// the data directory, opens each at most once, and MustExist refuses a
// directory without tollgate.db.
func TestEmbeddedState(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	if _, err := Open(t.Context(), cfg, dir, Options{MustExist: true}); !errors.Is(err, ErrNoState) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open MustExist on an empty directory = %v, want ErrNoState", err)
	}
	s, err := Open(t.Context(), cfg, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Cluster() {
		t.Error("embedded state says cluster")
	}
	exercise(t, s)
	for _, f := range []string{RecordsFile, ComplianceFile, UsersFile, VoiceFile, ActionsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What was written is there when the directory is opened again.
	s, err = Open(t.Context(), cfg, dir, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(t, s)
}

// TestClusterState: the cluster backend opens every domain on one pool
// (real PostgreSQL); Close closes the domain stores and then the pool.
func TestClusterState(t *testing.T) {
	pg := testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODE_TEST_PG_DSN", dsn)
	cfg := config.Default()
	cfg.Cluster.Enabled = true
	cfg.Cluster.Postgres.DSNEnv = "NODE_TEST_PG_DSN"
	cfg.Cluster.Postgres.DSN = config.SecretFromEnv("NODE_TEST_PG_DSN") // what loading does
	cfg.Cluster.Postgres.MaxConns = 3
	s, err := Open(t.Context(), cfg, t.TempDir(), Options{Node: "n1", MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cluster() {
		t.Error("cluster state says embedded")
	}
	c := s.Backend.(*Cluster)
	if n := c.Pool().Config().MaxConns; n != 3 {
		t.Errorf("pool MaxConns = %d, want 3", n)
	}
	exercise(t, s)
	var app string
	if err := c.Pool().QueryRow(t.Context(), `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != "tollgate-n1" {
		t.Errorf("application_name = %q, %v; want tollgate-n1", app, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pool().Ping(context.Background()); err == nil {
		t.Error("the pool is still open after State.Close")
	}
	s, err = Open(t.Context(), cfg, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(t, s)

	t.Setenv("NODE_TEST_PG_DSN", "")
	cfg.Cluster.Postgres.DSN = config.SecretFromEnv("NODE_TEST_PG_DSN") // empty counts as unset
	if _, err := Open(t.Context(), cfg, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "cluster.postgres.dsn_env") {
		t.Errorf("Open without the DSN = %v, want a cluster.postgres.dsn_env error", err)
	}
}

var when = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// exercise writes one record to every domain and checks each store is
// opened once.
func exercise(t *testing.T, s *State) {
	t.Helper()
	ctx := t.Context()
	rec, err := s.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Records(ctx); again != rec {
		t.Error("Records opened a second store")
	}
	if err := rec.PutToken(ctx, store.Token{Name: "ops", Role: "admin", Hash: strings.Repeat("ab", 32), Created: when}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Users(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Reputation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Reputation(ctx); again != rep {
		t.Error("Reputation opened a second store")
	}
	keys, err := vstore.NewKeys(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Voice(ctx, keys); err != nil {
		t.Fatal(err)
	}
	as, err := s.Actions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.AddAction(ctx, action.Record{Tenant: "acme", Kind: "extension", Value: "1001", Verdict: "reject", Reason: "test", Source: "test", Created: when}); err != nil {
		t.Fatal(err)
	}
}

// check reads back what exercise wrote.
func check(t *testing.T, s *State) {
	t.Helper()
	ctx := t.Context()
	rec, err := s.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := rec.ListTokens(ctx); err != nil || len(ts) != 1 || ts[0].Name != "ops" {
		t.Errorf("tokens = %v, %v; want ops", ts, err)
	}
	cs, err := s.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if os, err := cs.OptOuts(ctx); err != nil || len(os) != 1 {
		t.Errorf("opt-outs = %v, %v; want one", os, err)
	}
	as, err := s.Actions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := as.ListActions(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].Value != "1001" {
		t.Errorf("actions = %v, %v; want the one on 1001", rs, err)
	}
}
