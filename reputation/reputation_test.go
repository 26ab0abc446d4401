package reputation

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ kind, in, want, field string }{
		{"ip", " 192.0.2.1 ", "192.0.2.1", ""},
		{"ip", "192.0.2.77/24", "192.0.2.0/24", ""},
		{"ip", "::ffff:192.0.2.1", "192.0.2.1", ""},
		{"ip", "nope", "", "value"},
		{"number", "+44 20 7946-0000", "+442079460000", ""},
		{"range", "88216", "+88216", ""},
		{"number", "12a", "", "value"},
		{"ua", "Friendly-Scanner", "friendly-scanner", ""},
		{"ua", "bad\x00ua", "", "value"},
		{"url", "x", "", "kind"},
	} {
		e := Entry{Kind: c.kind, Value: c.in}
		err := Normalize(&e, now)
		var fe *FieldError
		switch {
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
			t.Errorf("Normalize(%s %q) err = %v, want a %s error", c.kind, c.in, err, c.field)
		case c.field == "" && (err != nil || e.Value != c.want || e.Source != SourceManual || e.Hits != 1 || !e.LastSeen.Equal(now)):
			t.Errorf("Normalize(%s %q) = %+v, %v; want value %q", c.kind, c.in, e, err, c.want)
		}
	}
}

func TestSetLookups(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	es := []Entry{
		{Kind: KindIP, Value: "192.0.2.1"},
		{Kind: KindIP, Value: "198.51.100.0/24"},
		{Kind: KindIP, Value: "203.0.113.5", Expires: now.Add(-time.Second)},
		{Kind: KindNumber, Value: "+442079460000"},
		{Kind: KindRange, Value: "+88216"},
		{Kind: KindUA, Value: "friendly-scanner"},
	}
	bs := []Ban{{IP: "192.0.2.9", Expires: now.Add(time.Hour)}, {IP: "192.0.2.10", Expires: now.Add(time.Hour), Released: true}}
	s := Build(es, bs)
	for _, c := range []struct {
		got  bool
		want bool
		what string
	}{
		{s.Addr(netip.MustParseAddr("192.0.2.1"), now) != nil, true, "exact address"},
		{s.Addr(netip.MustParseAddr("::ffff:198.51.100.9"), now) != nil, true, "network, mapped address"},
		{s.Addr(netip.MustParseAddr("203.0.113.5"), now) != nil, false, "expired entry"},
		{s.Addr(netip.MustParseAddr("192.0.2.2"), now) != nil, false, "unknown address"},
		{s.Number("442079460000", now) != nil, true, "number"},
		{s.Number("442079460001", now) != nil, false, "other number"},
		{s.Range("882161234", now) != nil, true, "range"},
		{s.UserAgent("Friendly-Scanner 1.0", now) != nil, true, "UA prefix, any case"},
		{s.UserAgent("Zoiper", now) != nil, false, "other UA"},
		{s.Banned(netip.MustParseAddr("192.0.2.9"), now) != nil, true, "ban"},
		{s.Banned(netip.MustParseAddr("192.0.2.9"), now.Add(2*time.Hour)) != nil, false, "ban over"},
		{s.Banned(netip.MustParseAddr("192.0.2.10"), now) != nil, false, "released ban"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := Entry{Kind: KindIP, Value: "192.0.2.1", Source: SourceManual, FirstSeen: t0, LastSeen: t0, Hits: 2, Score: 90}
	n := Entry{Kind: KindIP, Value: "192.0.2.1", Source: SourceHoneypot, FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour), Hits: 3, Score: 50, Expires: t0.Add(48 * time.Hour)}
	m := Merge(old, n)
	if m.Hits != 5 || m.Score != 90 || !m.LastSeen.Equal(t0.Add(time.Hour)) || !m.FirstSeen.Equal(t0) || !m.Expires.IsZero() || m.Source != SourceManual {
		t.Fatalf("Merge = %+v", m)
	}
}

func TestFeedRoundTripAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	es := []Entry{
		{Kind: KindIP, Value: "192.0.2.1", Source: SourceHoneypot, FirstSeen: now, LastSeen: now, Hits: 4, Score: 80, Reason: "scan, \"quoted\""},
		{Kind: KindNumber, Value: "+442079460000", Source: SourceHoneypot, FirstSeen: now, LastSeen: now, Hits: 1, Score: 90, Expires: now.Add(90 * 24 * time.Hour)},
		{Kind: KindIP, Value: "10.1.0.0/16", Source: SourceManual, FirstSeen: now, LastSeen: now, Hits: 1, Score: 50},
	}
	trusted := netip.MustParsePrefix("10.1.2.3/32")
	for _, format := range []string{FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := WriteFeed(&b, format, es, now); err != nil {
			t.Fatal(err)
		}
		got, skipped, err := ReadFeed(&b, format, ImportOptions{Now: now, TTL: 24 * time.Hour, Trusted: trusted.Overlaps})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(got) != 2 || len(skipped) != 1 || skipped[0].Value != "10.1.0.0/16" {
			t.Fatalf("%s: got %+v skipped %+v; want 2 entries and the network covering a trusted address skipped", format, got, skipped)
		}
		for _, e := range got {
			if e.Source != SourceFeed || !e.Expires.Equal(now.Add(24*time.Hour)) {
				t.Errorf("%s: %+v: want source feed and expiry capped at now+TTL", format, e)
			}
		}
		if got[0].Reason != es[0].Reason || got[0].Hits != 4 || got[0].Score != 80 {
			t.Errorf("%s: %+v lost fields of %+v", format, got[0], es[0])
		}
	}
}

func TestFeedErrorsNameLineAndField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"kind,value\nip,192.0.2.1\nip,bogus\n", "feed line 3: value:"},
		{"kind,value,score\nnumber,+4420,x\n", "feed line 2: score:"},
		{"value\n1.2.3.4\n", "feed line 1: kind: column missing"},
		{"kind,value,expires\nip,192.0.2.1,tomorrow\n", "feed line 2: expires:"},
	} {
		_, _, err := ReadFeed(strings.NewReader(c.in), FormatCSV, ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ReadFeed(%q) err = %v, want %q", c.in, err, c.want)
		}
	}
	if _, _, err := ReadFeed(strings.NewReader(`{"entries":[{"kind":"ip","value":"x"}]}`), FormatJSON, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "feed line 1: value") {
		t.Errorf("JSON feed error = %v", err)
	}
}

func FuzzReadFeed(f *testing.F) {
	f.Add([]byte("kind,value,source,score,hits,first_seen,last_seen,expires,reason\nip,192.0.2.1,feed,50,1,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,,x\n"), false)
	f.Add([]byte(`{"entries":[{"kind":"number","value":"+4420","score":5}]}`), true)
	f.Add([]byte(`{"entries":[{"kind":"number","value":"+33899123456","status":"suspected","evidence":{"sightings":[{"network":"192.0.2.0/24","addr":"192.0.2.7","hits":1,"proven":"2026-01-01T00:00:00Z"},{"network":"2001:db8::/48","proven":"2026-01-01T00:20:00Z"}],"need":{"networks":2,"span_s":600},"class":"premium_rate"}}]}`), true)
	f.Fuzz(func(t *testing.T, b []byte, asJSON bool) {
		format := FormatCSV
		if asJSON {
			format = FormatJSON
		}
		es, _, err := ReadFeed(bytes.NewReader(b), format, ImportOptions{})
		if err != nil {
			return
		}
		for _, e := range es {
			c := e
			if Normalize(&c, time.Now()) != nil || c.Value != e.Value || e.Source != SourceFeed || e.Expires.IsZero() {
				t.Fatalf("accepted entry not in canonical form: %+v", e)
			}
			// Evidence survives its stored form, and merging an entry
			// with itself never downgrades a confirmed one.
			enc, err := EncodeEvidence(c.Evidence)
			if err != nil {
				t.Fatal(err)
			}
			if dec, err := DecodeEvidence(enc); err != nil || (dec == nil) != (c.Evidence == nil) {
				t.Fatalf("evidence round trip: %v %+v", err, dec)
			}
			if m := Merge(c, c); c.Status == StatusConfirmed && m.Status != StatusConfirmed {
				t.Fatalf("merge downgraded %+v to %s", c, m.Status)
			}
		}
	})
}

// TestFeedKeepsSuspected: a suspected entry exported as CSV or JSON is
// imported suspected (a number one forged packet planted is not enforced
// by the importer either); an entry without a status is confirmed.
func TestFeedKeepsSuspected(t *testing.T) {
	now := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	es := []Entry{
		{Kind: KindNumber, Value: "+12125550199", Source: SourceHoneypot, Score: 90, Hits: 1, FirstSeen: now, LastSeen: now, Status: StatusSuspected},
		{Kind: KindNumber, Value: "+88216", Source: SourceManual, Score: 100, Hits: 1, FirstSeen: now, LastSeen: now, Status: StatusConfirmed},
	}
	for _, format := range []string{FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := WriteFeed(&b, format, es, now); err != nil {
			t.Fatal(err)
		}
		got, _, err := ReadFeed(&b, format, ImportOptions{Now: now})
		if err != nil || len(got) != 2 || got[0].Status != StatusSuspected || got[1].Status != StatusConfirmed {
			t.Fatalf("%s: %+v, %v", format, got, err)
		}
	}
	got, _, err := ReadFeed(strings.NewReader("kind,value\nnumber,+4420\n"), FormatCSV, ImportOptions{Now: now})
	if err != nil || len(got) != 1 || got[0].Status != StatusConfirmed {
		t.Fatalf("feed without a status column: %+v, %v", got, err)
	}
	if _, _, err := ReadFeed(strings.NewReader("kind,value,status\nnumber,+4420,trusted\n"), FormatCSV, ImportOptions{Now: now}); err == nil {
		t.Fatal("unknown status accepted")
	}
}
