//go:build !linux

package dataplane

import (
	"net"

	"golang.org/x/net/ipv4"
)

func setSocketBuffers(c *net.UDPConn, size int) {
	_ = c.SetReadBuffer(size)
	_ = c.SetWriteBuffer(size)
}

const pktinfoLen = 0

// putPktinfo is Linux only: elsewhere the kernel picks the source address.
func putPktinfo(b []byte, src [4]byte) []byte { return nil }

const msgTrunc = 0

func newBatchConn(c *net.UDPConn, pc *ipv4.PacketConn) packetConn { return pc }
