package ike

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// newVIPPair is a remote-access pair: the left asks for a virtual IPv4
// address (vips = 0.0.0.0, local_ts = dynamic) and the right leases one
// from pool (remote_ts = dynamic).
func newVIPPair(t *testing.T, seed uint64, pool *AddressPool) *simPair {
	t.Helper()
	p := newSimPair(t, seed, simOpts{})
	dyn, err := ts.Parse("dynamic")
	if err != nil {
		t.Fatal(err)
	}
	p.l.peer.VIPs = []netip.Addr{netip.IPv4Unspecified()}
	p.l.peer.Children[0].LocalTS = []ts.Selector{dyn}
	p.r.peer.Pools = []*AddressPool{pool}
	p.r.peer.Children[0].RemoteTS = []ts.Selector{dyn}
	return p
}

func infoOf(n *simNode) SAInfo {
	sas := n.established()
	if len(sas) != 1 {
		n.s.t.Fatalf("%v: %d established IKE SAs, want 1", n.addr, len(sas))
	}
	return sas[0].info()
}

// TestSimVirtualIP: the initiator asks for an address in IKE_AUTH
// (CFG_REQUEST), the responder leases the first of its pool (CFG_REPLY),
// and both sides' dynamic selectors become that address (RFC 7296 2.19).
// The address survives Child and IKE SA rekeys, goes offline when the IKE
// SA is deleted, and the same identity gets it back.
func TestSimVirtualIP(t *testing.T) {
	pool := mustPool(t, "10.3.0.1-10.3.0.254")
	p := newVIPPair(t, 31, pool)
	p.up(t)
	vip := netip.MustParseAddr("10.3.0.1")
	host := ts.FromPrefix(netip.PrefixFrom(vip, 32))
	check := func(when string) {
		t.Helper()
		if got := infoOf(p.l).LocalVIPs; !slices.Equal(got, []netip.Addr{vip}) {
			t.Fatalf("%s: left local vips %v, want %v", when, got, vip)
		}
		if got := infoOf(p.r).RemoteVIPs; !slices.Equal(got, []netip.Addr{vip}) {
			t.Fatalf("%s: right remote vips %v, want %v", when, got, vip)
		}
		l := p.l.inst.outbound("site/net")
		r := p.r.inst.outbound("site/net")
		if l == nil || r == nil {
			t.Fatalf("%s: no outbound SA (left %v, right %v)", when, l, r)
		}
		if !slices.Equal(l.LocalTS, []ts.Selector{host}) || !slices.Equal(r.RemoteTS, []ts.Selector{host}) {
			t.Fatalf("%s: selectors left local %v, right remote %v; want %v", when, l.LocalTS, r.RemoteTS, host)
		}
		if n := p.l.inst.vipCount(vip); n != 1 {
			t.Fatalf("%s: virtual IP installed %d times on the left, want 1", when, n)
		}
		if s := pool.Stats(); s.Online != 1 || s.OnlineLeases[vip] != "192.0.2.1" {
			t.Fatalf("%s: pool leases %+v", when, s)
		}
	}
	check("established")
	p.checkTunnel(t)

	reply := p.l.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "child rekey", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	p.s.mustRun(time.Minute, "replaced SAs removed", func() bool { return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 })
	check("after a Child SA rekey")

	for _, n := range []*simNode{p.r, p.l} {
		old := n.established()[0]
		reply = n.command(cmdRekeyIKE, "")
		p.s.mustRun(time.Minute, "IKE rekey", func() bool { return len(reply) > 0 })
		if err := <-reply; err != nil {
			t.Fatal(err)
		}
		p.s.mustRun(time.Minute, "old IKE SA gone", func() bool { return old.State() == StateDeleted })
		check("after an IKE SA rekey by " + n.addr.String())
	}

	reply = p.l.command(cmdDeleteIKE, "")
	p.s.mustRun(time.Minute, "deleted", func() bool {
		return len(reply) > 0 && len(p.l.e.snapshot()) == 0 && len(p.r.e.snapshot()) == 0
	})
	if n := p.l.inst.vipCount(vip); n != 0 {
		t.Fatalf("virtual IP still installed %d times after the IKE SA went", n)
	}
	if s := pool.Stats(); s.Online != 0 || s.OfflineLeases[vip] != "192.0.2.1" {
		t.Fatalf("after delete: pool leases %+v", s)
	}
	p.up(t)
	check("reconnected")
}

// TestSimVirtualIPExhausted: with the pool's only address leased to
// another identity, the responder answers INTERNAL_ADDRESS_FAILURE and
// creates no Child SA (RFC 7296 3.15.4); the initiator, which cannot use
// the IKE SA without an address, fails and deletes it.
func TestSimVirtualIPExhausted(t *testing.T) {
	pool := mustPool(t, "10.3.0.9-10.3.0.9")
	if _, err := pool.Acquire("someone else", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	p := newVIPPair(t, 32, pool)
	done := p.l.initiate()
	p.s.mustRun(time.Minute, "initiation over", func() bool { return len(done) > 0 })
	if err := <-done; !errors.Is(err, ErrNoVIP) {
		t.Fatalf("initiate: %v, want ErrNoVIP", err)
	}
	p.s.mustRun(time.Minute, "both IKE SAs gone", func() bool {
		return len(p.l.e.snapshot()) == 0 && len(p.r.e.snapshot()) == 0
	})
	if len(p.l.inst.all()) != 0 || len(p.r.inst.all()) != 0 {
		t.Fatal("a Child SA was installed without a virtual IP")
	}
	if n := p.l.inst.vipCount(netip.MustParseAddr("10.3.0.9")); n != 0 {
		t.Fatalf("%d virtual IPs installed", n)
	}
}

// TestCPRequestCodec: what we ask for, and what a reply may carry.
func TestCPRequestCodec(t *testing.T) {
	cp := cpRequest([]netip.Addr{netip.IPv4Unspecified(), netip.MustParseAddr("fd00::5")})
	want := []wire.CPAttribute{
		{Type: wire.CfgInternalIP4Address},
		{Type: wire.CfgInternalIP6Address, Value: append(netip.MustParseAddr("fd00::5").AsSlice(), 128)},
		{Type: wire.CfgInternalIP4DNS},
		{Type: wire.CfgInternalIP6DNS},
	}
	if cp.CfgType != wire.CfgRequest || len(cp.Attributes) != len(want) {
		t.Fatalf("request %+v", cp)
	}
	for i, a := range cp.Attributes {
		if a.Type != want[i].Type || string(a.Value) != string(want[i].Value) {
			t.Errorf("attribute %d: %+v, want %+v", i, a, want[i])
		}
	}
	for _, bad := range []wire.CPAttribute{
		{Type: wire.CfgInternalIP4Address, Value: []byte{10, 0, 0}},
		{Type: wire.CfgInternalIP6Address, Value: make([]byte, 16)},
		{Type: wire.CfgInternalIP6DNS, Value: make([]byte, 17)},
	} {
		if _, err := cpAddress(bad); err == nil {
			t.Errorf("cpAddress(%+v) accepted a malformed value", bad)
		}
	}
}
