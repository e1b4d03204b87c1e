package esp

// The IP Authentication Header, RFC 4302: integrity for the whole packet,
// the immutable parts of the IP header included, with the integrity
// algorithms of RFC 8221 (suite.NewInteg: HMAC-SHA1-96, HMAC-SHA2-256-128,
// -384-192, -512-256, AES-XCBC-96). AHOutbound seals and AHInbound
// verifies packets in place, in transport mode (AH after the IP header,
// RFC 4302 3.1.1) and tunnel mode (a new outer header, RFC 4302 3.1.2).
//
// The ICV covers the IP header with its mutable fields zeroed (RFC 4302
// 3.3.3.1), the AH header with a zero ICV, and everything after AH, and,
// with Extended Sequence Numbers, the high-order 32 bits appended at the
// end (RFC 4302 2.5.1, 3.3.3.2). This file computes it; ah_outbound.go and
// ah_inbound.go build and take apart the packets.

import (
	"encoding/binary"
	"math"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// maxHeaderChain bounds the IP header and the extension headers before AH
// (IPv4: at most 60 octets). They are saved on the stack while their
// mutable fields are zeroed; a longer chain is dropped as malformed.
const maxHeaderChain = 512

// seqCounter hands out sequence numbers 1, 2, ... up to max, never
// cycling (RFC 4302 3.3.2).
type seqCounter struct {
	seq atomic.Uint64
	max uint64
}

func newSeqCounter(esn bool) seqCounter {
	if esn {
		return seqCounter{max: math.MaxUint64}
	}
	return seqCounter{max: math.MaxUint32}
}

func (c *seqCounter) next() (uint64, error) {
	for {
		cur := c.seq.Load()
		if cur >= c.max {
			return 0, ErrSeqExhausted
		}
		if c.seq.CompareAndSwap(cur, cur+1) {
			return cur + 1, nil
		}
	}
}

// ahICV computes the ICV of pkt, a whole IP packet whose AH header starts
// at ahOff, with the ICV field already zeroed (and an algorithm's IV in
// place before it), and writes it into the ICV field (sending) or
// compares it with icv in constant time (receiving).
// The mutable fields of the header chain pkt[:ahOff] are zeroed for the
// computation and restored afterwards. sending selects the sender's view
// of fields that are "mutable but predictable" (the final destination of a
// source route), which the receiver sees as they are.
func ahICV(integ *suite.Integ, pkt []byte, ahOff int, sending bool, hi suite.SeqHigh, icv []byte) (ok bool, err error) {
	if ahOff > maxHeaderChain {
		return false, ErrMalformed
	}
	var saved [maxHeaderChain]byte
	copy(saved[:ahOff], pkt[:ahOff])
	if pkt[0]>>4 == 4 {
		err = zeroMutableIPv4(pkt[:ahOff], sending)
	} else {
		err = zeroMutableIPv6(pkt[:ahOff], sending)
	}
	if err == nil {
		// The Authentication Data field: the IV, if the algorithm has
		// one (AES-GMAC, RFC 4543 4), which is authenticated as sent,
		// then the ICV.
		field := pkt[ahOff+packet.AHFixedLen:]
		ivLen := integ.IVLen()
		iv := field[:ivLen]
		if sending {
			integ.SumIV(field[ivLen:ivLen], iv, hi, pkt)
			ok = true
		} else {
			ok = integ.VerifyIV(icv, iv, hi, pkt)
		}
	}
	copy(pkt[:ahOff], saved[:ahOff])
	return ok, err
}

// immutableIPv4Option reports whether an IPv4 option is included in the
// ICV as it is (RFC 4302 Appendix A.1); every other option, including
// those the RFC does not list, is zeroed whole.
func immutableIPv4Option(typ uint8) bool {
	switch typ {
	case packet.IPv4OptEOL, packet.IPv4OptNOP, packet.IPv4OptSec, packet.IPv4OptExtSec,
		packet.IPv4OptCIPSO, packet.IPv4OptRA, packet.IPv4OptSDMDD:
		return true
	}
	return false
}

// zeroMutableIPv4 zeroes the mutable fields of an IPv4 header h (RFC 4302
// 3.3.3.1.1): TOS, flags, fragment offset, TTL, header checksum and the
// mutable options (Appendix A.1). With a source route the destination is
// mutable but predictable: a sender puts in the final destination, the
// last address of the route (RFC 4302 3.3.3.1.1.1).
func zeroMutableIPv4(h []byte, sending bool) error {
	if len(h) < packet.IPv4MinHeader {
		return ErrMalformed
	}
	h[1] = 0            // TOS: DSCP and ECN
	h[6], h[7] = 0, 0   // flags, fragment offset
	h[8] = 0            // TTL
	h[10], h[11] = 0, 0 // header checksum
	opts := h[packet.IPv4MinHeader:]
	for len(opts) > 0 {
		typ, opt, rest, err := packet.NextIPv4Option(opts)
		if err != nil {
			return ErrMalformed
		}
		if sending && (typ == packet.IPv4OptLSRR || typ == packet.IPv4OptSSRR) {
			// Route data after type, length and pointer: addresses
			// still to visit from the pointer on (1-based, RFC 791).
			if ptr := int(opt[2]); len(opt) >= 7 && ptr >= 4 && ptr <= len(opt) {
				copy(h[16:20], opt[len(opt)-4:])
			}
		}
		if !immutableIPv4Option(typ) {
			clear(opt)
		}
		opts = rest
	}
	return nil
}

// zeroMutableIPv6 zeroes the mutable fields of an IPv6 header chain h, the
// fixed header and the extension headers before AH (RFC 4302 3.3.3.1.2):
// Traffic Class, Flow Label and Hop Limit, the data of options whose type
// says they may change en route, and a Routing header is put into the
// state it will have at the destination (Appendix A.2): a sender swaps in
// the final destination and rotates the address list as the routers will,
// with Segments Left 0. Only the address-list routing types (0, RFC 8200
// 4.4 as formerly specified, and 2, RFC 6275 6.4) can be predicted; any
// other type with segments left is refused.
func zeroMutableIPv6(h []byte, sending bool) error {
	if len(h) < packet.IPv6HeaderLen {
		return ErrMalformed
	}
	h[0] &= 0xf0 // keep the version
	h[1], h[2], h[3] = 0, 0, 0
	h[7] = 0 // hop limit
	proto := h[6]
	for off := packet.IPv6HeaderLen; off < len(h); {
		x, err := packet.ParseIPv6ExtHeader(proto, h[off:])
		if err != nil {
			return ErrMalformed
		}
		switch proto {
		case packet.ProtoHopByHop, packet.ProtoDestOpts:
			for opts := x.Options(); len(opts) > 0; {
				typ, data, rest, err := packet.NextIPv6Option(opts)
				if err != nil {
					return ErrMalformed
				}
				if typ&packet.IPv6OptMayChange != 0 {
					clear(data)
				}
				opts = rest
			}
		case packet.ProtoRouting:
			if sending && x.SegmentsLeft() > 0 {
				if err := predictRouting(h, x); err != nil {
					return err
				}
			}
		default: // a Fragment header: the caller refuses fragments
			return ErrFragment
		}
		proto = x.NextHeader()
		off += len(x)
	}
	return nil
}

// predictRouting rewrites a type 0 or 2 Routing header x and the
// destination of h as they will arrive (RFC 4302 Appendix A.2): the
// destination becomes the last address, the list shifts right by one
// with the current destination first, and Segments Left becomes 0.
func predictRouting(h []byte, x packet.IPv6ExtHeader) error {
	if x.RoutingType() != 0 && x.RoutingType() != 2 {
		return ErrMalformed
	}
	addrs := x[8:]
	n := len(addrs) / 16
	if len(addrs)%16 != 0 || n == 0 || int(x.SegmentsLeft()) > n {
		return ErrMalformed
	}
	// Routers swap the destination with the next address, Segments
	// Left times: the unvisited tail of the list shifts right by one,
	// the current destination first, and its last address arrives as
	// the destination.
	first := (n - int(x.SegmentsLeft())) * 16
	var final [16]byte
	copy(final[:], addrs[(n-1)*16:])
	copy(addrs[first+16:], addrs[first:(n-1)*16])
	copy(addrs[first:first+16], h[24:40])
	copy(h[24:40], final[:])
	x[3] = 0
	return nil
}

// authDataLen returns the length of the Authentication Data integ fills,
// without the padding: its IV (AES-GMAC) and its ICV.
func authDataLen(integ *suite.Integ) int { return integ.IVLen() + integ.ICVLen() }

// putIV writes the IV of a sealed packet's AH header ah, if integ has one:
// the 64-bit sequence number, which never repeats within the SA (RFC 4302
// 3.3.2) and so never repeats a GMAC nonce under its key (RFC 4543 3.1).
func putIV(ah []byte, integ *suite.Integ, seq uint64) {
	if integ.IVLen() == 8 {
		binary.BigEndian.PutUint64(ah[packet.AHFixedLen:], seq)
	}
}

// seqHigh returns the SeqHigh to authenticate for seq.
func seqHigh(esn bool, seq uint64) suite.SeqHigh {
	if esn {
		return suite.ESN(seq)
	}
	return suite.SeqHigh{}
}
