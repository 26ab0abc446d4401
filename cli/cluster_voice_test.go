package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store/postgres"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// clusterVoicePolicy is the policy of both nodes: cluster mode plus voice
// biometrics; %s are the node name, the Redis address and the model file.
// Token "test" has role admin.
const clusterVoicePolicy = `
server:
  tokens:
    - {name: ops, role: admin, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false
cluster:
  node: %s
  redis: {addr: "%s", timeout_ms: 300}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow}
tenants:
  acme: {}
voice:
  enabled: true
  model: %s
  key_env: TG_TEST_VOICE_KEY
  defaults:
    min_enroll_speech_s: 3
    # This small model is calibrated on its own 6 training speakers, so
    # its 0.1 percent watchlist threshold carries a wide 95 percent margin
    # that a genuine 10-digit string of the watchlisted speaker falls
    # under; what this test checks is the watchlist crossing nodes.
    watchlist_false_accept_rate: 0.01
`

// trainClusterVoiceModel trains a small model on repetitions 0–9 of FSDD
// with 'tollgate voice train-ubm' and returns its path.
func trainClusterVoiceModel(t *testing.T, rec string) string {
	dir := t.TempDir()
	bg := filepath.Join(dir, "background")
	if err := os.MkdirAll(bg, 0o750); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(rec)
	files, _ := filepath.Glob(filepath.Join(abs, "*.wav"))
	for _, f := range files {
		var d, r int
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".wav"), "_")
		fmt.Sscan(parts[0], &d)
		fmt.Sscan(parts[2], &r)
		if r < 10 {
			if err := os.Symlink(f, filepath.Join(bg, filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
	}
	model := filepath.Join(dir, "voice-model.bin")
	var out, errb bytes.Buffer
	if code := Main([]string{"voice", "train-ubm", "-out", model, "-components", "32", "-frames", "20000", "-speaker", "field2", bg}, nil, &out, &errb); code != 0 {
		t.Fatalf("train-ubm: exit %d: %s", code, errb.String())
	}
	return model
}

// TestClusterVoiceAcrossNodes runs two nodes on one Redis and one
// PostgreSQL with voice biometrics on: a caller enrolled through node A
// is verified through node B, a fraudster watchlisted on A is matched on B
// by a node that had already cached the tenant's (empty) watchlist, one
// call's passive statistics accumulate across both nodes, a deletion on B
// reaches A's cache, and the shared database holds no print in clear.
func TestClusterVoiceAcrossNodes(t *testing.T) {
	rec := fsddPath(t)
	model := trainClusterVoiceModel(t, rec)
	redis, pg := testenv.NewRedis(t), testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_PG_DSN", dsn)
	t.Setenv("TG_TEST_VOICE_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	var dirs []string
	var base []string
	for i := range 2 {
		cfg, err := config.Parse("cluster.yaml", []byte(fmt.Sprintf(clusterVoicePolicy, fmt.Sprint("n", i+1), redis.Addr, model)))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		s, err := Start(context.Background(), Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(t, s) })
		dirs = append(dirs, dir)
		base = append(base, "http://"+s.Addr.String())
	}
	a, b := base[0], base[1]
	const tok = "test"
	rng := rand.New(rand.NewPCG(3, 4))
	wav := func(spk string, n, lo, hi int) []byte { return digitWAV(t, rec, spk, n, lo, hi, rng) }
	tenant := func(kv ...string) map[string]string {
		m := map[string]string{"tenant": "acme"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	// B looks at the watchlist before anyone is on it (and caches that).
	code, body := voiceReq(t, b, tok, "/v1/voice/identify", tenant(), wav("lucas", 10, 40, 50))
	if code != 200 || body["decision"] != "no_match" || body["watchlist_size"] != 0.0 {
		t.Fatalf("identify on B, empty watchlist: %d %v", code, body)
	}

	// Enrolments through A: a customer and a fraudster.
	code, body = voiceReq(t, a, tok, "/v1/voice/enroll", tenant("subject", "acct-42", "label", "savings account"),
		wav("jackson", 5, 0, 10), wav("jackson", 5, 0, 10), wav("jackson", 5, 0, 10))
	if code != 200 || body["kind"] != "customer" {
		t.Fatalf("enroll customer on A: %d %v", code, body)
	}
	code, body = voiceReq(t, a, tok, "/v1/voice/enroll", tenant("subject", "f-1", "kind", "fraudster", "label", "account takeover ring"),
		wav("lucas", 5, 0, 10), wav("lucas", 5, 0, 10), wav("lucas", 5, 0, 10))
	if code != 200 || body["kind"] != "fraudster" {
		t.Fatalf("enroll fraudster on A: %d %v", code, body)
	}

	// B knows the customer: the genuine voice is accepted, another rejected.
	cb := &client{t: t, base: b, token: tok}
	if code, body := cb.call("GET", "/v1/voice/subjects/acct-42?tenant=acme", nil); code != 200 || body["utterances"] != 3.0 {
		t.Errorf("subject enrolled on A, read on B: %d %v", code, body)
	}
	code, body = voiceReq(t, b, tok, "/v1/voice/verify", tenant("subject", "acct-42"), wav("jackson", 10, 40, 50))
	if code != 200 || body["decision"] != "accept" {
		t.Errorf("verify genuine on B: %d %v", code, body)
	}
	code, body = voiceReq(t, b, tok, "/v1/voice/verify", tenant("subject", "acct-42"), wav("george", 10, 40, 50))
	if code != 200 || body["decision"] != "reject" {
		t.Errorf("verify impostor on B: %d %v", code, body)
	}

	// B's cached watchlist notices the fraudster added on A. The call was
	// screened on A; its decision record on A carries B's result.
	ca := &client{t: t, base: a, token: tok}
	if code, _ := ca.call("POST", "/v1/screen", screenBody("cv-1", "acme", "1001", "+4930123456")); code != 200 {
		t.Fatalf("screen on A: %d", code)
	}
	code, body = voiceReq(t, b, tok, "/v1/voice/identify", tenant("call_id", "cv-1"), wav("lucas", 10, 40, 50))
	if code != 200 || body["decision"] != "match" || body["watchlist_size"] != 1.0 {
		t.Fatalf("identify on B after enrolment on A: %d %v", code, body)
	}
	if m, _ := body["matches"].([]any); len(m) == 0 || m[0].(map[string]any)["subject"] != "f-1" {
		t.Errorf("identify matches: %v", body["matches"])
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, ds := ca.call("GET", "/v1/decisions?call_id=cv-1", nil)
		if code != 200 {
			t.Fatalf("decisions on A: %d", code)
		}
		if list, _ := ds["decisions"].([]any); len(list) == 1 {
			v, _ := list[0].(map[string]any)["voice"].([]any)
			if len(v) != 1 || v[0].(map[string]any)["decision"] != "match" {
				t.Errorf("decision record on A lacks B's identification: %v", list[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("decision for cv-1 never written")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Passive verification: one call's segments go to different nodes and
	// still accumulate.
	code, body = voiceReq(t, a, tok, "/v1/voice/verify", tenant("subject", "acct-42", "call_id", "cv-2"), wav("jackson", 1, 40, 50))
	if code != 200 || body["decision"] != "uncertain" || body["segments"] != 1.0 {
		t.Fatalf("passive segment 1 on A: %d %v", code, body)
	}
	first := body["speech_s"].(float64)
	code, body = voiceReq(t, b, tok, "/v1/voice/verify", tenant("subject", "acct-42", "call_id", "cv-2"), wav("jackson", 8, 40, 50))
	if code != 200 || body["segments"] != 2.0 || body["speech_s"].(float64) <= first || body["decision"] != "accept" {
		t.Errorf("passive segment 2 on B: %d %v", code, body)
	}

	// A caches the watchlist with the fraudster on it, and notices the
	// fraudster deleted on B.
	code, body = voiceReq(t, a, tok, "/v1/voice/identify", tenant(), wav("lucas", 10, 40, 50))
	if code != 200 || body["decision"] != "match" {
		t.Fatalf("identify on A: %d %v", code, body)
	}
	if code, _ := cb.call("DELETE", "/v1/voice/subjects/f-1?tenant=acme", nil); code != 200 {
		t.Fatalf("delete on B: %d", code)
	}
	code, body = voiceReq(t, a, tok, "/v1/voice/identify", tenant(), wav("lucas", 10, 40, 50))
	if code != 200 || body["decision"] != "no_match" || body["watchlist_size"] != 0.0 {
		t.Errorf("identify on A after deletion on B: %d %v", code, body)
	}

	// 'tollgate voice enroll' on a cluster node's configuration enrols into
	// the shared store and audits there: B serves the subject and the
	// entry.
	cfgPath := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(clusterVoicePolicy, "cli", redis.Addr, model)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"voice", "enroll", "-config", cfgPath, "-data", t.TempDir(), "-tenant", "acme", "-subject", "cli-1"}
	for i := range 3 {
		f := filepath.Join(t.TempDir(), fmt.Sprint(i, ".wav"))
		if err := os.WriteFile(f, wav("george", 5, 0, 10), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	var out, errb bytes.Buffer
	if code := Main(args, nil, &out, &errb); code != 0 {
		t.Fatalf("voice enroll: exit %d: %s", code, errb.String())
	}
	if code, body := cb.call("GET", "/v1/voice/subjects/cli-1?tenant=acme", nil); code != 200 || body["utterances"] != 3.0 {
		t.Errorf("subject enrolled with the command line, read on B: %d %v", code, body)
	}
	if code, audit := cb.call("GET", "/v1/audit", nil); code != 200 || !strings.Contains(fmt.Sprint(audit), "cli:") {
		t.Errorf("audit on B lacks the command line's enrolment: %d %v", code, audit)
	}
	if code, _ := cb.call("DELETE", "/v1/voice/subjects/cli-1?tenant=acme", nil); code != 200 {
		t.Errorf("delete cli-1 on B: %d", code)
	}

	// Voiceprints live in PostgreSQL, sealed: the nodes made no voice.db,
	// and the shared rows hold neither a label nor a print in clear.
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "voice.db")); !os.IsNotExist(err) {
			t.Errorf("%s: voice.db exists in cluster mode (%v)", d, err)
		}
	}
	// The voice store of each node borrowed the node's one pool: no
	// connection but theirs (the command line's have gone).
	waitNodePoolsOnly(t, dsn, int(postgres.DefaultMaxConns()), "n1", "n2")
	ctx := context.Background()
	vs, err := postgres.NewVoice(ctx, ownPool(t, dsn), mustVoiceKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	sub, err := vs.GetSubject(ctx, "acme", "acct-42")
	if err != nil || len(sub.Print) < 64 || sub.Label != "savings account" {
		t.Fatalf("customer read back through the store: %d-byte print, label %q, %v", len(sub.Print), sub.Label, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var sealed []byte
	if err := conn.QueryRow(ctx, `SELECT count(*), string_agg(sealed, '') FROM voice_subjects WHERE tenant='acme'`).Scan(&n, &sealed); err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(sealed) == 0 {
		t.Fatalf("voice_subjects holds %d rows for acme (%d sealed bytes), want the customer's", n, len(sealed))
	}
	mid := len(sub.Print) / 2
	if bytes.Contains(sealed, sub.Print[mid:mid+32]) || bytes.Contains(sealed, []byte(sub.Label)) {
		t.Error("the sealed column holds the customer's print or label in clear")
	}
}

func mustVoiceKeys(t *testing.T) *vstore.Keys {
	k, err := vstore.ParseKey(os.Getenv("TG_TEST_VOICE_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vstore.NewKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
