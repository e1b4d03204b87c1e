//go:build !linux

package vici

import "syscall"

// presetSocketMode does nothing here; Listen chmods the file after bind.
func presetSocketMode(_, _ string, _ syscall.RawConn) error { return nil }
