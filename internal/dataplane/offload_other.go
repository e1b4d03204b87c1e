//go:build !linux

package dataplane

import "net"

// UDP segmentation offload is Linux only (see offload_linux.go).
const (
	udpGSOMaxSegments = 1
	gsoControlLen     = 0
	groControlLen     = 0
)

func enableOffload(c *net.UDPConn) (gso, gro bool) { return false, false }
func putUDPSegment(oob []byte, size uint16) []byte { return oob }
func groSegmentSize(oob []byte) int                { return 0 }
func isGSOError(err error) bool                    { return false }
