package sadb

import (
	"net/netip"
	"testing"
)

// TestPeerMovedTo: authenticated ESP from a new address moves PeerAddr
// and tells OnPeerMoved once per change; without OnPeerMoved (we are
// behind a NAT ourselves) nothing moves.
func TestPeerMovedTo(t *testing.T) {
	orig := netip.MustParseAddrPort("192.0.2.1:21001")
	moved := netip.MustParseAddrPort("192.0.2.1:30001")
	var calls []netip.AddrPort
	c := &ChildSA{Remote: orig, OnPeerMoved: func(a netip.AddrPort) { calls = append(calls, a) }}
	c.PeerMovedTo(orig)
	c.PeerMovedTo(moved)
	c.PeerMovedTo(moved)
	if c.PeerAddr() != moved || c.Remote != orig || len(calls) != 1 || calls[0] != moved {
		t.Errorf("after a move: PeerAddr %v, Remote %v, calls %v", c.PeerAddr(), c.Remote, calls)
	}
	c.PeerMovedTo(orig)
	if c.PeerAddr() != orig || len(calls) != 2 {
		t.Errorf("moving back: PeerAddr %v, calls %v", c.PeerAddr(), calls)
	}
	c.PeerMovedTo(netip.AddrPort{})
	if c.PeerAddr() != orig || len(calls) != 2 {
		t.Errorf("invalid source: PeerAddr %v, calls %v", c.PeerAddr(), calls)
	}
	fixed := &ChildSA{Remote: orig}
	fixed.PeerMovedTo(moved)
	if fixed.PeerAddr() != orig {
		t.Errorf("without OnPeerMoved the SA moved to %v", fixed.PeerAddr())
	}
}
