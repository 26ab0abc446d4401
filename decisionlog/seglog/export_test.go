package seglog

// Abandon drops l as kill -9 would: files closed, nothing sealed, the
// directory lock released.
func Abandon(l *Log) {
	for _, s := range []*stream{l.dec, l.ev} {
		s.mu.Lock()
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
		s.mu.Unlock()
	}
	l.lock.Close()
	l.lock = nil
}
