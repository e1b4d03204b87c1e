package esp

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"

	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Test packets for transport and tunnel mode: IPv4 and IPv6 UDP packets,
// optionally with IPv4 options and IPv6 extension headers, with valid
// checksums.

var (
	v4A = netip.MustParseAddr("192.0.2.1")
	v4B = netip.MustParseAddr("198.51.100.2")
	v6A = netip.MustParseAddr("2001:db8::1")
	v6B = netip.MustParseAddr("2001:db8:ffff::2")
	v6R = netip.MustParseAddr("2001:db8:aaaa::3") // a routing-header waypoint
)

// v4Options are an IPv4 options area of 16 octets: Router Alert
// (immutable, RFC 4302 A.1), a Timestamp with one slot (mutable), NOP,
// End of List and padding.
var v4Options = []byte{
	packet.IPv4OptRA, 4, 0, 0,
	packet.IPv4OptTS, 8, 5, 0, 0, 0, 0, 0,
	packet.IPv4OptNOP, packet.IPv4OptEOL, 0, 0,
}

// udpIPv4 returns an IPv4/UDP packet with udpPayloadLen random payload
// octets and the options opts (a multiple of 4 octets).
func udpIPv4(src, dst netip.Addr, opts []byte, udpPayloadLen int, id uint16) []byte {
	hl := packet.IPv4MinHeader + len(opts)
	udpLen := packet.UDPHeaderLen + udpPayloadLen
	p := make([]byte, hl+udpLen)
	packet.EncodeIPv4(p, packet.IPv4Fields{
		TOS: 0xb8 | ECNECT0, TotalLen: uint16(len(p)), ID: id, Flags: packet.IPv4FlagDF, TTL: 64,
		Protocol: packet.ProtoUDP, Src: src, Dst: dst,
	})
	if len(opts) > 0 {
		p[0] = 4<<4 | uint8(hl/4)
		copy(p[packet.IPv4MinHeader:], opts)
		packet.IPv4(p).UpdateChecksum()
	}
	fillUDP(p[hl:], src, dst, id)
	return p
}

func fillUDP(udp []byte, src, dst netip.Addr, id uint16) {
	packet.EncodeUDP(udp, 40000+id, 53, uint16(len(udp)))
	rand.Read(udp[packet.UDPHeaderLen:])
	sum := packet.Checksum(udp, packet.PseudoHeaderSum(packet.ProtoUDP, src, dst, uint32(len(udp))))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
}

// v6Ext selects the extension headers of udpIPv6.
type v6Ext struct {
	hopByHop bool // Hop-by-Hop with a mutable and an immutable option
	routing  bool // a type 2 Routing header with one address, segments left 1
	destOpts bool // Destination Options after the IPsec insertion point
}

// udpIPv6 returns an IPv6/UDP packet with the extension headers ext. With
// a Routing header the packet is as the sender sends it: the destination
// is the waypoint v6R and the final destination dst is in the header.
func udpIPv6(src, dst netip.Addr, ext v6Ext, udpPayloadLen int, id uint16) []byte {
	var chain []byte
	var protos []uint8
	if ext.hopByHop {
		// Option 0x3e: "may change" bit set, skip if unknown; 0x1e:
		// immutable; then PadN to 16 octets.
		protos = append(protos, packet.ProtoHopByHop)
		chain = append(chain, 0, 1, 0x3e, 2, 0xaa, 0xbb, 0x1e, 2, 0xcc, 0xdd, 1, 4, 0, 0, 0, 0)
	}
	first := dst
	if ext.routing {
		protos = append(protos, packet.ProtoRouting)
		a := dst.As16()
		chain = append(chain, 0, 2, 2, 1, 0, 0, 0, 0)
		chain = append(chain, a[:]...)
		first = v6R
	}
	if ext.destOpts {
		protos = append(protos, packet.ProtoDestOpts)
		chain = append(chain, 0, 0, 0x3f, 2, 0x11, 0x22, 1, 0)
	}
	protos = append(protos, packet.ProtoUDP)
	udpLen := packet.UDPHeaderLen + udpPayloadLen
	p := make([]byte, packet.IPv6HeaderLen+len(chain)+udpLen)
	packet.EncodeIPv6(p, packet.IPv6Fields{
		TrafficClass: 0xb8 | ECNECT1, FlowLabel: 0x12345, PayloadLen: uint16(len(p) - packet.IPv6HeaderLen),
		NextHeader: protos[0], HopLimit: 64, Src: src, Dst: first,
	})
	copy(p[packet.IPv6HeaderLen:], chain)
	// Link the chain: each header's first octet names the next.
	off := packet.IPv6HeaderLen
	for i := 1; i < len(protos); i++ {
		p[off] = protos[i]
		h, err := packet.ParseIPv6ExtHeader(protos[i-1], p[off:])
		if err != nil {
			panic(err)
		}
		off += len(h)
	}
	fillUDP(p[off:], src, dst, id)
	return p
}

// routeIPv6 does what the routers on the way do to an IPv6 packet with a
// type 2 (or 0) Routing header (RFC 8200 4.4): swap the destination with
// the next address until Segments Left is 0. pkt starts at the IPv6
// header; the Routing header must be first or after Hop-by-Hop.
func routeIPv6(pkt []byte) {
	off, proto := packet.IPv6HeaderLen, pkt[6]
	for proto != packet.ProtoRouting {
		h, err := packet.ParseIPv6ExtHeader(proto, pkt[off:])
		if err != nil {
			return
		}
		off, proto = off+len(h), h.NextHeader()
	}
	h, err := packet.ParseIPv6ExtHeader(proto, pkt[off:])
	if err != nil {
		panic(err)
	}
	n := (len(h) - 8) / 16
	for h[3] > 0 {
		i := n - int(h[3])
		a := h[8+16*i : 8+16*i+16]
		var t [16]byte
		copy(t[:], a)
		copy(a, pkt[24:40])
		copy(pkt[24:40], t[:])
		h[3]--
	}
}

// changeEnRoute changes what routers may change in an IP packet without
// breaking AH (RFC 4302 3.3.3.1): TTL or Hop Limit, DSCP and ECN, the DF
// bit, the IPv6 flow label, mutable IPv4 options and mutable IPv6 option
// data before AH.
func changeEnRoute(pkt []byte) {
	if pkt[0]>>4 == 4 {
		p := packet.IPv4(pkt)
		pkt[1] ^= 0xfc | ECNCE // DSCP rewritten, CE set
		pkt[6] ^= 0x40         // DF
		pkt[8]--               // TTL
		for opts := p.Options(); len(opts) > 0; {
			typ, opt, rest, err := packet.NextIPv4Option(opts)
			if err != nil {
				panic(err)
			}
			if typ == packet.IPv4OptTS {
				opt[2] += 4 // the router recorded a timestamp
				opt[4], opt[5], opt[6], opt[7] = 1, 2, 3, 4
			}
			opts = rest
		}
		p.UpdateChecksum()
		return
	}
	pkt[1] ^= 0x0f // low traffic class bits, flow label
	pkt[3] ^= 0x55
	pkt[7]--
	if pkt[6] == packet.ProtoHopByHop {
		pkt[packet.IPv6HeaderLen+4] ^= 0xff // option 0x3e's data
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
