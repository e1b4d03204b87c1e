package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// The address families of the outer header. Each family has its own pair
// of UDP sockets (IKE and NAT-T): an AF_INET6 socket could take IPv4 as
// mapped addresses, but IPV6_V6ONLY sockets keep IP_PKTINFO and
// IPV6_PKTINFO, GSO and GRO each on their own family and let an
// administrator turn either family off. ESP in UDP is the same on both
// (RFC 3948); only the UDP checksum differs: IPv6 requires it (RFC 8200
// 8.1), which the kernel computes for UDP sockets, GSO segments included.

// ipv6OuterExtra is how much longer an IPv6 outer header is than an IPv4
// one (40 vs 20 octets, RFC 8200 3, RFC 791 3.1): routes to peers reached
// over IPv6 get an MTU this much below the TUN's (route.go).
const ipv6OuterExtra = 20

// listen opens the sockets of cfg.ListenAddr, and with both (ListenAddr
// unset) the IPv6 pair on the same ports too. Port 0 (tests) picks free
// ports on IPv4 and then asks for the same ones on IPv6, retrying when
// another program has them there.
func (d *Dataplane) listen(cfg Config, both bool) error {
	const tries = 16
	for try := 0; ; try++ {
		err := d.listenFamily(cfg.ListenAddr, cfg.IKEPort, cfg.NATTPort, !cfg.NoOffload, &d.ike, &d.natt)
		if err != nil || !both {
			return err
		}
		err = d.listenFamily(netip.IPv6Unspecified(), int(d.ike.port), int(d.natt.port), !cfg.NoOffload, &d.ike6, &d.natt6)
		switch {
		case err == nil:
			return nil
		case noIPv6(err):
			d.log.Warn("IPv6 is not available on this host: listening on IPv4 only", "err", err)
			return nil
		case errors.Is(err, syscall.EADDRINUSE) && (cfg.IKEPort == 0 || cfg.NATTPort == 0) && try < tries:
			d.closeSockets()
			continue
		}
		d.closeSockets()
		return err
	}
}

// listenFamily opens the IKE and NAT-T sockets on addr.
func (d *Dataplane) listenFamily(addr netip.Addr, ikePort, nattPort int, offload bool, ike, natt **udpSocket) error {
	s, err := listenUDP(addr, ikePort, ikeSocketBuffer, false)
	if err != nil {
		return err
	}
	n, err := listenUDP(addr, nattPort, nattSocketBuffer, offload)
	if err != nil {
		s.close()
		return err
	}
	*ike, *natt = s, n
	return nil
}

// noIPv6 reports whether a bind failed because the host has no IPv6
// (no kernel support, or IPv6 disabled).
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT) ||
		errors.Is(err, syscall.EADDRNOTAVAIL)
}

// closeSockets closes every socket, raw ones included, and forgets the
// IPv6 pair.
func (d *Dataplane) closeSockets() error {
	var errs []error
	for _, s := range d.sockets() {
		errs = append(errs, s.close())
	}
	for _, s := range d.rawSockets() {
		errs = append(errs, s.close())
	}
	d.ike6, d.natt6 = nil, nil
	return errors.Join(errs...)
}

// sockets returns the open sockets.
func (d *Dataplane) sockets() []*udpSocket {
	var out []*udpSocket
	for _, s := range []*udpSocket{d.ike, d.natt, d.ike6, d.natt6} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// socketFor returns the NAT-T (natt) or IKE socket that reaches peer, nil
// if the data plane does not listen on peer's family.
func (d *Dataplane) socketFor(natt bool, peer netip.Addr) *udpSocket {
	v6 := peer.Unmap().Is6()
	pair := [2]*udpSocket{d.ike, d.ike6}
	if natt {
		pair = [2]*udpSocket{d.natt, d.natt6}
	}
	for _, s := range pair {
		if s != nil && s.v6 == v6 {
			return s
		}
	}
	return nil
}

// portOwner returns the socket of local's family on port local.Port()
// (port 0: the IKE socket), or an error naming the ports listened on.
func (d *Dataplane) portOwner(local netip.AddrPort, peer netip.Addr) (*udpSocket, bool, error) {
	switch local.Port() {
	case d.natt.port:
		if s := d.socketFor(true, peer); s != nil {
			return s, true, nil
		}
	case d.ike.port, 0:
		if s := d.socketFor(false, peer); s != nil {
			return s, false, nil
		}
	default:
		return nil, false, fmt.Errorf("not listening on port %d (IKE %d, NAT-T %d)", local.Port(), d.ike.port, d.natt.port)
	}
	return nil, false, fmt.Errorf("not listening on %s's address family", peer)
}
