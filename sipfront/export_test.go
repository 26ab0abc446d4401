package sipfront

// SetTestHook makes s call f with every message before handling it (a
// test injects a panic through it). Call it before Start.
func SetTestHook(s *Server, f func(raw []byte)) { s.testHook = f }

// SetUDPReaders sets the goroutines reading each UDP socket (the one
// waiting and its helpers). Call it before Start.
func SetUDPReaders(s *Server, n int) { s.udpReaders = n }
