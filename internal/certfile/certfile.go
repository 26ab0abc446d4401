// Package certfile serves a TLS certificate from its PEM files and picks
// up a renewed pair (certbot, an ACME client, an operator's copy) without
// a restart: at most once per CheckEvery it compares the files'
// modification times and sizes and reloads when they changed. A pair that
// fails to load keeps the previous one in service.
package certfile

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// Pair is a certificate and key file pair in service.
type Pair struct {
	certPath, keyPath string
	// CheckEvery bounds how often the files are looked at (default 10 s).
	CheckEvery time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp
	checked time.Time
	// Reloads counts pairs loaded after the first; Failures pairs that
	// changed on disk but did not load.
	Reloads, Failures int
}

type stamp struct {
	mod  time.Time
	size int64
}

// Load reads the pair; it fails when either file is missing or they do
// not form a valid pair.
func Load(certPath, keyPath string) (*Pair, error) {
	p := &Pair{certPath: certPath, keyPath: keyPath, CheckEvery: 10 * time.Second}
	if err := p.load(time.Now()); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pair) stamps() ([2]stamp, error) {
	var st [2]stamp
	for i, path := range []string{p.certPath, p.keyPath} {
		fi, err := os.Stat(path)
		if err != nil {
			return st, err
		}
		st[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

func (p *Pair) load(now time.Time) error {
	st, err := p.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(p.certPath, p.keyPath)
	if err != nil {
		return fmt.Errorf("%s, %s: %w", p.certPath, p.keyPath, err)
	}
	p.cert, p.stamp, p.checked = &cert, st, now
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the pair in service,
// reloaded first when the files changed.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.checked) >= p.CheckEvery {
		p.checked = now
		if st, err := p.stamps(); err == nil && st != p.stamp {
			if p.load(now) == nil {
				p.Reloads++
			} else {
				p.Failures++ // the old pair stays in service
				p.stamp = st // and is not retried until the files change again
			}
		}
	}
	return p.cert, nil
}

// Config is a server TLS configuration (TLS 1.2 or later) serving the pair.
func (p *Pair) Config() *tls.Config {
	return &tls.Config{GetCertificate: p.GetCertificate, MinVersion: tls.VersionTLS12}
}
