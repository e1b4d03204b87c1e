package ike

import (
	"net/netip"
	"testing"
)

// TestInbox: order, the bound, the token that announces pending events,
// and no memory held once empty.
func TestInbox(t *testing.T) {
	b := newInbox()
	ev := func(i int) packetEvent {
		return packetEvent{remote: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(i))}
	}
	for i := range inboxMax {
		if !b.put(ev(i)) {
			t.Fatalf("put %d refused below the bound", i)
		}
	}
	if b.put(ev(99)) {
		t.Fatal("put beyond the bound accepted")
	}
	for i := range inboxMax {
		select {
		case <-b.ready:
		default:
			t.Fatalf("no token with %d events waiting", inboxMax-i)
		}
		got, ok := b.take()
		if !ok || got.remote.Port() != uint16(i) {
			t.Fatalf("take %d: %v %v", i, got.remote, ok)
		}
	}
	select {
	case <-b.ready:
		t.Fatal("token left with the inbox empty")
	default:
	}
	if _, ok := b.take(); ok || b.q != nil {
		t.Fatalf("empty inbox: take ok %v, queue %v", ok, b.q)
	}
	// A stale token: two puts, both taken after one token.
	b.put(ev(1))
	b.put(ev(2))
	<-b.ready
	b.take()
	b.take()
	if _, ok := b.take(); ok {
		t.Fatal("take from an empty inbox")
	}
}
