package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b to the running ones'-complement sum initial, as 16-bit
// big-endian words (RFC 1071 section 4.1), without folding or
// complementing, so sums over several pieces (a pseudo-header, then a
// header, then a payload) can be chained. Only the last piece may have odd
// length: an odd trailing byte is padded with a zero (RFC 1071 4.1).
func Sum(b []byte, initial uint32) uint32 {
	// Adding 32-bit words into 64 bits and folding at the end gives the
	// same ones'-complement sum (RFC 1071 2(B): byte order independence
	// and deferred carries).
	acc := uint64(initial)
	for len(b) >= 32 {
		acc += uint64(binary.BigEndian.Uint32(b[0:])) +
			uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) +
			uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:])) +
			uint64(binary.BigEndian.Uint32(b[20:])) +
			uint64(binary.BigEndian.Uint32(b[24:])) +
			uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	// Fold 64 -> 32 bits (twice covers the carry out of the first fold).
	acc = acc&0xffffffff + acc>>32
	acc = acc&0xffffffff + acc>>32
	return uint32(acc)
}

// fold reduces a 32-bit running sum to 16 bits with end-around carry.
func fold(sum uint32) uint16 {
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	return uint16(sum)
}

// Checksum returns the Internet checksum (RFC 1071) of b with the running
// sum initial (0, or a pseudo-header sum from Sum/PseudoHeaderSum): the
// ones' complement of the ones'-complement sum, ready to store in a
// checksum field. Over data that includes a correct checksum field it
// returns 0.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(Sum(b, initial))
}

// PseudoHeaderSum returns the running sum of the TCP/UDP pseudo-header for
// IPv4 (RFC 768, RFC 9293 3.1) or IPv6 (RFC 8200 8.1), to pass as initial
// to Checksum over the L4 header and payload. src and dst must both be
// IPv4 or both IPv6.
func PseudoHeaderSum(proto uint8, src, dst netip.Addr, length uint32) uint32 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	} else {
		a, b := src.As16(), dst.As16()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	}
	return uint32(fold(s)) + uint32(proto) + length>>16 + length&0xffff
}
