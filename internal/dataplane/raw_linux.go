package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// listenRaw opens a raw IP socket for protocol proto on addr's family
// (raw(7), ipv6(7)), bound to addr, with bufSize socket buffers and the
// allocation-free recvmmsg/sendmmsg of mmsgConn (whose addresses are
// *net.UDPAddr with port 0 here: raw sockets have no ports, and an IPv6
// raw socket takes sin6_port 0 as "the socket's protocol").
func listenRaw(addr netip.Addr, proto uint8, bufSize int) (*rawSocket, error) {
	network, v6 := fmt.Sprintf("ip4:%d", proto), addr.Is6()
	if v6 {
		network = fmt.Sprintf("ip6:%d", proto)
	}
	c, err := net.ListenIP(network, &net.IPAddr{IP: addr.AsSlice()})
	if err != nil {
		return nil, err
	}
	setSocketBuffers(c, bufSize)
	var pc packetConn
	if v6 {
		pc = ipv6.NewPacketConn(c)
	} else {
		pc = ipv4.NewPacketConn(c)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &rawSocket{pc: newBatchConn(c, pc, v6), rc: rc, addr: addr, proto: proto, v6: v6}, nil
}
