//go:build !race

package number

// raceEnabled reports whether the race detector is on; the big
// differential test shrinks under it.
const raceEnabled = false
