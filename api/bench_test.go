package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
)

// BenchmarkScreenHTTP starts a real tollgate (SQLite decision log in a temp
// dir) listening on loopback and drives POST /v1/screen from concurrent
// keep-alive clients. It reports requests/s and latency percentiles as
// seen by the client, which includes the loopback round trip.
func BenchmarkScreenHTTP(b *testing.B) {
	dir := b.TempDir()
	cfg, err := config.Parse("bench.yaml", []byte(`
server:
  tokens: [{name: bench, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}]
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations: {default: deny, countries: {"1": allow, "44": auth}}
  limits:
    extension: {international_calls_per_hour: 5, concurrent_international: 2}
    account: {international_spend_daily: 500}
`))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	url := "http://" + srv.Addr.String() + "/v1/screen"
	workers := 32
	tr := &http.Transport{MaxIdleConnsPerHost: workers, DialContext: (&net.Dialer{}).DialContext}
	client := &http.Client{Transport: tr}
	callees := []string{"2125551234", "+252612345678", "011442071234567", "+14165550123"}
	var seq atomic.Int64
	lat := make([][]time.Duration, workers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/workers + 1
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var body bytes.Buffer
			for i := 0; i < per; i++ {
				n := seq.Add(1)
				body.Reset()
				fmt.Fprintf(&body, `{"call_id":"b%d","tenant":"t%d","extension":"%d","callee":%q}`, n, n%50, n%500, callees[n%int64(len(callees))])
				req, _ := http.NewRequest("POST", url, &body)
				req.Header.Set("Authorization", "Bearer test")
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	if os.Getenv("TOLLGATE_BENCH_VERBOSE") != "" {
		b.Logf("%d requests in %s, %d workers", len(all), elapsed, workers)
	}
}
