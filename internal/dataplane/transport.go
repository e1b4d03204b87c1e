package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Transport mode (RFC 4303 3.1.1), raw or over UDP encapsulation (RFC
// 3948 2.1):
//
//	TUN packet:  [IPv4 local->peer][TCP/UDP/ICMP ...]
//	on the wire: [IPv4 local->peer][ESP][TCP/UDP/ICMP ...][trailer][ICV]
//	         or: [IPv4 local->peer][UDP 4500][ESP][TCP/UDP/ICMP ...][trailer][ICV]
//
//	TUN packet:  [IPv6 local->peer][Dest. Options*][TCP/UDP/ICMPv6 ...]
//	on the wire: [IPv6 local->peer][UDP 4500][ESP][Dest. Options*][TCP/UDP/ICMPv6 ...][trailer][ICV]
//
// The IP header of the packet the host sent becomes the outer header,
// which the kernel writes for our raw or UDP socket: outbound, the payload after
// the header is sealed with the header's protocol (IPv6: the first header
// after the fixed one) as next header (RFC 4303 2.6); inbound, the
// decrypted payload gets an IP header from the peer to us again before it
// goes to the TUN. Transport mode protects the peers' own traffic only
// (RFC 4301 4.1), so both directions check that the addresses are the SA's
// endpoints.
//
// IPv6 extension headers (RFC 4303 3.1.1): ESP goes after Hop-by-Hop,
// Routing and Fragment headers and a Destination Options header before a
// Routing header, and before a Destination Options header meant for the
// final destination, which is encrypted with the payload and restored as
// it came. The headers that belong before ESP would have to be in the
// kernel's outer header, which our raw and UDP sockets do not write, so packets
// with them are refused and counted unsupported, as are IPv4 options and
// fragments of either family (a fragment's offset would be lost; the
// host's own packets are whole with PMTU discovery, and the TUN MTU
// leaves room for the ESP overhead). Inbound, only Destination Options may
// precede the upper-layer header in the decrypted payload: a Hop-by-Hop,
// Routing or Fragment header there is no transport payload RFC 4303 3.1.1
// makes, and a Routing header would have the host forward the packet.

// Through a NAT (RFC 3948 3.1.2) the TCP, UDP and ICMPv6 checksums of a
// transport payload cover the pseudo-header with the sender's view of
// the addresses, which the NAT changed on the outer header only. The
// sender does nothing about it: the procedure is the receiver's, and
// Linux, strongSwan's kernel data plane, sends the payload as it is too.
// Linux's receiver takes RFC 3948's other choice and skips the check
// (net/ipv4/esp4.c and net/ipv6/esp6.c, esp_input_done2: "ignore UDP/TCP
// checksums in case of NAT-T in Transport Mode", CHECKSUM_UNNECESSARY),
// which a TUN write cannot ask for; we apply step 3 instead, an
// incremental update (RFC 1624) from the addresses the engine kept from
// the peer's selectors (sadb.ChildSA.NATOrigLocal, NATOrigRemote) to the
// ones written to the TUN, so the host's stack verifies a correct
// checksum and integrity stays end to end.

// transportTTL is the TTL (IPv6: hop limit) of a decapsulated
// transport-mode packet: the outer header (and its TTL) belonged to the
// UDP datagram, which the kernel consumed; the packet has arrived, so any
// TTL above 1 will do.
const transportTTL = 64

// transportPayload checks an outbound packet for transport-mode SA c and
// returns the length of its IP header, after which the payload to seal
// starts, and the ESP next header of that payload, or ok false if the
// packet is dropped (counted).
func (d *Dataplane) transportPayload(inner *innerPacket, c *sadb.ChildSA) (hl int, nh uint8, ok bool) {
	if inner.src != c.Local.Addr().Unmap() || inner.dst != c.Remote.Addr().Unmap() {
		// RFC 4301 4.1: only the peers' own packets; selectors that
		// are not host to host never make a transport SA (ike).
		inc(&d.counters.NoPolicy)
		return 0, 0, false
	}
	if inner.pkt[0]>>4 == 6 {
		chain, err := packet.WalkIPv6(packet.IPv6(inner.pkt), packet.ProtoNoNext)
		if err != nil { // parseInner walked it already
			inc(&d.counters.Malformed)
			return 0, 0, false
		}
		if chain.Off != packet.IPv6HeaderLen {
			// Hop-by-Hop, Routing or Fragment: they go before ESP, in
			// the outer header the kernel writes (see above).
			inc(&d.counters.Unsupported)
			return 0, 0, false
		}
		return chain.Off, chain.Proto, true
	}
	ip, err := packet.ParseIPv4(inner.pkt) // checked by parseInner already
	if err != nil {
		inc(&d.counters.Malformed)
		return 0, 0, false
	}
	if ip.HeaderLen() != packet.IPv4MinHeader || ip.IsFragment() {
		inc(&d.counters.Unsupported)
		return 0, 0, false
	}
	return ip.HeaderLen(), ip.Protocol(), true
}

// fromPeer reports whether a datagram on transport SA c came from the
// peer's address: the decapsulated packet is given that source, and the
// SA is the peers' own (RFC 4301 5.2 step 4, transport mode). So a
// transport SA follows a peer's new port (a NAT mapping, RFC 7296 2.23)
// but never a new address, which its selectors would not cover.
func fromPeer(from net.Addr, c *sadb.ChildSA) bool {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(ua.IP)
	return ok && a.Unmap() == c.Remote.Addr().Unmap()
}

// openTransport checks the payload of a decrypted transport-mode packet on
// SA c, whose ESP next header is nh, against its selectors (RFC 4301 5.2)
// and fixes its TCP/UDP (IPv6: and ICMPv6) checksum for the addresses it
// will carry (RFC 3948 3.1.2). It reports whether the packet is to be
// delivered.
func (d *Dataplane) openTransport(c *sadb.ChildSA, payload []byte, nh uint8) bool {
	src, dst := c.Remote.Addr().Unmap(), c.Local.Addr().Unmap()
	proto, l4, ok := transportUpper(payload, nh, src.Is6())
	if !ok {
		inc(&d.counters.Malformed)
		return false
	}
	sp, dp := l4Ports(proto, l4)
	if !c.MatchInbound(src, dst, proto, sp, dp) {
		c.Stats.DropsPolicy.Add(1)
		inc(&d.counters.Policy)
		return false
	}
	// Behind a NAT the peer computed the checksum over its own view of
	// the addresses, which the engine kept from the peer's traffic
	// selectors (IKEv2 has no NAT-OA; RFC 3948 3.1.2 step 3).
	osrc, odst := c.NATOrigRemote, c.NATOrigLocal
	if !osrc.IsValid() {
		osrc = src
	}
	if !odst.IsValid() {
		odst = dst
	}
	fixTransportChecksum(l4, proto, osrc, odst, src, dst)
	return true
}

// transportUpper walks the decrypted payload of a transport-mode packet,
// whose ESP next header is nh, to its upper-layer header: over IPv6 past
// the Destination Options headers that may follow ESP (RFC 4303 3.1.1,
// RFC 8200 4.6). It returns the upper-layer protocol and its header and
// data, or ok false for a truncated header or another extension header.
func transportUpper(payload []byte, nh uint8, v6 bool) (proto uint8, l4 []byte, ok bool) {
	if nh == packet.ProtoHopByHop {
		// IPv4 has no protocol 0; over IPv6 Hop-by-Hop never follows ESP.
		return 0, nil, false
	}
	if !v6 {
		return nh, payload, true
	}
	for packet.IsIPv6ExtHeader(nh) {
		if nh != packet.ProtoDestOpts {
			return 0, nil, false
		}
		h, err := packet.ParseIPv6ExtHeader(nh, payload)
		if err != nil {
			return 0, nil, false
		}
		nh, payload = h.NextHeader(), payload[len(h):]
	}
	return nh, payload, true
}

// transportHeaderLen is the length of the IP header that putTransportHeader
// writes for SA c.
func transportHeaderLen(c *sadb.ChildSA) int {
	if c.Remote.Addr().Unmap().Is6() {
		return packet.IPv6HeaderLen
	}
	return packet.IPv4MinHeader
}

// putTransportHeader writes the IP header of a decapsulated transport
// packet of SA c into b[:transportHeaderLen(c)]: from the peer to us, the
// payload's ESP next header (RFC 4303 3.1.1, the IP header is restored).
func putTransportHeader(b []byte, c *sadb.ChildSA, nh uint8, payloadLen int) {
	src, dst := c.Remote.Addr().Unmap(), c.Local.Addr().Unmap()
	if src.Is6() {
		packet.EncodeIPv6(b, packet.IPv6Fields{
			PayloadLen: uint16(payloadLen),
			NextHeader: nh,
			HopLimit:   transportTTL,
			Src:        src,
			Dst:        dst,
		})
		return
	}
	packet.EncodeIPv4(b, packet.IPv4Fields{
		TotalLen: uint16(packet.IPv4MinHeader + payloadLen),
		TTL:      transportTTL,
		Protocol: nh,
		Src:      src,
		Dst:      dst,
	})
}

// fixTransportChecksum is RFC 3948 3.1.2 step 3 for transport mode: the
// checksum of the upper-layer header l4 covers the pseudo-header with the
// addresses the sender used (origSrc, origDst); the packet is delivered
// with src and dst, so their difference is applied incrementally (RFC
// 1624 3, HC' = ~(~HC + ~m + m')). TCP and UDP have the pseudo-header
// over both families (RFC 9293 3.1, RFC 768, RFC 8200 8.1), ICMPv6 too
// (RFC 4443 2.3), ICMP not. A zero UDP checksum means none (RFC 768) and
// stays. Equal addresses, or mixed families, change nothing.
func fixTransportChecksum(l4 []byte, proto uint8, origSrc, origDst, src, dst netip.Addr) {
	if origSrc == src && origDst == dst {
		return
	}
	if origSrc.Is4() != src.Is4() || origDst.Is4() != dst.Is4() || src.Is4() != dst.Is4() {
		return
	}
	var off int
	switch {
	case proto == packet.ProtoTCP:
		off = 16
	case proto == packet.ProtoUDP:
		off = 6
	case proto == packet.ProtoICMPv6 && src.Is6():
		off = 2
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	old := binary.BigEndian.Uint16(l4[off:])
	if proto == packet.ProtoUDP && old == 0 {
		return
	}
	first := 0 // As16 holds an IPv4 address in its last 4 octets
	if src.Is4() {
		first = 12
	}
	sum := uint32(^old)
	for _, p := range [2][2]netip.Addr{{origSrc, src}, {origDst, dst}} {
		o, n := p[0].As16(), p[1].As16()
		for i := first; i < 16; i += 2 {
			sum += uint32(^binary.BigEndian.Uint16(o[i:]))
			sum += uint32(binary.BigEndian.Uint16(n[i:]))
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if proto == packet.ProtoUDP && c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}
