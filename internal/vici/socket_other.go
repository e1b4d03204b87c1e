//go:build !linux

package vici

import (
	"net"
	"syscall"
)

// presetSocketMode does nothing here; Listen chmods the file after bind.
func presetSocketMode(_, _ string, _ syscall.RawConn) error { return nil }

// unreadBytes is unknown here.
func unreadBytes(net.Conn) (int, bool) { return 0, false }
