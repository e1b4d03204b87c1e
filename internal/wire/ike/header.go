package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// IKE header (RFC 7296 3.1):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Initiator's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Responder's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Message ID                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Length                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	hdrSPIi        = 0
	hdrSPIr        = 8
	hdrNextPayload = 16
	hdrVersion     = 17
	hdrExchange    = 18
	hdrFlags       = 19
	hdrMessageID   = 20
	hdrLength      = 24

	// HeaderLen is the length of the IKE header (RFC 7296 3.1).
	HeaderLen = 28
)

// Version2 is the version octet of IKEv2: major 2, minor 0 (RFC 7296 3.1).
const Version2 = 0x20

// ErrMalformed is wrapped by every error that reports a message or payload
// that does not follow the RFC 7296 section 3 syntax. An engine answers such
// a protected request with INVALID_SYNTAX and drops such an unprotected one.
var ErrMalformed = errors.New("malformed IKE message")

// ErrInvalidMajorVersion reports a header whose major version is not 2; the
// answer is INVALID_MAJOR_VERSION (RFC 7296 2.5).
var ErrInvalidMajorVersion = errors.New("ike: invalid major version")

// UnsupportedCriticalError reports a payload of a type this package does not
// know that had its critical bit set: the whole message must be rejected
// with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 2.5 and 3.2).
type UnsupportedCriticalError struct {
	PayloadType PayloadType
}

func (e *UnsupportedCriticalError) Error() string {
	return fmt.Sprintf("ike: unsupported critical payload type %d", uint8(e.PayloadType))
}

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

// Header is the fixed IKE header (RFC 7296 3.1).
type Header struct {
	SPIi, SPIr  uint64 // big-endian on the wire
	NextPayload PayloadType
	Version     uint8 // 0x20 for IKEv2 (major 2, minor 0)
	Exchange    ExchangeType
	Flags       uint8
	MessageID   uint32
	Length      uint32
}

// ParseHeader parses the IKE header at the start of b. b must hold at least
// HeaderLen bytes and at least Length bytes; the major version must be 2
// (ErrInvalidMajorVersion otherwise, RFC 7296 2.5). The minor version and
// the reserved flag bits are ignored as RFC 7296 3.1 requires. With
// ErrInvalidMajorVersion the returned Header is filled in, so that the caller
// can answer with INVALID_MAJOR_VERSION; a caller that needs the SPIs after
// Parse failed (e.g. to answer UNSUPPORTED_CRITICAL_PAYLOAD) calls
// ParseHeader too.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, malformed("ike: header: %d octets, want at least %d", len(b), HeaderLen)
	}
	h := Header{
		SPIi:        binary.BigEndian.Uint64(b[hdrSPIi:]),
		SPIr:        binary.BigEndian.Uint64(b[hdrSPIr:]),
		NextPayload: PayloadType(b[hdrNextPayload]),
		Version:     b[hdrVersion],
		Exchange:    ExchangeType(b[hdrExchange]),
		Flags:       b[hdrFlags],
		MessageID:   binary.BigEndian.Uint32(b[hdrMessageID:]),
		Length:      binary.BigEndian.Uint32(b[hdrLength:]),
	}
	if h.Version>>4 != 2 {
		return h, fmt.Errorf("%w %d.%d", ErrInvalidMajorVersion, h.Version>>4, h.Version&0xf)
	}
	if h.Length < HeaderLen || uint64(h.Length) > uint64(len(b)) {
		return h, malformed("ike: header: length %d, have %d octets", h.Length, len(b))
	}
	return h, nil
}

// IsResponse reports whether the Response flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the Initiator flag is set (the sender is the
// original initiator of the IKE SA).
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// Append appends the 28-byte header, every field as given (the caller sets
// Length and NextPayload).
func (h Header) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(h.NextPayload), h.Version, byte(h.Exchange), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}
