package packet

import (
	"encoding/binary"
	"fmt"
)

// AH header (RFC 4302 section 2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Next Header   |  Payload Len  |          RESERVED             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Security Parameters Index (SPI)               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Sequence Number Field                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Integrity Check Value-ICV (variable)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ahNextHeader = 0
	ahPayloadLen = 1
	ahReserved   = 2
	ahSPI        = 4
	ahSeq        = 8

	// AHFixedLen is the length of the AH header before the ICV.
	AHFixedLen = 12
)

// AH is a view of an Authentication Header, from Next Header to the end
// of the ICV and its padding. Obtain one with ParseAH.
type AH []byte

// ParseAH checks that b starts with an AH header whose Payload Len
// ((length in 32-bit words) - 2, RFC 4302 2.2) covers at least the fixed
// part and fits in b, and returns the view of the header alone.
func ParseAH(b []byte) (AH, error) {
	if len(b) < AHFixedLen {
		return nil, fmt.Errorf("%w: AH: %d bytes, need %d", ErrMalformed, len(b), AHFixedLen)
	}
	n := (int(b[ahPayloadLen]) + 2) * 4
	if n < AHFixedLen || n > len(b) {
		return nil, fmt.Errorf("%w: AH: header length %d, have %d", ErrMalformed, n, len(b))
	}
	return AH(b[:n]), nil
}

// AHLen returns the length of an AH header with an ICV of icvLen octets,
// padded to 32 bits for IPv4 or 64 bits for IPv6 (RFC 4302 2.6).
func AHLen(icvLen int, ipv6 bool) int {
	n := AHFixedLen + icvLen
	align := 4
	if ipv6 {
		align = 8
	}
	return (n + align - 1) &^ (align - 1)
}

// NextHeader returns the protocol of what follows AH.
func (a AH) NextHeader() uint8 { return a[ahNextHeader] }

// Len returns the header length in octets (Payload Len + 2 words).
func (a AH) Len() int { return len(a) }

// SPI returns the Security Parameters Index.
func (a AH) SPI() uint32 { return binary.BigEndian.Uint32(a[ahSPI:]) }

// Seq returns the (low 32 bits of the) sequence number.
func (a AH) Seq() uint32 { return binary.BigEndian.Uint32(a[ahSeq:]) }

// ICV returns the Integrity Check Value field including its padding.
func (a AH) ICV() []byte { return a[AHFixedLen:] }

// EncodeAH writes an AH header of length n (AHLen) into b[:n]: next
// header, payload length, zero reserved field, SPI, sequence number and a
// zeroed ICV field (the state in which the ICV is computed, RFC 4302
// 3.3.3.1). It panics if b is shorter than n or n is not a multiple of 4
// of at least AHFixedLen (programmer errors).
func EncodeAH(b []byte, n int, nextHeader uint8, spi, seq uint32) {
	if n < AHFixedLen || n%4 != 0 {
		panic("packet: bad AH length")
	}
	_ = b[n-1]
	b[ahNextHeader] = nextHeader
	b[ahPayloadLen] = uint8(n/4 - 2)
	b[ahReserved], b[ahReserved+1] = 0, 0
	binary.BigEndian.PutUint32(b[ahSPI:], spi)
	binary.BigEndian.PutUint32(b[ahSeq:], seq)
	clear(b[AHFixedLen:n])
}
