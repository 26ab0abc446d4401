package attackgen

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
)

// WriteCalls writes the labelled stream as JSON lines, one Call a line.
func WriteCalls(w io.Writer, calls []Call) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	for i := range calls {
		if err := enc.Encode(&calls[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadCalls reads what WriteCalls wrote.
func ReadCalls(r io.Reader) ([]Call, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var out []Call
	for {
		var c Call
		if err := dec.Decode(&c); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("attackgen: call %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
}

// cdrJSON is tollgate's JSON CDR (the form POST /v1/cdrs and `tollgate
// replay -format json` read).
type cdrJSON struct {
	CallID      string `json:"call_id"`
	Tenant      string `json:"tenant"`
	Extension   string `json:"extension"`
	Caller      string `json:"caller"`
	Callee      string `json:"callee"`
	Direction   string `json:"direction"`
	SourceIP    string `json:"source_ip,omitempty"`
	Start       string `json:"start"`
	Answer      string `json:"answer,omitempty"`
	End         string `json:"end"`
	Duration    int    `json:"duration_s"`
	Billsec     int    `json:"billsec_s"`
	Disposition string `json:"disposition"`
	Forwarded   bool   `json:"forwarded,omitempty"`
}

// CDR is the JSON CDR of a call as it ran: billsec seconds answered
// (the call may have been cut short), ending at end.
func CDR(c *Call, billsec int, end time.Time) any {
	j := cdrJSON{CallID: c.ID, Tenant: c.Tenant, Extension: c.Extension, Caller: c.Caller, Callee: c.Callee, Direction: c.Direction,
		SourceIP: c.SourceIP, Start: c.Start.UTC().Format(time.RFC3339), End: end.UTC().Format(time.RFC3339),
		Duration: int(end.Sub(c.Start) / time.Second), Billsec: billsec, Disposition: c.Disposition, Forwarded: c.Forwarded}
	if billsec > 0 {
		j.Answer = c.Answer.UTC().Format(time.RFC3339)
	} else if c.Disposition == Answered {
		j.Disposition = NoAnswer
	}
	if j.Duration < billsec {
		j.Duration = billsec
	}
	return &j
}

// WriteCDRs writes every call's CDR as JSON lines, in end order (the
// order a switch writes them), for `tollgate replay -format json`.
func WriteCDRs(w io.Writer, calls []Call) error {
	idx := make([]int, len(calls))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return calls[idx[a]].End.Before(calls[idx[b]].End) })
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	for _, i := range idx {
		c := &calls[i]
		if err := enc.Encode(CDR(c, c.Billsec, c.End)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteCSV writes the stream as CSV with a header row, labels included.
func WriteCSV(w io.Writer, calls []Call) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"call_id", "tenant", "extension", "caller", "callee", "callee_e164", "direction", "forwarded", "source_ip", "start", "answer", "end", "billsec_s", "disposition", "dest_country", "dest_type", "rate_per_min", "cost", "label", "class"})
	for i := range calls {
		c := &calls[i]
		ans := ""
		if !c.Answer.IsZero() {
			ans = c.Answer.UTC().Format(time.RFC3339)
		}
		_ = cw.Write([]string{c.ID, c.Tenant, c.Extension, c.Caller, c.Callee, c.CalleeE164, c.Direction, strconv.FormatBool(c.Forwarded), c.SourceIP,
			c.Start.UTC().Format(time.RFC3339), ans, c.End.UTC().Format(time.RFC3339), strconv.Itoa(c.Billsec), c.Disposition, c.DestCountry, c.DestType,
			strconv.FormatFloat(c.Rate, 'f', 4, 64), strconv.FormatFloat(c.Cost, 'f', 4, 64), c.Label, c.Class})
	}
	cw.Flush()
	return cw.Error()
}

// WriteDeck writes the rate deck in the form number.ReadRates reads.
func (s *Scenario) WriteDeck(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# rate deck of attackgen seed %d (USD per minute)\nprefix,price_per_min,description\n", s.Seed)
	for _, r := range s.Deck {
		fmt.Fprintf(bw, "%s,%.4f,%s\n", r.Prefix, r.PricePerMin, csvSafe(r.Description))
	}
	return bw.Flush()
}

func csvSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ',' || c == '"' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// Policies.
const (
	// PolicyOperator allows by default: each tenant's home and usual
	// countries are allowed, the seed's high-risk destinations blocked,
	// nothing else blocked or challenged wholesale (no premium-rate, hour,
	// price or risk-category rules: the risk layer only scores), with the
	// seed's rate deck and each tenant's business hours. Rate limits and
	// detectors are tollgate's defaults.
	PolicyOperator = "operator"
	// PolicyDefault is the built-in policy, with only each tenant's facts
	// (country, time zone, dial plan) added.
	PolicyDefault = "default"
)

// Policy returns the policy YAML of the given kind for the scenario.
// deckPath is where the rate deck was written (operator policy only).
func (s *Scenario) Policy(kind, deckPath string) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(config.DefaultYAML(), &m); err != nil {
		return nil, err
	}
	tenants := map[string]any{}
	for _, t := range s.Tenants {
		tm := map[string]any{"country": t.Country, "timezone": t.Timezone, "international_prefixes": []string{t.IntlPrefix}}
		if t.NationalPrefix != "" {
			tm["national_prefix"] = t.NationalPrefix
		}
		if kind == PolicyOperator {
			countries := map[string]any{}
			for _, r := range append([]string{t.Country}, t.Usual...) {
				countries[strconv.Itoa(callingCode(r))] = "allow"
			}
			tm["destinations"] = map[string]any{"countries": countries}
			names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
			var dl []string
			for _, d := range t.Days {
				dl = append(dl, names[d])
			}
			tm["hours"] = map[string]any{"business": map[string]any{"days": dl, "from": fmt.Sprintf("%02d:00", t.OpenHour), "to": fmt.Sprintf("%02d:00", t.CloseHour)}}
		}
		tenants[t.Name] = tm
	}
	m["tenants"] = tenants
	m["allow_unknown_tenants"] = false
	switch kind {
	case PolicyDefault:
	case PolicyOperator:
		def := m["defaults"].(map[string]any)
		dest := def["destinations"].(map[string]any)
		dest["default"] = "allow"
		countries := map[string]any{}
		for _, cc := range s.HighRisk {
			countries[cc] = "block"
		}
		dest["countries"] = countries
		dest["premium_prefixes"] = map[string]any{}
		dest["types"] = map[string]any{}
		// The number-intelligence risk layer scores, it does not block:
		// only the seed's list blocks.
		rc := map[string]any{}
		for k := range dest["risk_categories"].(map[string]any) {
			rc[k] = "score"
		}
		dest["risk_categories"] = rc
		// No blanket PIN above a price: cost is the detectors' to judge.
		def["cost"].(map[string]any)["max_price_per_min"] = "off"
		hours := def["hours"].(map[string]any)
		hours["after_hours_international"] = "allow"
		hours["night_international"] = "allow"
		// No premium-rate rule either: the built-in limit of 0 premium
		// calls a day is a blanket refusal of premium-rate numbers (it
		// refused the tenants' own occasional premium calls and stopped
		// the premium attacks without any detector).
		ext := def["limits"].(map[string]any)["extension"].(map[string]any)
		ext["premium_calls_per_day"] = "off"
		if deckPath != "" {
			m["numbers"] = map[string]any{"rate_deck": deckPath}
		}
	default:
		return nil, fmt.Errorf("attackgen: unknown policy %q (want %s or %s)", kind, PolicyOperator, PolicyDefault)
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := config.Parse("attackgen-"+kind+".yaml", out); err != nil {
		return nil, fmt.Errorf("attackgen: generated %s policy does not validate: %w", kind, err)
	}
	return out, nil
}

func callingCode(region string) int {
	if cc, ok := cutNonGeo(region); ok {
		v, _ := strconv.Atoi(cc)
		return v
	}
	return number.CallingCodeFor(region)
}

// WriteAsterisk writes every call's CDR as Asterisk cdr-csv (Master.csv)
// lines in end order, time stamps in UTC: accountcode is the tenant,
// inbound calls come from the "from-trunk" context, and a forwarded
// call's off-net target is the Dial data — the form `tollgate replay
// -format asterisk` reads.
func WriteAsterisk(w io.Writer, calls []Call) error {
	idx := make([]int, len(calls))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return calls[idx[a]].End.Before(calls[idx[b]].End) })
	bw := bufio.NewWriterSize(w, 1<<20)
	const stamp = "2006-01-02 15:04:05"
	for _, i := range idx {
		c := &calls[i]
		src, dst, ctx, app, data := c.Extension, c.Callee, "from-internal", "Dial", "PJSIP/"+c.Callee+"@trunk,120"
		if c.Direction == Inbound {
			src, dst, ctx = c.Caller, c.Extension, "from-trunk"
			data = "PJSIP/" + c.Extension + ",30"
			if c.Forwarded {
				data = "PJSIP/" + c.Callee + "@trunk,120"
			}
		}
		ans := ""
		if c.Billsec > 0 {
			ans = c.Answer.UTC().Format(stamp)
		}
		disp := map[string]string{Answered: "ANSWERED", NoAnswer: "NO ANSWER", Busy: "BUSY", Failed: "FAILED"}[c.Disposition]
		if c.Billsec == 0 && disp == "ANSWERED" {
			disp = "NO ANSWER"
		}
		dur := int(c.End.Sub(c.Start) / time.Second)
		if dur < c.Billsec {
			dur = c.Billsec
		}
		fmt.Fprintf(bw, "%q,%q,%q,%q,%q,%q,%q,%q,%q,%q,%q,%q,%d,%d,%q,%q,%q,%q\n",
			c.Tenant, src, dst, ctx, "<"+src+">", "PJSIP/"+c.Extension+"-"+c.ID, "", app, data,
			c.Start.UTC().Format(stamp), ans, c.End.UTC().Format(stamp), dur, c.Billsec, disp, "DOCUMENTATION", c.ID, "")
	}
	return bw.Flush()
}
