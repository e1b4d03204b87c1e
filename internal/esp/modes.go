package esp

import (
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Transport and tunnel mode for ESP (RFC 4303 3.1): helpers around Seal
// and Open that take and give whole IP packets, in place.
//
// Transport mode puts ESP after the IP header (IPv6: after Hop-by-Hop,
// Routing, Fragment, and a Destination Options header before a Routing
// header, RFC 4303 3.1.1) and moves the header towards the front of the
// buffer, so the payload does not move; tunnel mode writes an outer
// header (Tunnel) before ESP.

// ipHeaderChain returns the length of the header chain of the IP packet
// pkt (exactly len(pkt) octets) before which ESP or AH goes in transport
// mode, the offset of the octet that names what follows it, and that
// protocol.
func ipHeaderChain(pkt []byte) (hl, nhOff int, proto uint8, err error) {
	if len(pkt) == 0 {
		return 0, 0, 0, ErrMalformed
	}
	switch pkt[0] >> 4 {
	case 4:
		p, err := packet.ParseIPv4(pkt)
		if err != nil || len(p) != len(pkt) {
			return 0, 0, 0, ErrMalformed
		}
		if p.IsFragment() {
			return 0, 0, 0, ErrFragment
		}
		return p.HeaderLen(), 9, p.Protocol(), nil
	case 6:
		p, err := packet.ParseIPv6(pkt)
		if err != nil || len(p) != len(pkt) {
			return 0, 0, 0, ErrMalformed
		}
		c, err := packet.WalkIPv6(p, packet.ProtoNoNext)
		if err != nil {
			return 0, 0, 0, ErrMalformed
		}
		if c.Fragment {
			return 0, 0, 0, ErrFragment
		}
		return c.Off, c.NextHeaderOff, c.Proto, nil
	}
	return 0, 0, 0, ErrMalformed
}

// findIPsec finds the ESP or AH header (proto) in a received IP packet:
// it returns the packet trimmed to its IP length, the offset of the
// header, and the offset of the octet that names it.
func findIPsec(pkt []byte, proto uint8) (ip []byte, off, nhOff int, err error) {
	if len(pkt) == 0 {
		return nil, 0, 0, ErrMalformed
	}
	switch pkt[0] >> 4 {
	case 4:
		p, err := packet.ParseIPv4(pkt)
		if err != nil {
			return nil, 0, 0, ErrMalformed
		}
		if p.IsFragment() {
			return nil, 0, 0, ErrFragment
		}
		if p.Protocol() != proto {
			return nil, 0, 0, ErrMalformed
		}
		return p, p.HeaderLen(), 9, nil
	case 6:
		p, err := packet.ParseIPv6(pkt)
		if err != nil {
			return nil, 0, 0, ErrMalformed
		}
		c, err := packet.WalkIPv6(p, proto)
		if err != nil {
			return nil, 0, 0, ErrMalformed
		}
		if c.Fragment {
			return nil, 0, 0, ErrFragment
		}
		if c.Proto != proto {
			return nil, 0, 0, ErrMalformed
		}
		return p, c.Off, c.NextHeaderOff, nil
	}
	return nil, 0, 0, ErrMalformed
}

// TransportHeadroom returns the headroom SealTransport needs before the
// packet: the ESP header and IV. The tailroom it needs after the packet
// is at most MaxOverhead()-TransportHeadroom().
func (o *Outbound) TransportHeadroom() int { return o.PayloadOffset() }

// SealTransport protects the IP packet at buf[off:off+n] in transport
// mode (RFC 4303 3.1.1): ESP goes after the header chain, which moves
// PayloadOffset() octets towards the front (off must be at least that);
// the payload is encrypted where it is, and the trailer and ICV follow it
// (cap(buf) must reach off+n+Overhead(payload)-PayloadOffset()). The IP
// length, protocol and checksum are fixed. It returns the ESP packet.
func (o *Outbound) SealTransport(buf []byte, off, n int) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.SealTransportSeq(buf, off, n, seq)
}

// SealTransportSeq is SealTransport with a sequence number from NextSeq.
func (o *Outbound) SealTransportSeq(buf []byte, off, n int, seq uint64) ([]byte, error) {
	if off < 0 || n <= 0 || off+n > len(buf) {
		return nil, ErrBufferTooSmall
	}
	hl, nhOff, proto, err := ipHeaderChain(buf[off : off+n])
	if err != nil {
		return nil, err
	}
	start := off - o.PayloadOffset()
	if start < 0 {
		return nil, ErrBufferTooSmall
	}
	copy(buf[start:start+hl], buf[off:off+hl])
	esp, err := o.seal(buf[start+hl:], n-hl, proto, seq, nil)
	if err != nil {
		copy(buf[off:off+hl], buf[start:start+hl]) // leave the packet as it was
		return nil, err
	}
	out := buf[start : start+hl+len(esp)]
	out[nhOff] = packet.ProtoESP
	if err := setIPLength(out); err != nil {
		return nil, err
	}
	if out[0]>>4 == 4 {
		packet.IPv4(out).UpdateChecksum()
	}
	return out, nil
}

// OpenTransport verifies and decrypts the transport-mode ESP packet pkt,
// an IP packet with ESP after its header chain, in place (RFC 4303
// 3.4): the header chain moves forward to sit before the decrypted
// payload and gets back the next header, length and checksum. It returns
// the packet and its next header; NextHeaderDummy means a dummy packet
// to drop (RFC 4303 2.6).
func (in *Inbound) OpenTransport(pkt []byte) ([]byte, uint8, error) {
	ip, espOff, nhOff, err := findIPsec(pkt, packet.ProtoESP)
	if err != nil {
		return nil, 0, in.countOuter(err)
	}
	payload, nh, err := in.Open(ip[espOff:])
	if err != nil {
		return nil, 0, err
	}
	// Open decrypted in place: the payload follows the ESP header and IV.
	pStart := espOff + in.PayloadOffset()
	newStart := pStart - espOff
	copy(ip[newStart:pStart], ip[:espOff])
	out := ip[newStart : pStart+len(payload)]
	out[nhOff] = nh
	if err := setIPLength(out); err != nil {
		return nil, 0, in.countOuter(ErrMalformed)
	}
	if out[0]>>4 == 4 {
		packet.IPv4(out).UpdateChecksum()
	}
	return out, nh, nil
}

// PayloadOffset returns where the payload starts in an ESP packet of this
// SA: after the header and the IV.
func (in *Inbound) PayloadOffset() int { return HeaderLen + in.ivLen }

// SealTunnel protects the inner IP packet at buf[off:off+n] in tunnel
// mode (RFC 4303 3.1.2): ESP and the outer header t go before it (off
// must be at least t.HeaderLen()+PayloadOffset()), the trailer and ICV
// after it. The outer header carries the inner DSCP and ECN (RFC 4301
// 5.1.2.1, RFC 6040 normal mode) and t's DF policy. TFC padding, if
// configured, is added (SetTFCPadding). It returns the whole packet.
func (o *Outbound) SealTunnel(buf []byte, off, n int, t *Tunnel) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.SealTunnelSeq(buf, off, n, t, seq)
}

// SealTunnelSeq is SealTunnel with a sequence number from NextSeq.
func (o *Outbound) SealTunnelSeq(buf []byte, off, n int, t *Tunnel, seq uint64) ([]byte, error) {
	if off < 0 || n <= 0 || off+n > len(buf) {
		return nil, ErrBufferTooSmall
	}
	nh, tos, df, err := innerInfo(buf[off : off+n])
	if err != nil {
		return nil, err
	}
	hl := t.HeaderLen()
	espStart := off - o.PayloadOffset()
	if espStart-hl < 0 {
		return nil, ErrBufferTooSmall
	}
	esp, err := o.seal(buf[espStart:], n, nh, seq, nil)
	if err != nil {
		return nil, err
	}
	out := buf[espStart-hl : espStart+len(esp)]
	if err := t.writeHeader(out, packet.ProtoESP, len(esp), tos, df); err != nil {
		return nil, err
	}
	return out, nil
}

// OpenTunnel verifies and decrypts the tunnel-mode ESP packet pkt (outer
// IP header, possibly IPv6 extension headers, ESP) in place and returns
// the inner packet and the next header (RFC 4303 3.4). For IPv4 and IPv6
// the inner packet is checked, trimmed to its own length (which drops
// TFC padding, RFC 4303 2.7) and given the combined ECN field (RFC 6040
// 4.2; ErrECNDrop when it must be dropped). NextHeaderDummy returns the
// dummy payload, to be dropped (RFC 4303 2.6); any other next header is
// ErrMalformed, as tunnel mode carries only IP.
func (in *Inbound) OpenTunnel(pkt []byte) ([]byte, uint8, error) {
	ip, espOff, _, err := findIPsec(pkt, packet.ProtoESP)
	if err != nil {
		return nil, 0, in.countOuter(err)
	}
	tos := outerTOS(ip)
	payload, nh, err := in.Open(ip[espOff:])
	if err != nil {
		return nil, 0, err
	}
	switch nh {
	case NextHeaderDummy:
		return payload, nh, nil
	case NextHeaderIPv4, NextHeaderIPv6:
	default:
		return nil, 0, in.countOuter(ErrMalformed)
	}
	inner, err := trimInner(payload, nh)
	if err != nil {
		return nil, 0, in.countOuter(err)
	}
	if err := Decapsulate(tos, inner); err != nil {
		return nil, 0, in.countOuter(err)
	}
	return inner, nh, nil
}

// trimInner returns the IP packet at the start of payload, without what
// follows it (TFC padding), after checking that its version is the one
// the next header announced.
func trimInner(payload []byte, nh uint8) ([]byte, error) {
	if len(payload) == 0 {
		return nil, ErrMalformed
	}
	if nh == NextHeaderIPv4 && payload[0]>>4 == 4 {
		p, err := packet.ParseIPv4(payload)
		if err != nil {
			return nil, ErrMalformed
		}
		return p, nil
	}
	if nh == NextHeaderIPv6 && payload[0]>>4 == 6 {
		p, err := packet.ParseIPv6(payload)
		if err != nil {
			return nil, ErrMalformed
		}
		return p, nil
	}
	return nil, ErrMalformed
}

// countOuter counts a drop found outside ESP itself (the IP header
// around it, the inner packet) and returns err.
func (in *Inbound) countOuter(err error) error {
	switch err {
	case ErrFragment:
		in.stats.fragment.Add(1)
	case ErrECNDrop:
		in.stats.ecn.Add(1)
	default:
		in.stats.malformed.Add(1)
	}
	return err
}
