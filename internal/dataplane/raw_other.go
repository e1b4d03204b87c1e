//go:build !linux

package dataplane

import (
	"errors"
	"net/netip"
)

// listenRaw is Linux only for now: BSD raw IPv4 sockets deliver the
// header with host-order length fields, which rawPayload does not expect.
func listenRaw(addr netip.Addr, proto uint8, bufSize int) (*rawSocket, error) {
	return nil, errors.New("raw IP sockets are only supported on Linux")
}
