//go:build race

package esp

// raceEnabled: the race detector drops sync.Pool items at random, so the
// allocation counts of pooled per-packet state mean nothing under it.
const raceEnabled = true
