// Package sqlq is the query plumbing tollgate's SQLite and PostgreSQL
// stores share: a WHERE clause built once for either placeholder style,
// and the loop that scans a result set into a slice.
package sqlq

import (
	"strconv"
	"strings"
)

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a result set: *sql.Rows or pgx.Rows.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row of rows with scan and closes rows; err is the
// query's, so that a call reads
//
//	rows, err := db.QueryContext(ctx, q, args...)
//	return sqlq.Collect(rows, err, scanThing)
func Collect[T any](rows Rows, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer closeRows(rows)
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// closeRows closes a *sql.Rows (Close() error) or a pgx.Rows (Close()).
func closeRows(r Rows) {
	switch c := r.(type) {
	case interface{ Close() error }:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

// Where is a WHERE clause and its arguments, built condition by
// condition.
type Where struct {
	dollar bool // PostgreSQL's $1, $2…; else SQLite's ?
	conds  []string
	Args   []any
}

// Question starts a clause with ? placeholders (SQLite).
func Question() *Where { return &Where{} }

// Dollar starts a clause with numbered placeholders (PostgreSQL).
func Dollar() *Where { return &Where{dollar: true} }

// And adds cond, which holds one ? standing for arg.
func (w *Where) And(cond string, arg any) {
	w.Args = append(w.Args, arg)
	if w.dollar {
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.Args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// AndIf adds cond when ok.
func (w *Where) AndIf(ok bool, cond string, arg any) {
	if ok {
		w.And(cond, arg)
	}
}

// String is " WHERE c1 AND c2…", or "" without conditions.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Limit is " LIMIT n"; when n is not in 1..most it is " LIMIT def", or
// nothing when def is 0.
func Limit(n, def, most int) string {
	if n <= 0 || n > most {
		n = def
	}
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}
