package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSubjectsEncryptedAndRotated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "voice.db")
	k1, _ := NewKeys(key(1))
	s, err := OpenSQLite(path, k1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0).UTC()
	secret := []byte("VOICEPRINT-PLAINTEXT-MARKER")
	sub := Subject{Tenant: "acme", ID: "acct-1", Kind: KindFraudster, Label: "ring", Model: "m1", Speech: 4.5, Utterances: 3, Created: now, Updated: now, Print: secret, Stats: []byte{1, 2}, Audio: [][]byte{[]byte("AUDIO-MARKER")}}
	g0, _ := s.Generation(ctx, "acme", KindFraudster)
	if err := s.PutSubject(ctx, sub); err != nil {
		t.Fatal(err)
	}
	g1, _ := s.Generation(ctx, "acme", KindFraudster)
	if g0 == g1 {
		t.Errorf("generation did not change on put: %s", g1)
	}
	got, err := s.GetSubject(ctx, "acme", "acct-1")
	if err != nil || !bytes.Equal(got.Print, secret) || got.Label != "ring" || got.Speech != 4.5 || len(got.Audio) != 1 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	wal, _ := os.ReadFile(path + "-wal")
	for _, m := range []string{"VOICEPRINT-PLAINTEXT-MARKER", "AUDIO-MARKER"} {
		if bytes.Contains(append(raw, wal...), []byte(m)) {
			t.Errorf("%s found in the database file", m)
		}
	}
	// Without the key nothing opens; with the new key current and the old
	// one kept, it opens and rekey moves it.
	k2, _ := NewKeys(key(2))
	s2, _ := OpenSQLite(path, k2)
	if _, err := s2.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrKey) {
		t.Errorf("wrong key: %v, want ErrKey", err)
	}
	s2.Close()
	k21, _ := NewKeys(key(2), key(1))
	s3, _ := OpenSQLite(path, k21)
	defer s3.Close()
	if n, err := s3.Rekey(ctx); n != 1 || err != nil {
		t.Fatalf("rekey: %d, %v", n, err)
	}
	s3.Close()
	s4, _ := OpenSQLite(path, k2)
	defer s4.Close()
	if got, err := s4.GetSubject(ctx, "acme", "acct-1"); err != nil || !bytes.Equal(got.Print, secret) {
		t.Fatalf("after rekey, new key alone: %v", err)
	}
	// A sealed record moved to another subject does not open.
	if _, err := s4.db.Exec(`INSERT INTO voice_subjects SELECT tenant,'acct-2',kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE id='acct-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s4.GetSubject(ctx, "acme", "acct-2"); !errors.Is(err, ErrKey) {
		t.Errorf("moved ciphertext: %v, want ErrKey", err)
	}
	if err := s4.DeleteSubject(ctx, "acme", "acct-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s4.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s4.DeleteSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestResultsAndCallStats(t *testing.T) {
	ctx := context.Background()
	k, _ := NewKeys(key(3))
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "v.db"), k)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1700000000, 0).UTC()
	for i, d := range []string{"uncertain", "reject"} {
		if err := s.AddResult(ctx, Result{CallID: "c1", Tenant: "acme", Time: now.Add(time.Duration(i) * time.Second), Op: "verify", Subject: "a", Decision: d, Risk: 40 * i}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.Results(ctx, []string{"c1", "c2"})
	if err != nil || len(rs["c1"]) != 2 || rs["c1"][1].Decision != "reject" || len(rs["c2"]) != 0 {
		t.Fatalf("results: %v %v", rs, err)
	}
	if b, err := s.CallStats(ctx, "c1", "verify:a"); b != nil || err != nil {
		t.Errorf("no stats yet: %v %v", b, err)
	}
	if err := s.PutCallStats(ctx, "c1", "verify:a", []byte{9, 8, 7}, now); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.CallStats(ctx, "c1", "verify:a"); !bytes.Equal(b, []byte{9, 8, 7}) {
		t.Errorf("stats: %v", b)
	}
	if n, _ := s.ExpireCallStats(ctx, now.Add(time.Second)); n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="} {
		if k, err := ParseKey(s); err != nil || k[31] != 31 {
			t.Errorf("ParseKey(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", "000102"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}
