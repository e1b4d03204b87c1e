package packet

import (
	"fmt"
)

// IPv6 extension header protocol numbers (RFC 8200 4, IANA "IPv6
// Extension Header Types").
const (
	ProtoHopByHop = 0
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoDestOpts = 60
)

// IPv6FragmentHeaderLen is the fixed length of the Fragment header (RFC
// 8200 4.5).
const IPv6FragmentHeaderLen = 8

// IPv6ExtHeader is a view of one IPv6 extension header of the kinds IPsec
// has to look into before AH or ESP: Hop-by-Hop Options, Routing,
// Fragment and Destination Options (RFC 8200 4.3-4.6). Obtain one with
// ParseIPv6ExtHeader.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	.                 options / type-specific data                  .
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv6ExtHeader []byte

// IsIPv6ExtHeader reports whether proto is one of the extension headers
// ParseIPv6ExtHeader understands.
func IsIPv6ExtHeader(proto uint8) bool {
	switch proto {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts:
		return true
	}
	return false
}

// ParseIPv6ExtHeader checks that b starts with an extension header of type
// proto (IsIPv6ExtHeader) whose length, (Hdr Ext Len + 1) * 8 octets, or 8
// for the Fragment header, fits in b, and returns the view of the header
// alone.
func ParseIPv6ExtHeader(proto uint8, b []byte) (IPv6ExtHeader, error) {
	if !IsIPv6ExtHeader(proto) {
		return nil, fmt.Errorf("%w: IPv6 extension header %d not supported", ErrMalformed, proto)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: IPv6 extension header %d: %d bytes, need 8", ErrMalformed, proto, len(b))
	}
	n := IPv6FragmentHeaderLen
	if proto != ProtoFragment {
		n = (int(b[1]) + 1) * 8
	}
	if n > len(b) {
		return nil, fmt.Errorf("%w: IPv6 extension header %d: length %d, have %d", ErrMalformed, proto, n, len(b))
	}
	return IPv6ExtHeader(b[:n]), nil
}

// NextHeader returns the type of the header that follows.
func (h IPv6ExtHeader) NextHeader() uint8 { return h[0] }

// Options returns the TLV-encoded options of a Hop-by-Hop or Destination
// Options header (RFC 8200 4.2): everything after the first two octets.
func (h IPv6ExtHeader) Options() []byte { return h[2:] }

// RoutingType and SegmentsLeft are the third and fourth octets of a
// Routing header (RFC 8200 4.4).
func (h IPv6ExtHeader) RoutingType() uint8  { return h[2] }
func (h IPv6ExtHeader) SegmentsLeft() uint8 { return h[3] }

// IPv6 option types with special meaning (RFC 8200 4.2).
const (
	IPv6OptPad1 = 0
	IPv6OptPadN = 1
	// IPv6OptMayChange is the third-highest bit of the option type: the
	// option data may change en route (RFC 8200 4.2), so AH treats it as
	// zero (RFC 4302 3.3.3.1.2.2).
	IPv6OptMayChange = 0x20
)

// NextIPv6Option splits the first option off opts (the Options of a
// Hop-by-Hop or Destination Options header): its type, its data and the
// remaining options. Pad1 is a single octet with no length or data (RFC
// 8200 4.2). It returns an error if the option's length runs past opts.
func NextIPv6Option(opts []byte) (typ uint8, data, rest []byte, err error) {
	typ = opts[0]
	if typ == IPv6OptPad1 {
		return typ, opts[1:1], opts[1:], nil
	}
	if len(opts) < 2 || 2+int(opts[1]) > len(opts) {
		return 0, nil, nil, fmt.Errorf("%w: IPv6 option %d runs past its header", ErrMalformed, typ)
	}
	n := 2 + int(opts[1])
	return typ, opts[2:n], opts[n:], nil
}

// IPv6Chain is where IPsec sits in an IPv6 packet's header chain.
type IPv6Chain struct {
	// Off is the offset of the first header after the ones that precede
	// AH or ESP in transport mode (RFC 4302 3.1.1, RFC 4303 3.1.1):
	// Hop-by-Hop, Routing, Fragment, and Destination Options that
	// precede a Routing header. A Destination Options header meant for
	// the final destination stays after IPsec.
	Off int
	// Proto is the protocol of the header at Off.
	Proto uint8
	// NextHeaderOff is the offset of the Next Header octet that holds
	// Proto: 6 in the fixed header, or the first octet of the extension
	// header before Off.
	NextHeaderOff int
	// Fragment reports a Fragment header before Off: the packet is a
	// fragment, which IPsec neither protects nor verifies before
	// reassembly (RFC 4302 3.3.4, 3.4.1; RFC 4303 3.3.4, 3.4.1).
	Fragment bool
}

// WalkIPv6 finds the transport-mode insertion point of p (see IPv6Chain)
// for a sender (stopAt is neither AH nor ESP, e.g. ProtoNoNext). For a
// receiver (stopAt is ProtoAH or ProtoESP) it walks every extension
// header, a Destination Options header included since a sender may put
// one before IPsec (RFC 4302 3.1.1), and stops at the first header of type
// stopAt, or at the first header it does not know. It returns an error for
// a malformed extension header.
func WalkIPv6(p IPv6, stopAt uint8) (IPv6Chain, error) {
	c := IPv6Chain{Off: IPv6HeaderLen, Proto: p.NextHeader(), NextHeaderOff: v6NextHeader}
	sender := stopAt != ProtoAH && stopAt != ProtoESP
	for c.Proto != stopAt && IsIPv6ExtHeader(c.Proto) {
		h, err := ParseIPv6ExtHeader(c.Proto, p[c.Off:])
		if err != nil {
			return c, err
		}
		if c.Proto == ProtoHopByHop && c.Off != IPv6HeaderLen {
			return c, fmt.Errorf("%w: IPv6 Hop-by-Hop header not first (RFC 8200 4.1)", ErrMalformed)
		}
		if sender && c.Proto == ProtoDestOpts && h.NextHeader() != ProtoRouting {
			break // options for the final destination: after IPsec
		}
		if c.Proto == ProtoFragment {
			c.Fragment = true
		}
		c.NextHeaderOff = c.Off
		c.Proto = h.NextHeader()
		c.Off += len(h)
	}
	return c, nil
}
