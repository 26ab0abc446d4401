package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/cluster"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	credis "github.com/tollgate-voip/tollgate/counter/redis"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// benchPolicy counts every call in per-extension and account windows and
// two concurrency slots (limits high enough never to refuse).
const benchPolicy = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"49": allow}
  limits:
    extension:
      international_calls_per_hour: 100000000
      concurrent_international: 1000000
    account:
      international_calls_daily: 100000000
      concurrent_calls: 1000000
tenants:
  acme: {}
`

// nullProc takes what the stream delivers and drops it (the detectors'
// own cost is the same in both modes; this measures the transport).
type nullProc struct{ n atomic.Int64 }

func (p *nullProc) Process(es []cluster.Entry) { p.n.Add(int64(len(es))) }
func (p *nullProc) Warm([]cluster.Entry)       {}

// BenchmarkDecisionCPU measures the CPU one decision costs this process
// (screen an international call, then its end event, which releases the
// slots) with in-process counters and with counters on a real
// redis-server on loopback; "redis+stream" also publishes each ended call
// to the detector stream and consumes it on the same node. Reported:
// node-cpu-µs/decision (getrusage of this process: user+system) and
// redis-cpu-µs/decision (INFO cpu of the server), besides wall time.
func BenchmarkDecisionCPU(b *testing.B) {
	cfg, err := config.Parse("bench.yaml", []byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	intel, err := number.New(number.Options{})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, mode := range []string{"embedded", "redis", "redis+stream"} {
		b.Run(mode, func(b *testing.B) {
			var cs counter.Store = counter.NewMemory(0)
			var admin *goredis.Client
			var st *cluster.Stream
			var proc nullProc
			if mode != "embedded" {
				r, err := testenv.StartRedis("--appendonly", "no")
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				admin = goredis.NewClient(&goredis.Options{Addr: r.Addr})
				defer admin.Close()
				c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
				defer c.Close()
				rs, err := credis.New(credis.Options{Client: c, Timeout: time.Second, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				defer rs.Close()
				cs = rs
				if mode == "redis+stream" {
					sc := goredis.NewClient(&goredis.Options{Addr: r.Addr, ReadTimeout: 2 * time.Second})
					defer sc.Close()
					st, err = cluster.NewStream(cluster.StreamOptions{Client: sc, Node: "bench", Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					defer st.Close()
					st.Start(&proc)
				}
			}
			e, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Env: check.Env{Counters: cs}, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var c screen.Call
			var v screen.Verdict
			base := time.Now()
			redis0 := redisCPU(b, admin)
			cpu0 := selfCPU()
			i := 0
			for b.Loop() {
				at := base.Add(time.Duration(i) * time.Millisecond)
				c = screen.Call{ID: "c" + strconv.Itoa(i), Tenant: "acme", Extension: strconv.Itoa(1000 + i%200), Callee: "+4930123456", Time: at}
				if err := e.Screen(ctx, &c, &v); err != nil {
					b.Fatal(err)
				}
				if v.Action != screen.Allow {
					b.Fatalf("refused: %v", engine.ReasonText(&v))
				}
				if _, err := e.Event(ctx, engine.Event{CallID: c.ID, Type: "end", Time: at.Add(30 * time.Second)}); err != nil {
					b.Fatal(err)
				}
				if st != nil {
					st.Publish(cdr.Record{CallID: c.ID, Tenant: "acme", Extension: c.Extension, Callee: c.Callee, Direction: screen.Outbound,
						Start: at, End: at.Add(30 * time.Second), Duration: 30, Billsec: 30, Disposition: cdr.Answered}, false)
				}
				i++
			}
			if st != nil {
				deadline := time.Now().Add(time.Minute)
				for proc.n.Load() < int64(i) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if proc.n.Load() != int64(i) {
					b.Fatalf("stream delivered %d of %d", proc.n.Load(), i)
				}
			}
			cpu := selfCPU() - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(i), "node-cpu-µs/decision")
			if admin != nil {
				b.ReportMetric((redisCPU(b, admin)-redis0)*1e6/float64(i), "redis-cpu-µs/decision")
			}
		})
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the server's user+system CPU in seconds.
func redisCPU(b *testing.B, c *goredis.Client) float64 {
	if c == nil {
		return 0
	}
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, l := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum
}
