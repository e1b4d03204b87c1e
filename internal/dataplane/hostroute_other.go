//go:build !linux

package dataplane

import (
	"errors"
	"syscall"
)

// markSockets is Linux only (SO_MARK); host routes are not available elsewhere.
func (d *Dataplane) markSockets(on bool) error {
	return errors.New("socket marks are only supported on Linux")
}

func setSocketMark(rc syscall.RawConn, mark int) error {
	return errors.New("socket marks are only supported on Linux")
}
