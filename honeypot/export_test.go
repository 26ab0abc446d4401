package honeypot

// SetTestHook makes the decoy call f with every packet before handling it
// (a test injects a panic through it).
func SetTestHook(o *Options, f func(data []byte)) { o.testHook = f }
