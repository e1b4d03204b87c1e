//go:build !linux

package daemon

import "runtime"

// uname returns the operating system and architecture (VICI "version").
func uname() (sysname, release, machine string) {
	return runtime.GOOS, "", runtime.GOARCH
}
