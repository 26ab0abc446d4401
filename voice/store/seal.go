package store

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/internal/sqlq"
)

// ErrNoKeys is returned by a backend opened without Keys: voice records
// are never stored in the clear.
var ErrNoKeys = errors.New("voice store: no encryption key")

// sealedSubject is what a subject's sealed record holds: everything but
// its tenant, id, kind and times, which the database sees.
type sealedSubject struct {
	Label      string
	Model      string
	Speech     float64
	Utterances int
	Print      []byte
	Stats      []byte
	Audio      [][]byte
}

func subjectAAD(tenant, id string) string { return "subject\x00" + tenant + "\x00" + id }

func statsAAD(callID, key string) string { return "callstats\x00" + callID + "\x00" + key }

// SealSubject encrypts what a subject holds beyond its key, kind and
// times, bound to its tenant and id; every backend stores this form.
func (k *Keys) SealSubject(sub Subject) (keyID string, sealed []byte, err error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sealedSubject{sub.Label, sub.Model, sub.Speech, sub.Utterances, sub.Print, sub.Stats, sub.Audio}); err != nil {
		return "", nil, err
	}
	return k.Seal(buf.Bytes(), subjectAAD(sub.Tenant, sub.ID))
}

// OpenSubject is the inverse of SealSubject: the subject whose row holds
// tenant, id, kind, the sealing key's id, the sealed record and the
// creation and update times in Unix nanoseconds.
func (k *Keys) OpenSubject(tenant, id, kind, keyID string, sealed []byte, created, updated int64) (Subject, error) {
	plain, err := k.Open(keyID, sealed, subjectAAD(tenant, id))
	if err != nil {
		return Subject{}, fmt.Errorf("subject %s/%s: %w", tenant, id, err)
	}
	var ss sealedSubject
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(&ss); err != nil {
		return Subject{}, fmt.Errorf("subject %s/%s: %w", tenant, id, err)
	}
	return Subject{Tenant: tenant, ID: id, Kind: kind, Label: ss.Label, Model: ss.Model, Speech: ss.Speech, Utterances: ss.Utterances,
		Created: time.Unix(0, created).UTC(), Updated: time.Unix(0, updated).UTC(), Print: ss.Print, Stats: ss.Stats, Audio: ss.Audio}, nil
}

// ResealSubject re-encrypts a subject's sealed record with the current
// key without decoding it.
func (k *Keys) ResealSubject(tenant, id, keyID string, sealed []byte) (newKeyID string, resealed []byte, err error) {
	plain, err := k.Open(keyID, sealed, subjectAAD(tenant, id))
	if err != nil {
		return "", nil, fmt.Errorf("subject %s/%s: %w", tenant, id, err)
	}
	return k.Seal(plain, subjectAAD(tenant, id))
}

// SealStats encrypts a call's accumulated statistics, bound to the call
// and key they are kept under.
func (k *Keys) SealStats(callID, key string, stats []byte) (keyID string, sealed []byte, err error) {
	return k.Seal(stats, statsAAD(callID, key))
}

// OpenStats is the inverse of SealStats.
func (k *Keys) OpenStats(callID, key, keyID string, sealed []byte) ([]byte, error) {
	return k.Open(keyID, sealed, statsAAD(callID, key))
}

// Row is what a backend reads of a subject or a result: *sql.Row(s) or
// pgx.Row(s).
type Row = sqlq.Scanner

// SubjectCols are the columns ScanSubject reads, in its order.
const SubjectCols = "id,key_id,sealed,created_ns,updated_ns"

// ScanSubject reads a row of SubjectCols of one tenant's subject of one
// kind and opens its sealed record.
func (k *Keys) ScanSubject(r Row, tenant, kind string) (Subject, error) {
	var id, kid string
	var sealed []byte
	var created, updated int64
	if err := r.Scan(&id, &kid, &sealed, &created, &updated); err != nil {
		return Subject{}, err
	}
	return k.OpenSubject(tenant, id, kind, kid, sealed, created, updated)
}

// ResultCols are the columns ScanResult reads, in its order.
const ResultCols = "call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason"

// ScanResult reads a row of ResultCols.
func ScanResult(r Row) (Result, error) {
	var x Result
	var t int64
	err := r.Scan(&x.CallID, &x.Tenant, &t, &x.Op, &x.Subject, &x.Decision, &x.Score, &x.LLR, &x.Speech, &x.Risk, &x.Reason)
	x.Time = time.Unix(0, t).UTC()
	return x, err
}

// ByCall groups results by call id, keeping their order.
func ByCall(rs []Result) map[string][]Result {
	out := map[string][]Result{}
	for _, r := range rs {
		out[r.CallID] = append(out[r.CallID], r)
	}
	return out
}
