//go:build !unix

package voice

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
