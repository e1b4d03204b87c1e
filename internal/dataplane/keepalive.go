package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// natKeepalive is the NAT-keepalive packet (RFC 3948 2.3): one octet 0xFF
// in a UDP datagram from and to the NAT-T port.
var natKeepalive = []byte{0xFF}

// SendKeepalive sends a NAT-keepalive (RFC 3948 4) from the NAT-T socket to
// remote and, if local.Addr() is set, from that source address, so the NAT
// in front of us keeps the mapping that the peer's ESP and IKE packets
// arrive through. The receiving side ignores it (receive.go counts it).
func (d *Dataplane) SendKeepalive(local, remote netip.AddrPort) error {
	raddr := remote.Addr().Unmap()
	if !raddr.Is4() {
		return fmt.Errorf("dataplane: NAT-keepalive to %s: only IPv4 is supported", remote)
	}
	var cm *ipv4.ControlMessage
	if l := local.Addr().Unmap(); l.Is4() && !l.IsUnspecified() && d.natt.boundToAny() {
		cm = &ipv4.ControlMessage{Src: l.AsSlice()}
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(raddr, remote.Port()))
	if _, err := d.natt.pc.WriteTo(natKeepalive, cm, dst); err != nil {
		return fmt.Errorf("dataplane: NAT-keepalive %s -> %s: %w", local, remote, err)
	}
	inc(&d.counters.KeepaliveSent)
	return nil
}
