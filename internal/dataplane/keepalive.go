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

// SendKeepalive sends a NAT-keepalive (RFC 3948 4) from the NAT-T socket of
// remote's address family to remote and, if local.Addr() is set, from that source address, so the NAT
// in front of us keeps the mapping that the peer's ESP and IKE packets
// arrive through. The receiving side ignores it (receive.go counts it).
func (d *Dataplane) SendKeepalive(local, remote netip.AddrPort) error {
	raddr := remote.Addr().Unmap()
	s := d.socketFor(true, raddr)
	if s == nil {
		return fmt.Errorf("dataplane: NAT-keepalive to %s: not listening on that address family", remote)
	}
	msg := [1]ipv4.Message{{
		Buffers: [][]byte{natKeepalive},
		Addr:    net.UDPAddrFromAddrPort(netip.AddrPortFrom(raddr, remote.Port())),
		OOB:     s.pktinfo(make([]byte, 0, pktinfoLen), local.Addr()),
	}}
	if _, err := s.pc.WriteBatch(msg[:], 0); err != nil {
		return fmt.Errorf("dataplane: NAT-keepalive %s -> %s: %w", local, remote, err)
	}
	inc(&d.counters.KeepaliveSent)
	return nil
}
