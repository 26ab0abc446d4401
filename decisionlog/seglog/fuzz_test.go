package seglog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// FuzzReadSegment reads segment files whose frames carry arbitrary
// payloads, filters and counts behind valid checksums (what a bug or a
// disk that lies could leave): opening, queries and recovery return
// records or an error, never panic.
func FuzzReadSegment(f *testing.F) {
	var e encoder
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.reset(t0.UnixNano())
	for i := range 3 {
		d := store.Decision{CallID: "c" + string(rune('a'+i)), Time: t0, Tenant: "acme", Extension: "100", Callee: "+4930", Action: "allow", Reasons: json.RawMessage(`[]`), Rate: 0.1}
		encodeDecision(&e, &d)
	}
	f.Add(e.buf, uint32(3), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Add(e.buf[:len(e.buf)/2], uint32(3), []byte{}, true)
	f.Add([]byte{0, 200, 1}, uint32(1000000), []byte{1}, false)
	f.Fuzz(func(t *testing.T, payload []byte, count uint32, filter []byte, events bool) {
		dir := t.TempDir()
		sub, name, kind := "decisions", "d", byte(kindDecisions)
		if events {
			sub, name, kind = "events", "e", byte(kindEvents)
		}
		body := binary.LittleEndian.AppendUint32(nil, count)
		body = binary.LittleEndian.AppendUint64(body, uint64(t0.UnixNano()))
		body = binary.LittleEndian.AppendUint64(body, uint64(t0.Add(time.Hour).UnixNano()))
		body = binary.LittleEndian.AppendUint32(body, uint32(len(filter)))
		body = append(append(body, filter...), payload...)
		seg := append(append([]byte{}, segMagic[:]...), kind)
		seg = binary.LittleEndian.AppendUint32(seg, uint32(len(body)))
		seg = binary.LittleEndian.AppendUint32(seg, crc32.Checksum(body, crcTable))
		seg = append(seg, body...)
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, name+"-0000000000000001.seg"), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Read-only: the same frame scan as recovery, without its fsyncs.
		l, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			return
		}
		defer l.Close()
		l.DecisionsSince(ctx, time.Time{})
		l.CallEventsSince(ctx, time.Time{})
		l.QueryDecisions(ctx, store.DecisionQuery{Extension: "100"})
		l.QueryDecisions(ctx, store.DecisionQuery{Limit: 2})
	})
}
