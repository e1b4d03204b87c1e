//go:build !linux

package dataplane

import (
	"errors"
	"log/slog"

	"golang.zx2c4.com/wireguard/tun"
)

// createTUN is Linux only for now: elsewhere use Config.TUN or NoTUN.
func createTUN(name string, mtu int, log *slog.Logger) (tun.Device, string, routeSys, error) {
	return nil, "", nil, errors.New("create TUN " + name + ": only supported on Linux (use NoTUN)")
}
