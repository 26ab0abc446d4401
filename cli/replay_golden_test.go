package cli

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/simulate"
)

var updateGolden = flag.Bool("update-replay", false, "rewrite testdata/replay_golden.txt from this build's replays")

// replayDigest is everything a replay decided, in a stable order: each
// call's verdict at its start (in play order), every alert and action, and
// the report's totals.
func replayDigest(rep *Replay) (sum string, lines []string) {
	for _, v := range rep.verdicts {
		lines = append(lines, fmt.Sprintf("V %s %v", v.CallID, v.Stopped))
	}
	var rest []string
	for _, a := range rep.Alerts {
		rest = append(rest, fmt.Sprintf("A %s %s %s %s %s", a.Time.UTC().Format(time.RFC3339), a.Code, a.Tenant, a.Severity, a.Text))
	}
	for _, a := range rep.Actions {
		rest = append(rest, fmt.Sprintf("X %s %s %s %s:%s", a.Time.UTC().Format(time.RFC3339), a.Action, a.Tenant, a.Target.Kind, a.Target.Value))
	}
	sort.Strings(rest)
	lines = append(lines, rest...)
	lines = append(lines, fmt.Sprintf("S records=%d flagged=%d leaked=%.4f stopped=%d cut=%d total=%.4f det=%+v",
		rep.Read.Records, rep.Flagged, rep.Leaked, rep.Stopped, rep.Cut, rep.TotalCost, rep.Detection))
	return fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Join(lines, "\n")))), lines
}

// goldenStream is one generated stream with the policy it is replayed under.
type goldenStream struct {
	name  string
	eng   *engine.Engine
	csv   []byte // Asterisk Master.csv
	jsonl []byte // JSON lines
}

func simulateStream(t *testing.T, dir string, seed uint64) goldenStream {
	t.Helper()
	rates := filepath.Join(dir, fmt.Sprintf("sim%d-rates.csv", seed))
	if err := os.WriteFile(rates, simulate.Rates, 0o600); err != nil {
		t.Fatal(err)
	}
	pol := strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+rates, 1)
	calls := simulate.Generate(simulate.Options{Seed: seed, Tenants: 6, Exts: 12, Days: 14, Attacks: true})
	var csv bytes.Buffer
	if err := simulate.WriteAsterisk(&csv, calls); err != nil {
		t.Fatal(err)
	}
	return goldenStream{name: fmt.Sprintf("simulate-%d", seed), eng: goldenEngine(t, pol), csv: csv.Bytes(), jsonl: toJSONL(t, csv.Bytes())}
}

func attackgenStream(t *testing.T, dir string, seed uint64, intel *number.Intel) goldenStream {
	t.Helper()
	sc, err := attackgen.Generate(attackgen.Options{Seed: seed, HistoryDays: 5, Scale: 0.2, Intel: intel})
	if err != nil {
		t.Fatal(err)
	}
	deck := filepath.Join(dir, fmt.Sprintf("ag%d-deck.csv", seed))
	var d bytes.Buffer
	if err := sc.WriteDeck(&d); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deck, d.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := sc.Policy(attackgen.PolicyOperator, deck)
	if err != nil {
		t.Fatal(err)
	}
	var csv, js bytes.Buffer
	if err := attackgen.WriteAsterisk(&csv, sc.Calls); err != nil {
		t.Fatal(err)
	}
	if err := attackgen.WriteCDRs(&js, sc.Calls); err != nil {
		t.Fatal(err)
	}
	return goldenStream{name: fmt.Sprintf("attackgen-%d", seed), eng: goldenEngine(t, string(pol)), csv: csv.Bytes(), jsonl: js.Bytes()}
}

func goldenEngine(t *testing.T, policy string) *engine.Engine {
	t.Helper()
	cfg, err := config.Parse("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	intel, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// toJSONL rewrites Asterisk CDRs as tollgate's own JSON lines.
func toJSONL(t *testing.T, csv []byte) []byte {
	t.Helper()
	rd := cdr.NewReader(bytes.NewReader(csv), cdr.Options{Format: cdr.Asterisk})
	var out bytes.Buffer
	var r cdr.Record
	for rd.Next(&r) {
		fmt.Fprintf(&out, `{"call_id":%q,"tenant":%q,"extension":%q,"caller":%q,"callee":%q,"direction":%q,"start":%q,"duration_s":%d,"billsec_s":%d,"disposition":%q,"forwarded":%v}`+"\n",
			r.CallID, r.Tenant, r.Extension, r.Caller, r.Callee, r.Direction.String(), r.Start.Format(time.RFC3339), r.Duration, r.Billsec, r.Disposition, r.Forwarded)
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestReplayGolden pins what replay decides on generated streams (the
// simulator's and the independent attack generator's, CSV and JSON) to
// testdata/replay_golden.txt: every verdict, alert, action and total.
// Speed work on the replay and the detectors' data structures must leave
// it unchanged. A deliberate change of detection logic rewrites it:
//
//	go test ./cli -run TestReplayGolden -update-replay
func TestReplayGolden(t *testing.T) {
	dir := t.TempDir()
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	streams := []goldenStream{simulateStream(t, dir, 3), simulateStream(t, dir, 11), attackgenStream(t, dir, 2, intel), attackgenStream(t, dir, 5, intel)}
	var got []string
	for _, s := range streams {
		for _, f := range []struct {
			ext    string
			data   []byte
			format cdr.Format
		}{{"csv", s.csv, cdr.Asterisk}, {"jsonl", s.jsonl, cdr.JSON}} {
			file := filepath.Join(dir, s.name+"."+f.ext)
			if err := os.WriteFile(file, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := RunReplay(s.eng, []string{file}, ReplayOptions{Read: cdr.Options{Format: f.format, Location: time.UTC}, keepVerdicts: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Read.Malformed > 0 || rep.Read.Records == 0 {
				t.Fatalf("%s.%s: %d records, %d malformed: %v", s.name, f.ext, rep.Read.Records, rep.Read.Malformed, rep.Read.Errors)
			}
			sum, lines := replayDigest(rep)
			got = append(got, fmt.Sprintf("%s.%s %s verdicts=%d stopped=%d alerts=%d actions=%d cut=%d leaked=%.2f",
				s.name, f.ext, sum, len(rep.verdicts), rep.Stopped, len(rep.Alerts), len(rep.Actions), rep.Cut, rep.Leaked))
			if os.Getenv("REPLAY_GOLDEN_DUMP") != "" {
				_ = os.WriteFile(filepath.Join(os.Getenv("REPLAY_GOLDEN_DUMP"), s.name+"."+f.ext+".txt"), []byte(strings.Join(lines, "\n")), 0o600)
			}
		}
	}
	golden := filepath.Join("testdata", "replay_golden.txt")
	text := strings.Join(got, "\n") + "\n"
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != text {
		t.Errorf("replay decisions changed (REPLAY_GOLDEN_DUMP=dir writes them line by line):\ngot\n%s\nwant\n%s", text, want)
	}
}
