package packet

import "encoding/binary"

// Setters for the fields that IPsec rewrites when it inserts or removes a
// header in transport mode (RFC 4302 3.3, RFC 4303 3.3) or adjusts the ECN
// field on decapsulation (RFC 6040). The view must come from Parse*; the
// setters do no checks of their own. IPv4 setters leave the header
// checksum stale: call UpdateChecksum once after the last change.

// SetTotalLen sets the IPv4 Total Length field.
func (p IPv4) SetTotalLen(n int) { binary.BigEndian.PutUint16(p[v4TotalLen:], uint16(n)) }

// SetProtocol sets the IPv4 Protocol field.
func (p IPv4) SetProtocol(proto uint8) { p[v4Protocol] = proto }

// SetTOS sets the IPv4 Type of Service (DSCP and ECN) octet.
func (p IPv4) SetTOS(tos uint8) { p[v4TOS] = tos }

// UpdateChecksum recomputes the IPv4 header checksum (RFC 1071).
func (p IPv4) UpdateChecksum() {
	p[v4Checksum], p[v4Checksum+1] = 0, 0
	binary.BigEndian.PutUint16(p[v4Checksum:], Checksum(p[:p.HeaderLen()], 0))
}

// SetPayloadLen sets the IPv6 Payload Length field.
func (p IPv6) SetPayloadLen(n int) { binary.BigEndian.PutUint16(p[v6PayloadLen:], uint16(n)) }

// SetNextHeader sets the Next Header field of the IPv6 fixed header.
func (p IPv6) SetNextHeader(proto uint8) { p[v6NextHeader] = proto }

// SetTrafficClass sets the IPv6 Traffic Class (DSCP and ECN) octet.
func (p IPv6) SetTrafficClass(tc uint8) {
	w := binary.BigEndian.Uint32(p[v6VersTCFlow:])
	w = w&^(0xff<<20) | uint32(tc)<<20
	binary.BigEndian.PutUint32(p[v6VersTCFlow:], w)
}
