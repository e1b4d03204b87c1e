//go:build !linux

package dataplane

import "syscall"

func setSocketBuffers(c bufferedConn, size int) {
	_ = c.SetReadBuffer(size)
	_ = c.SetWriteBuffer(size)
}

const pktinfoLen = 0

// putPktinfo is Linux only: elsewhere the kernel picks the source address.
func putPktinfo(b []byte, src [4]byte) []byte { return nil }

func putPktinfo6(b []byte, src [16]byte) []byte { return nil }

const msgTrunc = 0

func newBatchConn(c syscall.Conn, pc packetConn, v6 bool) packetConn { return pc }
