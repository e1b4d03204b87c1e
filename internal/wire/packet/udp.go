package packet

import (
	"encoding/binary"
	"fmt"
)

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDP is a view of a UDP datagram. Obtain one with ParseUDP.
type UDP []byte

// ParseUDP checks that b starts with a UDP header whose Length covers the
// header and fits in b, and returns the view b[:Length]. The checksum is
// not verified.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, fmt.Errorf("%w: UDP: %d bytes, need %d", ErrMalformed, len(b), UDPHeaderLen)
	}
	n := int(binary.BigEndian.Uint16(b[udpLength:]))
	if n < UDPHeaderLen || n > len(b) {
		return nil, fmt.Errorf("%w: UDP: length %d, have %d", ErrMalformed, n, len(b))
	}
	return UDP(b[:n]), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the Length field (header plus payload).
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[udpLength:])) }

// Checksum returns the Checksum field (0: none, allowed over IPv4).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns the bytes after the header up to Length.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:u.Length()] }

// EncodeUDP writes an 8-byte UDP header into b[:8] with checksum 0, which
// RFC 768 allows over IPv4 and RFC 3948 section 2.1 recommends for
// ESP-in-UDP (ESP protects the payload). length is header plus payload.
// It panics if b is shorter than 8 bytes (a programmer error).
func EncodeUDP(b []byte, src, dst uint16, length uint16) {
	_ = b[UDPHeaderLen-1]
	binary.BigEndian.PutUint16(b[udpSrcPort:], src)
	binary.BigEndian.PutUint16(b[udpDstPort:], dst)
	binary.BigEndian.PutUint16(b[udpLength:], length)
	b[udpChecksum], b[udpChecksum+1] = 0, 0
}

// Ports returns the source and destination ports of an L4 header for TCP,
// UDP, SCTP and UDP-Lite, which all start with them (RFC 9293 3.1, RFC 768,
// RFC 9260 3.1, RFC 3828 3.1), and (0, 0) for other protocols or when l4 is
// shorter than 4 bytes (e.g. a non-first fragment's payload).
func Ports(proto uint8, l4 []byte) (src, dst uint16) {
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoUDPLite:
		if len(l4) < 4 {
			return 0, 0
		}
		return binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	}
	return 0, 0
}
