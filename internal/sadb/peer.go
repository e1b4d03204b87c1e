package sadb

import "net/netip"

// PeerAddr is the outer address and port ESP is sent to: Remote, unless
// UpdateRemote moved it. Safe for concurrent use.
func (c *ChildSA) PeerAddr() netip.AddrPort {
	if p := c.moved.Load(); p != nil {
		return *p
	}
	return c.Remote
}

// PeerMovedTo is the data plane's check for an authenticated inbound
// packet from from (see OnPeerMoved).
func (c *ChildSA) PeerMovedTo(from netip.AddrPort) {
	if c.OnPeerMoved == nil || !from.IsValid() || from == c.PeerAddr() {
		return
	}
	c.UpdateRemote(from)
	c.OnPeerMoved(from)
}

// UpdateRemote makes PeerAddr return ap from now on: the peer's NAT
// mapping changed and an authenticated packet came from ap, so that is
// where our packets must go (RFC 7296 2.23, RFC 3948 4). Remote itself
// stays as installed. Safe for concurrent use.
func (c *ChildSA) UpdateRemote(ap netip.AddrPort) {
	if ap == c.Remote {
		c.moved.Store(nil)
		return
	}
	c.moved.Store(&ap)
}
