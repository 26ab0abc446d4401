// Package geoip places source addresses in countries from a database in
// MaxMind's MMDB format (GeoLite2/GeoIP2 Country or City, or any database
// with the same "country" → "iso_code" layout) that the operator
// provides. tollgate ships no database: the licence is the operator's.
package geoip

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB answers country look-ups. It is safe for concurrent use; the file is
// memory-mapped, so a look-up does no I/O beyond page faults.
type DB struct {
	r    *maxminddb.Reader
	path string

	mu    sync.RWMutex
	codes map[uintptr]string // data record offset → ISO code
}

// Open opens the database at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s: %w", path, err)
	}
	db := &DB{r: r, path: path, codes: map[uintptr]string{}}
	// A database without a country in its records is the wrong kind (an
	// ASN database, say): refuse it rather than place nobody anywhere.
	if t := r.Metadata.DatabaseType; t != "" && !hasCountry(t) {
		r.Close()
		return nil, fmt.Errorf("geoip: %s: database type %q has no country records", path, t)
	}
	return db, nil
}

func hasCountry(dbType string) bool {
	t := strings.ToLower(dbType)
	for _, s := range []string{"country", "city", "enterprise", "insights"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// Path is the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Country returns the ISO 3166-1 alpha-2 code of the country a is in
// ("registered_country" when the record has no "country"), or "" when the
// database does not place it (private, reserved or unlisted addresses).
func (db *DB) Country(a netip.Addr) string {
	if db == nil || !a.IsValid() {
		return ""
	}
	res := db.r.Lookup(a.Unmap())
	if !res.Found() {
		return ""
	}
	off := res.Offset()
	db.mu.RLock()
	code, ok := db.codes[off]
	db.mu.RUnlock()
	if ok {
		return code
	}
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		Registered struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"registered_country"`
	}
	if res.Decode(&rec) != nil {
		return ""
	}
	code = rec.Country.ISOCode
	if code == "" {
		code = rec.Registered.ISOCode
	}
	db.mu.Lock()
	if len(db.codes) < 1<<16 { // a country database has a few hundred records
		db.codes[off] = code
	}
	db.mu.Unlock()
	return code
}

// Close releases the database.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	return db.r.Close()
}
