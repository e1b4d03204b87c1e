package dataplane

import (
	"encoding/binary"
	"net/netip"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// innerPacket is what the selectors of an inner (tunnelled) packet are
// matched against (RFC 4301 4.4.1.1): addresses, next layer protocol and
// ports, plus the ESP next header that announces its family in tunnel mode
// (RFC 4303 2.6: 4 for IPv4, 41 for IPv6).
type innerPacket struct {
	pkt        []byte // the IP packet alone, without trailing bytes
	src, dst   netip.Addr
	proto      uint8
	sport      uint16
	dport      uint16
	nextHeader uint8
}

// parseInner parses the IPv4 or IPv6 packet at the start of b. It reports
// false for anything malformed: a bad version, a truncated header, a
// length beyond b, or a broken IPv6 extension header chain.
func parseInner(b []byte, p *innerPacket) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		ip, err := packet.ParseIPv4(b)
		if err != nil {
			return false
		}
		*p = innerPacket{pkt: b[:ip.TotalLen()], src: ip.Src(), dst: ip.Dst(), proto: ip.Protocol(), nextHeader: esp.NextHeaderIPv4}
		p.sport, p.dport = innerPorts(ip, p.proto)
		return true
	case 6:
		ip, err := packet.ParseIPv6(b)
		if err != nil {
			return false
		}
		proto, l4, fragOff, ok := ipv6Upper(ip)
		if !ok {
			return false
		}
		*p = innerPacket{pkt: ip, src: ip.Src(), dst: ip.Dst(), proto: proto, nextHeader: esp.NextHeaderIPv6}
		if fragOff == 0 {
			p.sport, p.dport = l4Ports(proto, l4)
		}
		return true
	}
	return false
}

// ipv6Upper walks p's extension headers (RFC 8200 4) to the next layer
// protocol, which is what an IPv6 selector's protocol means (RFC 4301
// 4.4.1.1, "Next Layer Protocol"). It returns the protocol, its payload
// and the fragment offset of a Fragment header (0 without one): ports are
// OPAQUE in non-initial fragments. A header type the walk does not know is
// taken as the next layer protocol.
func ipv6Upper(p packet.IPv6) (proto uint8, l4 []byte, fragOff uint16, ok bool) {
	proto = p.NextHeader()
	rest := p.Payload()
	for packet.IsIPv6ExtHeader(proto) {
		h, err := packet.ParseIPv6ExtHeader(proto, rest)
		if err != nil {
			return 0, nil, 0, false
		}
		if proto == packet.ProtoFragment {
			// RFC 8200 4.5: Fragment Offset is the high 13 bits of
			// octets 2-3.
			fragOff = binary.BigEndian.Uint16(h[2:4]) >> 3
		}
		proto = h.NextHeader()
		rest = rest[len(h):]
	}
	return proto, rest, fragOff, true
}

// l4Ports returns the selector ports of a next layer payload: TCP, UDP,
// SCTP and UDP-Lite ports; ICMP and ICMPv6 type and code as type<<8|code
// on both sides (RFC 7296 3.13.1); 0 when unavailable.
func l4Ports(proto uint8, l4 []byte) (src, dst uint16) {
	if proto == protoICMP || proto == protoICMPv6 {
		if len(l4) < 2 {
			return 0, 0
		}
		tc := uint16(l4[0])<<8 | uint16(l4[1])
		return tc, tc
	}
	return packet.Ports(proto, l4)
}

const protoICMPv6 = 58 // RFC 4443
