package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/simulate"
)

func (e *env) simulate(args []string) error {
	fs := newFlags("simulate", e)
	days := fs.Int("days", 14, "days of traffic (the attacks fall in the last week)")
	tenants := fs.Int("tenants", 20, "tenants")
	exts := fs.Int("extensions", 25, "extensions per tenant")
	seed := fs.Uint64("seed", 1, "random seed")
	noAttacks := fs.Bool("no-attacks", false, "legitimate traffic only")
	out := fs.String("out", "", "write an Asterisk Master.csv here (labels in FILE.labels.json)")
	policy := fs.String("write-policy", "", "write the simulation's policy and rate deck into this directory and exit")
	url := fs.String("url", "", "drive a running server: screen each call, then post its CDR (e.g. http://127.0.0.1:7080)")
	token := fs.String("token", os.Getenv("TOLLGATE_TOKEN"), "API token for -url (env TOLLGATE_TOKEN)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("simulate: unexpected argument %q", pos[0])
	}
	if *policy != "" {
		if err := os.MkdirAll(*policy, 0o750); err != nil {
			return err
		}
		abs, _ := filepath.Abs(filepath.Join(*policy, "rates.csv"))
		if err := os.WriteFile(abs, simulate.Rates, 0o644); err != nil {
			return err
		}
		p := strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+abs, 1)
		path := filepath.Join(*policy, "policy.yaml")
		if err := os.WriteFile(path, []byte(p), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s and %s\nrun: tollgate serve -config %s\n", path, abs, path)
		return nil
	}
	if (*out == "") == (*url == "") {
		return usagef("simulate: give -out FILE or -url URL (or -write-policy DIR)")
	}
	calls := simulate.Generate(simulate.Options{Seed: *seed, Tenants: *tenants, Exts: *exts, Days: *days, Attacks: !*noAttacks})
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := simulate.WriteAsterisk(w, calls); err != nil {
			f.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		labels := map[string]string{}
		for _, c := range calls {
			if c.Attack != "" {
				labels[c.CallID] = c.Attack
			}
		}
		b, _ := json.MarshalIndent(labels, "", " ")
		if err := os.WriteFile(*out+".labels.json", b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %d CDRs (%d in attacks) to %s\n", len(calls), len(labels), *out)
		return nil
	}
	return drive(e, strings.TrimRight(*url, "/"), *token, calls)
}

// drive plays calls against a running server in simulated time: each
// outbound call is screened at its start; a call let through (or an
// inbound one) then posts its CDR. It prints, per attack, how many calls
// went through and how many were stopped.
func drive(e *env, base, token string, calls []simulate.Call) error {
	if token == "" {
		return usagef("simulate: -url needs -token (or TOLLGATE_TOKEN)")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(path string, body any) (map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if resp.StatusCode >= 300 {
			return m, fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(raw)))
		}
		return m, nil
	}
	type tally struct{ through, stopped, challenged int }
	per := map[string]*tally{}
	var batch []map[string]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := post("/v1/cdrs", batch)
		batch = batch[:0]
		return err
	}
	t0 := time.Now()
	for i := range calls {
		c := &calls[i]
		label := c.Attack
		if label == "" {
			label = "(legitimate)"
		}
		t := per[label]
		if t == nil {
			t = &tally{}
			per[label] = t
		}
		if c.Direction == screen.Outbound {
			if err := flush(); err != nil { // the detectors see every earlier call first
				return err
			}
			v, err := post("/v1/screen", map[string]any{"call_id": c.CallID, "tenant": c.Tenant, "extension": c.Extension, "caller": c.Caller,
				"callee": c.Callee, "time": c.Start.Format(time.RFC3339)})
			if err != nil {
				return err
			}
			switch v["action"] {
			case "reject", "honeypot":
				t.stopped++
				continue
			case "challenge":
				// A fraudster does not know the PIN.
				if c.Attack != "" {
					t.challenged++
					continue
				}
			}
		}
		t.through++
		batch = append(batch, map[string]any{"call_id": c.CallID, "tenant": c.Tenant, "extension": c.Extension, "caller": c.Caller, "callee": c.Callee,
			"direction": c.Direction.String(), "start": c.Start.Format(time.RFC3339), "duration_s": c.Duration, "billsec_s": c.Billsec,
			"disposition": c.Disposition, "forwarded": c.Forwarded})
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
		if i%2000 == 0 {
			fmt.Fprintf(e.stderr, "\r%d/%d calls (sim time %s)", i, len(calls), c.Start.Format("2006-01-02 15:04"))
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "\r%d/%d calls in %s\n", len(calls), len(calls), time.Since(t0).Round(time.Millisecond))
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(e.stdout, "%-22s %10s %10s %10s\n", "traffic", "through", "stopped", "challenged")
	for _, n := range names {
		t := per[n]
		fmt.Fprintf(e.stdout, "%-22s %10d %10d %10d\n", n, t.through, t.stopped, t.challenged)
	}
	return nil
}
