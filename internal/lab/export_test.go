package lab

import "time"

// SetStopTimeoutForTest makes Process.Stop wait d instead of StopTimeout
// before SIGKILL; it returns a function that restores the default. Tests
// that use it must not run in parallel.
func SetStopTimeoutForTest(d time.Duration) (restore func()) {
	old := timeAfter
	timeAfter = func(time.Duration) <-chan time.Time { return time.After(d) }
	return func() { timeAfter = old }
}

// CyclicEqual exposes cyclicEqual to the external tests.
var CyclicEqual = cyclicEqual
