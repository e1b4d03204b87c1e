// Package esp implements the Encapsulating Security Payload of RFC 4303 for
// every transform suite.NewESPTransform provides (AEADs such as AES-GCM,
// RFC 4106, and ChaCha20-Poly1305, RFC 7634; AES-CCM, AES-GMAC; AES-CBC,
// AES-CTR, NULL and 3DES with a separate integrity algorithm): sealing
// and opening packets in place in caller-owned buffers, sequence numbers
// (32-bit or extended, RFC 4303 2.2.1), the anti-replay check (RFC 4303
// 3.4.3) and the UDP encapsulation markers of RFC 3948. It also
// implements the IP Authentication Header of RFC 4302 (AHOutbound,
// AHInbound; ah.go), transport and tunnel mode for whole IP packets, IPv4
// and IPv6 (modes.go: SealTransport, OpenTransport, SealTunnel,
// OpenTunnel), the outer header of tunnel mode with the ECN rules of RFC
// 6040 and the DSCP and DF rules of RFC 4301 (tunnel.go), and TFC padding
// (RFC 4303 2.7, SetTFCPadding).
//
// The package does no I/O and starts no goroutines; it neither allocates nor
// panics per packet.
//
// A sealed packet (RFC 4303 2, RFC 4106 3) is laid out as
//
//	+-----+-----+----+-------------------------------------+-----+
//	| SPI | Seq | IV | payload | padding | padlen | nexthdr | ICV |
//	+-----+-----+----+-------------------------------------+-----+
//	   4     4   0-16 |<---------- encrypted -------------->|
//
// The IV is 8 octets for the counter-based modes (the sequence number), 16
// for AES-CBC (random), 0 for NULL; the padding reaches the transform's
// block size, at least 4. With an AEAD the AAD is SPI || Seq (SPI ||
// SeqHigh || Seq with ESN); with a separate integrity algorithm the ICV
// covers SPI through next header (and SeqHigh with ESN).
package esp

import (
	"errors"
	"fmt"

	"github.com/goipsec/goipsec/internal/replay"
)

// HeaderLen is the length of the ESP header: SPI and sequence number
// (RFC 4303 2).
const HeaderLen = 8

// trailerLen is Pad Length plus Next Header (RFC 4303 2.4, 2.6).
const trailerLen = 2

// Next header values the data plane acts on (IANA protocol numbers).
const (
	NextHeaderIPv4  = 4  // tunnel mode, inner IPv4
	NextHeaderIPv6  = 41 // tunnel mode, inner IPv6
	NextHeaderDummy = 59 // dummy packet for traffic flow confidentiality: drop (RFC 4303 2.6)
)

// Errors returned by Seal and Open; callers count drops by these.
var (
	// ErrMalformed: the packet is too short to hold header, IV, trailer
	// and ICV, or (ErrWrongSPI) belongs to another SA.
	ErrMalformed = errors.New("esp: malformed packet")
	// ErrWrongSPI wraps ErrMalformed: the packet's SPI is not this SA's.
	ErrWrongSPI = fmt.Errorf("%w: wrong SPI", ErrMalformed)
	// ErrReplay: the sequence number is 0, left of the window, or was
	// already received (RFC 4303 3.4.3).
	ErrReplay = errors.New("esp: replayed or too old sequence number")
	// ErrAuth: the ICV did not verify (RFC 4303 3.4.4).
	ErrAuth = errors.New("esp: integrity check failed")
	// ErrPadding: the decrypted trailer is inconsistent: the pad length
	// exceeds the payload or the pad bytes are not 1, 2, 3, ...
	// (RFC 4303 2.4).
	ErrPadding = errors.New("esp: invalid padding")
	// ErrSeqExhausted: every sequence number of the SA was used; the SA
	// must be rekeyed (RFC 4303 3.3.3: the counter must not cycle).
	ErrSeqExhausted = errors.New("esp: sequence numbers exhausted")
	// ErrBufferTooSmall: Seal's buffer cannot hold the sealed packet.
	ErrBufferTooSmall = errors.New("esp: buffer too small")
	// ErrClosed: the SA was zeroed (deleted).
	ErrClosed = errors.New("esp: SA deleted")
)

// padLen returns the padding needed after a payload of n bytes so that
// payload, padding and trailer end on a multiple of align (RFC 4303 2.4).
func padLen(n, align int) int {
	return (align - (n+trailerLen)%align) % align
}

// alignment returns the padding alignment for a cipher block size: the
// block size, but at least 4 so that the trailer ends on a 4-octet
// boundary (RFC 4303 2.4).
func alignment(blockSize int) int {
	return max(4, blockSize)
}

// NonESPMarkerLen is the length of the non-ESP marker that precedes IKE
// messages on the NAT traversal port (RFC 3948 2.2).
const NonESPMarkerLen = 4

// IsNonESPMarker reports whether a UDP payload received on port 4500 is an
// IKE message: it starts with four zero octets, where an ESP packet would
// have its SPI, which is never 0 (RFC 3948 2.2). The IKE message follows the
// marker.
func IsNonESPMarker(udpPayload []byte) bool {
	return len(udpPayload) >= NonESPMarkerLen &&
		udpPayload[0] == 0 && udpPayload[1] == 0 && udpPayload[2] == 0 && udpPayload[3] == 0
}

// IsKeepalive reports whether a UDP payload is a NAT-keepalive: a single
// 0xFF octet (RFC 3948 2.3), which the receiver ignores.
func IsKeepalive(udpPayload []byte) bool {
	return len(udpPayload) == 1 && udpPayload[0] == 0xff
}

// ReplayDisabled as the replay window of an inbound SA turns the
// anti-replay check off (RFC 4303 3.4.3, RFC 4302 3.4.3: the receiver may
// disable it for an SA). Only do so when the SA was negotiated that way:
// the default is on.
const ReplayDisabled = -1

// initWindow initialises w for an inbound SA and reports whether the
// anti-replay check is disabled. ESN cannot do without the window, which
// infers the high-order bits (RFC 4303 2.2.1, Appendix A2), so asking for
// both is a programming error.
func initWindow(w *replay.Window, size int, esn bool) (disabled bool) {
	if size == ReplayDisabled {
		if esn {
			panic("esp: Extended Sequence Numbers need the anti-replay window")
		}
		w.Init(0) // unused, but keeps the zero value out of reach
		return true
	}
	w.Init(size)
	return false
}
