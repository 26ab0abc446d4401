// Command cluster measures screening with embedded counters against
// shared Redis counters, with 1 to N tollgate engines (nodes) in this
// process sharing one redis-server it starts on loopback. For each setup
// it prints decisions/s, p50 and p99 latency of engine.Screen, Redis
// round trips and bytes per decision.
//
//	go run ./bench/cluster -nodes 3 -duration 5s -workers 4
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	credis "github.com/tollgate-voip/tollgate/counter/redis"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// policy limits every decision the way a busy call center would be
// limited: per-extension windows, a daily account cap, concurrency.
const policy = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow, "44": allow}
  limits:
    extension:
      international_calls_per_hour: 1000000
      concurrent_international: 1000000
    account:
      international_calls_daily: 100000000
      concurrent_calls: 1000000
tenants:
  acme: {}
`

func main() {
	nodes := flag.Int("nodes", 3, "largest number of nodes")
	dur := flag.Duration("duration", 5*time.Second, "run time per setup")
	workers := flag.Int("workers", 4, "concurrent screens per node")
	flag.Parse()
	cfg, err := config.Parse("bench.yaml", []byte(policy))
	if err != nil {
		fail(err)
	}
	intel, err := number.New(number.Options{})
	if err != nil {
		fail(err)
	}
	// No append-only file: this measures tollgate, not the disk.
	r, err := testenv.StartRedis("--appendonly", "no")
	if err != nil {
		fail(err)
	}
	defer r.Close()
	admin := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer admin.Close()

	fmt.Printf("| setup | decisions/s (all nodes) | per node | p50 | p99 | Redis round trips / decision | Redis bytes / decision |\n|---|---|---|---|---|---|---|\n")
	run := func(name string, n int, shared bool) {
		var engines []*engine.Engine
		var stores []*credis.Store
		for range n {
			var cs counter.Store = counter.NewMemory(0)
			if shared {
				c := goredis.NewClient(&goredis.Options{Addr: r.Addr, PoolSize: *workers * 2})
				defer c.Close()
				s, err := credis.New(credis.Options{Client: c, Timeout: time.Second})
				if err != nil {
					fail(err)
				}
				defer s.Close()
				stores = append(stores, s)
				cs = s
			}
			e, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Env: check.Env{Counters: cs}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				fail(err)
			}
			engines = append(engines, e)
		}
		admin.FlushAll(context.Background())
		before := netBytes(admin)
		var total atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(*dur)
		for ni, e := range engines {
			for w := range *workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var c screen.Call
					var v screen.Verdict
					local := make([]time.Duration, 0, 1<<16)
					ctx := context.Background()
					for i := 0; time.Now().Before(deadline); i++ {
						c = screen.Call{ID: "n" + strconv.Itoa(ni) + "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i), Tenant: "acme",
							Extension: strconv.Itoa(1000 + i%200), Callee: "+4930123456", Time: time.Now()}
						t0 := time.Now()
						if err := e.Screen(ctx, &c, &v); err != nil {
							fail(err)
						}
						local = append(local, time.Since(t0))
						if v.Action != screen.Allow {
							fail(fmt.Errorf("call refused: %v", engine.ReasonText(&v)))
						}
						// End the call so slots do not pile up.
						_, _ = e.Event(ctx, engine.Event{CallID: c.ID, Type: "end", Time: c.Time})
					}
					total.Add(int64(len(local)))
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		el := time.Since(start)
		slices.Sort(lat)
		n64 := total.Load()
		rt, bytes := "—", "—"
		if shared {
			var trips, applies int64
			for _, s := range stores {
				trips += s.Stats().RoundTrips
				applies += s.Stats().Applies
			}
			// Apply is the screen's only call; the rest is the end event
			// releasing the call's two slots.
			rt = fmt.Sprintf("%.2f (screen) + %.2f (end event)", float64(applies)/float64(n64), float64(trips-applies)/float64(n64))
			bytes = fmt.Sprintf("%.0f", float64(netBytes(admin)-before)/float64(n64))
		}
		rate := float64(n64) / el.Seconds()
		fmt.Printf("| %s | %.0f | %.0f | %s | %s | %s | %s |\n", name, rate, rate/float64(n),
			lat[len(lat)/2].Round(time.Microsecond/10), lat[len(lat)*99/100].Round(time.Microsecond/10), rt, bytes)
	}
	run("embedded, 1 node", 1, false)
	for n := 1; n <= *nodes; n++ {
		run(fmt.Sprintf("shared Redis, %d node(s)", n), n, true)
	}
}

// netBytes is what Redis has read plus written on the network so far.
func netBytes(c *goredis.Client) int64 {
	info := c.Info(context.Background(), "stats").Val()
	var sum int64
	for _, l := range strings.Split(info, "\n") {
		for _, k := range []string{"total_net_input_bytes:", "total_net_output_bytes:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), k); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				sum += n
			}
		}
	}
	return sum
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/cluster:", err)
	os.Exit(1)
}
