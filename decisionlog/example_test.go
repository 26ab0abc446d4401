package decisionlog_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

func Example() {
	dir, err := os.MkdirTemp("", "tollgate-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "tollgate.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	w := decisionlog.New(db, decisionlog.Options{})
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w.Decision(store.Decision{CallID: "a1", Time: now, Tenant: "acme", Action: "reject", Enforced: "reject"})
	w.Event(store.CallEvent{CallID: "a1", Type: "end", Time: now})

	// Close writes what is still queued; give it a deadline at shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		log.Print(err)
	}
	got, err := db.QueryDecisions(context.Background(), store.DecisionQuery{Tenant: "acme"})
	if err != nil {
		log.Fatal(err)
	}
	st := w.Stats()
	fmt.Println(len(got), got[0].Action, st.Written, st.Dropped)
	// Output: 1 reject 2 0
}
