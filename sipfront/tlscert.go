package sipfront

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certFiles serves the TLS certificate from its PEM files and picks up a
// renewed pair without a restart: at most once per checkEvery it compares
// the files' modification times and reloads when they changed. A pair
// that fails to load keeps the previous one in service.
type certFiles struct {
	certPath, keyPath string
	checkEvery        time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

func loadCertFiles(certPath, keyPath string) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, checkEvery: 10 * time.Second}
	if err := c.load(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certFiles) stamps() ([2]time.Time, error) {
	var st [2]time.Time
	for i, p := range []string{c.certPath, c.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, err
		}
		st[i] = fi.ModTime()
	}
	return st, nil
}

func (c *certFiles) load(now time.Time) error {
	st, err := c.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("%s, %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.stamp, c.checked = &cert, st, now
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) >= c.checkEvery {
		c.checked = now
		if st, err := c.stamps(); err == nil && st != c.stamp {
			_ = c.load(now) // on failure the old pair stays in service
		}
	}
	return c.cert, nil
}
