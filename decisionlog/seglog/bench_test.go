package seglog_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// BenchmarkAppendDecisions compares the two embedded decision logs on
// the same batches of distinct decisions: one op is one AppendDecisions
// call of 512 (a loaded writer's batch) or 8, each committed durably
// (SQLite synchronous=FULL; seglog one fdatasync). bytes/decision is the
// disk used, indexes included.
func BenchmarkAppendDecisions(b *testing.B) {
	for _, size := range []int{512, 8} {
		for _, kind := range []string{"seglog", "sqlite"} {
			b.Run(kind+"/"+strconv.Itoa(size), func(b *testing.B) {
				dir := b.TempDir()
				var (
					put      func([]store.Decision) error
					diskSize func() int64
				)
				if kind == "sqlite" {
					db, err := sqlite.Open(filepath.Join(dir, "t.db"))
					if err != nil {
						b.Fatal(err)
					}
					defer db.Close()
					put = func(ds []store.Decision) error { return db.AppendDecisions(context.Background(), ds) }
					diskSize = func() int64 { return dirSize(b, dir) }
				} else {
					l, err := seglog.Open(dir, seglog.Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					put = func(ds []store.Decision) error { return l.AppendDecisions(context.Background(), ds) }
					diskSize = func() int64 { return l.Size().DecisionBytes }
				}
				batch := make([]store.Decision, size)
				n := 0
				b.ReportAllocs()
				for b.Loop() {
					for i := range batch {
						batch[i] = decision(n, t0.Add(time.Duration(n)*time.Millisecond))
						batch[i].E164 = "+44" + batch[i].Callee[5:]
						batch[i].Reasons = json.RawMessage(`[{"code":"dest_allowed","text":"GB fixed is allowed"}]`)
						n++
					}
					if err := put(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
				b.ReportMetric(float64(diskSize())/float64(n), "bytes/decision")
			})
		}
	}
}

func dirSize(b *testing.B, dir string) int64 {
	ms, _ := filepath.Glob(filepath.Join(dir, "*"))
	var n int64
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil {
			n += fi.Size()
		}
	}
	return n
}
