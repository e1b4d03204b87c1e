package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/goipsec/goipsec/internal/esp"
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
// The IPv4 header of the packet the host sent becomes the outer header,
// which the kernel writes for our raw or UDP socket: outbound, the payload after
// the header is sealed with the header's protocol as next header (RFC 4303
// 2.6); inbound, the decrypted payload gets an IPv4 header from the peer to
// us again before it goes to the TUN. Transport mode protects the peers'
// own traffic only (RFC 4301 4.1), so both directions check that the
// addresses are the SA's endpoints. What the kernel's header cannot carry
// is refused and counted unsupported: IPv4 options and fragments (a
// fragment's offset would be lost; the host's own packets are whole with
// PMTU discovery, and the TUN MTU leaves room for the ESP overhead).

// transportTTL is the TTL of a decapsulated transport-mode packet: the
// outer header (and its TTL) belonged to the ESP packet, which the
// kernel consumed; the packet has arrived, so any TTL above 1 will do.
const transportTTL = 64

// transportPayload checks an outbound packet for transport-mode SA c and
// returns the length of its IPv4 header, after which the payload to seal
// starts, or ok false if the packet is dropped (counted).
func (d *Dataplane) transportPayload(inner *innerPacket, c *sadb.ChildSA) (hl int, ok bool) {
	if inner.nextHeader != esp.NextHeaderIPv4 {
		inc(&d.counters.Unsupported) // transport mode over IPv6: not yet
		return 0, false
	}
	ip, err := packet.ParseIPv4(inner.pkt) // checked by parseInner already
	if err != nil {
		inc(&d.counters.Malformed)
		return 0, false
	}
	if ip.Src() != c.Local.Addr().Unmap() || ip.Dst() != c.Remote.Addr().Unmap() {
		// RFC 4301 4.1: only the peers' own packets; selectors that
		// are not host to host never make a transport SA (ike).
		inc(&d.counters.NoPolicy)
		return 0, false
	}
	if ip.HeaderLen() != packet.IPv4MinHeader || ip.IsFragment() {
		inc(&d.counters.Unsupported)
		return 0, false
	}
	return ip.HeaderLen(), true
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
// SA c against its selectors (RFC 4301 5.2) and fixes its TCP/UDP checksum
// for the addresses it will carry (RFC 3948 3.1.2). It reports whether the
// packet is to be delivered.
func (d *Dataplane) openTransport(c *sadb.ChildSA, payload []byte, proto uint8) bool {
	src, dst := c.Remote.Addr().Unmap(), c.Local.Addr().Unmap()
	sp, dp := transportPorts(payload, proto)
	if !c.MatchInbound(src, dst, proto, sp, dp) {
		c.Stats.DropsPolicy.Add(1)
		inc(&d.counters.Policy)
		return false
	}
	// The peer computed the checksum over its own view of the addresses,
	// which the selectors carry (RFC 7296 2.23.1; IKEv1's NAT-OA). The
	// engine negotiates transport mode only when they are the IKE
	// addresses, so today this is a no-op; it keeps the packet right if
	// they differ (a NAT between the peers).
	if len(c.RemoteTS) == 1 && len(c.LocalTS) == 1 {
		fixTransportChecksum(payload, proto, c.RemoteTS[0].Start, c.LocalTS[0].Start, src, dst)
	}
	return true
}

// transportPorts returns the ports of a transport-mode payload for the
// selector match, as innerPorts does for whole packets.
func transportPorts(payload []byte, proto uint8) (src, dst uint16) {
	if proto == protoICMP {
		if len(payload) < 2 {
			return 0, 0
		}
		tc := uint16(payload[0])<<8 | uint16(payload[1])
		return tc, tc
	}
	return packet.Ports(proto, payload)
}

// putTransportHeader writes the IPv4 header of a decapsulated transport
// packet of SA c into b[:20]: from the peer to us, the payload's protocol
// (RFC 4303 3.1.1, the IPv4 header is restored).
func putTransportHeader(b []byte, c *sadb.ChildSA, proto uint8, payloadLen int) {
	packet.EncodeIPv4(b, packet.IPv4Fields{
		TotalLen: uint16(packet.IPv4MinHeader + payloadLen),
		TTL:      transportTTL,
		Protocol: proto,
		Src:      c.Remote.Addr().Unmap(),
		Dst:      c.Local.Addr().Unmap(),
	})
}

// fixTransportChecksum is RFC 3948 3.1.2 step 3 for transport mode: the
// TCP or UDP checksum of payload covers the pseudo-header with the
// addresses the sender used (origSrc, origDst); the packet is delivered
// with src and dst, so their difference is applied incrementally (RFC
// 1624). A zero UDP checksum means none (RFC 768) and stays; other
// protocols have no pseudo-header. Equal addresses change nothing.
func fixTransportChecksum(payload []byte, proto uint8, origSrc, origDst, src, dst netip.Addr) {
	if !origSrc.Is4() || !origDst.Is4() || (origSrc == src && origDst == dst) {
		return
	}
	var off int
	switch proto {
	case packet.ProtoTCP:
		off = 16
	case packet.ProtoUDP:
		off = 6
	default:
		return
	}
	if len(payload) < off+2 {
		return
	}
	old := binary.BigEndian.Uint16(payload[off:])
	if proto == packet.ProtoUDP && old == 0 {
		return
	}
	// HC' = ~(~HC + ~m + m') over each 16-bit word of the addresses.
	sum := uint32(^old)
	for _, p := range [][2]netip.Addr{{origSrc, src}, {origDst, dst}} {
		o, n := p[0].As4(), p[1].As4()
		for i := 0; i < 4; i += 2 {
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
	binary.BigEndian.PutUint16(payload[off:], c)
}
