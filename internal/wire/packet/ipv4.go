// Package packet provides zero-copy views of the IPv4 (RFC 791), IPv6
// (RFC 8200), UDP (RFC 768) and ESP (RFC 4303) headers, in the style of
// gVisor's pkg/tcpip/header: a view is a byte slice with accessor methods.
//
// Bounds are an explicit contract: the Parse function of a view is the only
// bounds-checked way in, and returns an error for anything too short or
// inconsistent; the accessors of a parsed view do no checks of their own.
// Converting an unchecked slice to a view type directly bypasses that
// contract and is a bug.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("malformed packet")

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") used by
// the data plane.
const (
	ProtoICMP     = 1
	ProtoIPv4     = 4 // IP in IP: the ESP next header for tunnel mode
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59 // "no next header": ESP dummy packets (RFC 4303 2.6)
	ProtoSCTP     = 132
	ProtoUDPLite  = 136
	IPv4MinHeader = 20
	IPv6HeaderLen = 40
	UDPHeaderLen  = 8
	ESPHeaderLen  = 8
)

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	v4VersIHL   = 0
	v4TOS       = 1
	v4TotalLen  = 2
	v4ID        = 4
	v4FlagsFrag = 6
	v4TTL       = 8
	v4Protocol  = 9
	v4Checksum  = 10
	v4Src       = 12
	v4Dst       = 16
)

// Bits of the IPv4 flags/fragment-offset word (RFC 791 3.1), in place.
const (
	IPv4FlagDF      = 0x4000 // don't fragment
	IPv4FlagMF      = 0x2000 // more fragments
	IPv4FragOffMask = 0x1fff // fragment offset, in 8-octet units
)

// IPv4 is a view of an IPv4 packet. Obtain one with ParseIPv4.
type IPv4 []byte

// ParseIPv4 checks that b starts with a well-formed IPv4 header (version 4,
// IHL >= 5, header within b, header length <= total length <= len(b)) and
// returns the view b[:TotalLen], dropping any link-layer padding after the
// packet. The header checksum is not verified (see Checksum).
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeader {
		return nil, fmt.Errorf("%w: IPv4: %d bytes, need %d", ErrMalformed, len(b), IPv4MinHeader)
	}
	if v := b[v4VersIHL] >> 4; v != 4 {
		return nil, fmt.Errorf("%w: IPv4: version %d", ErrMalformed, v)
	}
	hl := int(b[v4VersIHL]&0x0f) * 4
	if hl < IPv4MinHeader {
		return nil, fmt.Errorf("%w: IPv4: header length %d", ErrMalformed, hl)
	}
	tl := int(binary.BigEndian.Uint16(b[v4TotalLen:]))
	if tl < hl || tl > len(b) {
		return nil, fmt.Errorf("%w: IPv4: total length %d, header %d, have %d", ErrMalformed, tl, hl, len(b))
	}
	return IPv4(b[:tl]), nil
}

// HeaderLen returns the header length in bytes (IHL*4).
func (p IPv4) HeaderLen() int { return int(p[v4VersIHL]&0x0f) * 4 }

// TotalLen returns the Total Length field.
func (p IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(p[v4TotalLen:])) }

// TOS returns the Type of Service (DSCP and ECN) byte.
func (p IPv4) TOS() uint8 { return p[v4TOS] }

// ID returns the Identification field.
func (p IPv4) ID() uint16 { return binary.BigEndian.Uint16(p[v4ID:]) }

// FlagsFragOff returns the flags/fragment-offset word (see IPv4FlagDF,
// IPv4FlagMF, IPv4FragOffMask).
func (p IPv4) FlagsFragOff() uint16 { return binary.BigEndian.Uint16(p[v4FlagsFrag:]) }

// TTL returns the Time to Live field.
func (p IPv4) TTL() uint8 { return p[v4TTL] }

// Protocol returns the Protocol field (the payload's IP protocol number).
func (p IPv4) Protocol() uint8 { return p[v4Protocol] }

// HeaderChecksum returns the Header Checksum field.
func (p IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(p[v4Checksum:]) }

// Src returns the source address.
func (p IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(p[v4Src : v4Src+4])) }

// Dst returns the destination address.
func (p IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(p[v4Dst : v4Dst+4])) }

// Payload returns the bytes after the header up to the total length.
func (p IPv4) Payload() []byte { return p[p.HeaderLen():p.TotalLen()] }

// IsFragment reports whether p is a fragment: MF set or a non-zero offset
// (RFC 791 3.2). Only the first fragment carries the L4 header.
func (p IPv4) IsFragment() bool {
	return p.FlagsFragOff()&(IPv4FlagMF|IPv4FragOffMask) != 0
}

// ChecksumValid reports whether the header checksum verifies (RFC 1071: the
// sum over the header including the checksum field is all ones).
func (p IPv4) ChecksumValid() bool { return Checksum(p[:p.HeaderLen()], 0) == 0 }

// SetTTL sets the TTL and updates the header checksum incrementally
// (RFC 1624 equation 3).
func (p IPv4) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(p[v4TTL:])
	p[v4TTL] = ttl
	p.updateChecksum(old, binary.BigEndian.Uint16(p[v4TTL:]))
}

// updateChecksum replaces old by new in the header checksum: HC' = ~(~HC +
// ~m + m') (RFC 1624 section 3).
func (p IPv4) updateChecksum(old, new uint16) {
	sum := uint32(^binary.BigEndian.Uint16(p[v4Checksum:])) + uint32(^old) + uint32(new)
	binary.BigEndian.PutUint16(p[v4Checksum:], ^fold(sum))
}

// IPv4Fields are the values EncodeIPv4 writes.
type IPv4Fields struct {
	TOS      uint8
	TotalLen uint16
	ID       uint16
	// Flags holds IPv4FlagDF and/or IPv4FlagMF, in their on-wire bit
	// positions; FragOff is the fragment offset in 8-octet units. They
	// are ORed into one 16-bit word.
	Flags    uint16
	FragOff  uint16
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr // IPv4 (or IPv4-mapped IPv6) addresses
}

// EncodeIPv4 writes a 20-byte IPv4 header (no options) described by f into
// b[:20] and computes its checksum. It panics if b is shorter than 20 bytes
// or Src/Dst are not IPv4 addresses (programmer errors).
func EncodeIPv4(b []byte, f IPv4Fields) {
	_ = b[IPv4MinHeader-1]
	b[v4VersIHL] = 4<<4 | IPv4MinHeader/4
	b[v4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[v4TotalLen:], f.TotalLen)
	binary.BigEndian.PutUint16(b[v4ID:], f.ID)
	binary.BigEndian.PutUint16(b[v4FlagsFrag:], f.Flags&^IPv4FragOffMask|f.FragOff&IPv4FragOffMask)
	b[v4TTL] = f.TTL
	b[v4Protocol] = f.Protocol
	b[v4Checksum], b[v4Checksum+1] = 0, 0
	src, dst := f.Src.As4(), f.Dst.As4()
	copy(b[v4Src:], src[:])
	copy(b[v4Dst:], dst[:])
	binary.BigEndian.PutUint16(b[v4Checksum:], Checksum(b[:IPv4MinHeader], 0))
}
