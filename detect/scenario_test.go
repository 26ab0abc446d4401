package detect_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
)

type want struct {
	Findings []struct {
		Code      string `json:"code"`
		Extension string `json:"extension"`
		Action    string `json:"action"`
		Target    string `json:"target"`
		Time      string `json:"time"`
		// Also: further targets the finding must carry (kind:value, "*"
		// after the kind for every tenant).
		Also []string `json:"also"`
		// Only: the finding carries no further target.
		Only bool `json:"only"`
		// EndCalls: the running calls the finding must end.
		EndCalls []string `json:"end_calls"`
		// Event: whether the finding must be an event (no alert).
		Event *bool `json:"event"`
	} `json:"findings"`
	// Attempts lists call ids run as calls screening refused
	// (Engine.Attempt), not as completed calls.
	Attempts []string `json:"attempts"`
	// Absent lists code:extension pairs that must not be found ("*": nothing at all).
	Absent []string       `json:"absent"`
	Count  map[string]int `json:"count"`
}

var (
	intel     *number.Intel
	intelDeck = "-"
)

func run(t *testing.T, dir string, attempts ...string) []detect.Finding {
	t.Helper()
	cfg, err := config.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if intelDeck != cfg.Numbers.RateDeck {
		intelDeck = cfg.Numbers.RateDeck
		if intel, err = number.New(number.Options{RateFile: cfg.Numbers.RateDeck, RiskFiles: cfg.Numbers.RiskFiles}); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Finding
	base := baseline.New()
	det := detect.NewEngine(&cfg.Detect, eng, base, all.Build(&cfg.Detect, base), func(f detect.Finding) { got = append(got, f) })
	f, err := os.Open(filepath.Join(dir, "cdrs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := cdr.NewReader(f, cdr.Options{})
	var rec cdr.Record
	for rd.Next(&rec) {
		observe := det.Observe
		if slices.Contains(attempts, rec.CallID) {
			observe = det.Attempt
		}
		if err := observe(&rec); err != nil {
			t.Fatalf("line %d: %v", rec.Line, err)
		}
	}
	if st := rd.Stats(); st.Malformed > 0 {
		t.Fatalf("malformed lines: %+v", st.Errors)
	}
	return got
}

// TestScenarios runs every detect/testdata/<scenario>: the policy, the CDRs
// in the order given, and the findings wanted.
func TestScenarios(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/want.json")
	if len(dirs) < 8 {
		t.Fatalf("found %d scenarios; want at least 8", len(dirs))
	}
	for _, wf := range dirs {
		dir := filepath.Dir(wf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var w want
			b, err := os.ReadFile(wf)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatal(err)
			}
			got := run(t, dir, w.Attempts...)
			for _, x := range w.Findings {
				found := false
				for _, f := range got {
					if f.Code != x.Code || x.Extension != "" && f.Extension != x.Extension || x.Action != "" && f.Action != x.Action ||
						x.Target != "" && target(f.Target) != x.Target ||
						x.Time != "" && f.Time.UTC().Format("2006-01-02T15:04:05Z") != x.Time || !hasAll(f, x.Also) || x.Only && len(f.Also) > 0 ||
						x.EndCalls != nil && !slices.Equal(f.EndCalls, x.EndCalls) && (len(f.EndCalls) > 0 || len(x.EndCalls) > 0) ||
						x.Event != nil && f.Event != *x.Event {
						continue
					}
					found = true
				}
				if !found {
					t.Errorf("no finding %+v; got %s", x, describe(got))
				}
			}
			for _, a := range w.Absent {
				for _, f := range got {
					if a == "*" || a == f.Code+":"+f.Extension {
						t.Errorf("unwanted finding %s: %s", f.Code, f.Text)
					}
				}
			}
			for code, n := range w.Count {
				k := 0
				for _, f := range got {
					if f.Code == code {
						k++
					}
				}
				if k != n {
					t.Errorf("%d findings %s; want %d", k, code, n)
				}
			}
		})
	}
}

func target(t detect.Target) string {
	k := t.Kind
	if t.AllTenants {
		k += "*"
	}
	return k + ":" + t.Value
}

func hasAll(f detect.Finding, want []string) bool {
	for _, w := range want {
		ok := target(f.Target) == w
		for _, t := range f.Also {
			ok = ok || target(t) == w
		}
		if !ok {
			return false
		}
	}
	return true
}

func describe(fs []detect.Finding) string {
	var s []string
	for _, f := range fs {
		x := f.Code + "/" + f.Extension + "/" + f.Action + "/" + target(f.Target)
		for _, t := range f.Also {
			x += "+" + target(t)
		}
		s = append(s, x+"@"+f.Time.UTC().Format("15:04:05"))
	}
	return "[" + strings.Join(s, ", ") + "]"
}
