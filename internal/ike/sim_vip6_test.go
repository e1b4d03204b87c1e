package ike

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// IPv6 and dual-stack virtual IPs (RFC 7296 2.19, 3.15.1, 3.15.3): the
// client asks with an empty INTERNAL_IP6_ADDRESS (vips = ::), the
// gateway answers the 16 octets of a lease from an IPv6 pool and the
// prefix length 128, and both sides narrow the client's dynamic selector
// to VIP/128.

// newVIP6Pair is newVIPPair with the vips the left asks for and the
// right's pools; both LANs have an IPv4 and an IPv6 prefix.
func newVIP6Pair(t *testing.T, seed uint64, vips []netip.Addr, pools ...*AddressPool) *simPair {
	t.Helper()
	p := newVIPPair(t, seed, pools[0])
	p.l.peer.VIPs = vips
	p.r.peer.Pools = pools
	both := []ts.Selector{ts.FromPrefix(netip.MustParsePrefix("10.2.0.0/24")), ts.FromPrefix(netip.MustParsePrefix("fd02::/64"))}
	p.l.peer.Children[0].RemoteTS = both
	p.r.peer.Children[0].LocalTS = both
	return p
}

func hostTS(s string) ts.Selector {
	a := netip.MustParseAddr(s)
	return ts.FromPrefix(netip.PrefixFrom(a, a.BitLen()))
}

// checkVIPs asserts the virtual IPs on both sides, the client's local and
// the gateway's remote selectors (each VIP as a host selector), and that
// the client installed each address once.
func checkVIPs(t *testing.T, p *simPair, when string, vips ...string) {
	t.Helper()
	var want []netip.Addr
	var host []ts.Selector
	for _, v := range vips {
		want = append(want, netip.MustParseAddr(v))
		host = append(host, hostTS(v))
	}
	if got := infoOf(p.l).LocalVIPs; !slices.Equal(got, want) {
		t.Fatalf("%s: left local vips %v, want %v", when, got, want)
	}
	if got := infoOf(p.r).RemoteVIPs; !slices.Equal(got, want) {
		t.Fatalf("%s: right remote vips %v, want %v", when, got, want)
	}
	l, r := p.l.inst.outbound("site/net"), p.r.inst.outbound("site/net")
	if l == nil || r == nil {
		t.Fatalf("%s: no outbound SA (left %v, right %v)", when, l, r)
	}
	if !slices.Equal(l.LocalTS, host) || !slices.Equal(r.RemoteTS, host) {
		t.Fatalf("%s: selectors left local %v, right remote %v; want %v", when, l.LocalTS, r.RemoteTS, host)
	}
	for _, a := range want {
		if n := p.l.inst.vipCount(a); n != 1 {
			t.Fatalf("%s: virtual IP %v installed %d times on the left, want 1", when, a, n)
		}
	}
}

// TestSimVirtualIPv6: an IPv6 lease (INTERNAL_IP6_ADDRESS) with the
// pool's name servers of both families, kept across Child and IKE SA
// rekeys, offline after delete, and the same identity's again on return.
func TestSimVirtualIPv6(t *testing.T) {
	pool := mustPool(t, "fd00:10::1-fd00:10::fe")
	pool.DNS = []netip.Addr{netip.MustParseAddr("fd00:10::53"), netip.MustParseAddr("10.2.0.53")}
	p := newVIP6Pair(t, 61, []netip.Addr{netip.IPv6Unspecified()}, pool)
	p.up(t)
	vip := netip.MustParseAddr("fd00:10::1")
	checkVIPs(t, p, "established", "fd00:10::1")
	p.checkTunnel(t)
	sa := p.l.established()[0]
	sa.mu.Lock()
	dns := slices.Clone(sa.vip.dns)
	sa.mu.Unlock()
	if !slices.Equal(dns, pool.DNS) {
		t.Fatalf("client's name servers %v, want %v (INTERNAL_IP6_DNS and INTERNAL_IP4_DNS)", dns, pool.DNS)
	}

	reply := p.l.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "child rekey", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	p.s.mustRun(time.Minute, "replaced SAs removed", func() bool { return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 })
	checkVIPs(t, p, "after a Child SA rekey", "fd00:10::1")
	for _, n := range []*simNode{p.r, p.l} {
		old := n.established()[0]
		reply = n.command(cmdRekeyIKE, "")
		p.s.mustRun(time.Minute, "IKE rekey", func() bool { return len(reply) > 0 })
		if err := <-reply; err != nil {
			t.Fatal(err)
		}
		p.s.mustRun(time.Minute, "old IKE SA gone", func() bool { return old.State() == StateDeleted })
		checkVIPs(t, p, "after an IKE SA rekey by "+n.addr.String(), "fd00:10::1")
	}
	if s := pool.Stats(); s.Online != 1 || s.OnlineLeases[vip] != "192.0.2.1" {
		t.Fatalf("pool leases %+v", s)
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
	checkVIPs(t, p, "reconnected", "fd00:10::1")
}

// TestSimVirtualIPDualStack: vips = 0.0.0.0, :: against pools = p4, p6
// gives one address of each family, and the Child SA carries both as
// host selectors. A gateway with an IPv4 pool only assigns that one, and
// the client's selectors hold the IPv4 address alone.
func TestSimVirtualIPDualStack(t *testing.T) {
	any2 := []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	p4, p6 := mustPool(t, "10.3.0.1-10.3.0.254"), mustPool(t, "fd00:10::1-fd00:10::fe")
	p := newVIP6Pair(t, 62, any2, p4, p6)
	p.up(t)
	checkVIPs(t, p, "dual-stack", "10.3.0.1", "fd00:10::1")
	p.checkTunnel(t)
	reply := p.l.command(cmdRekeyIKE, "")
	p.s.mustRun(time.Minute, "IKE rekey", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	p.s.mustRun(time.Minute, "one IKE SA each", func() bool { return len(p.l.e.snapshot()) == 1 && len(p.r.e.snapshot()) == 1 })
	checkVIPs(t, p, "dual-stack after an IKE SA rekey", "10.3.0.1", "fd00:10::1")

	q := newVIP6Pair(t, 63, any2, mustPool(t, "10.3.0.1-10.3.0.254"))
	q.up(t)
	checkVIPs(t, q, "dual-stack request, IPv4 pool only", "10.3.0.1")
}

// TestSimVirtualIPv6Exhausted: a small IPv6 pool (fd00:10::/126, two
// addresses) held by two other identities refuses the client
// (INTERNAL_ADDRESS_FAILURE, no Child SA); a dual-stack client of the
// same gateway still gets its IPv4 address.
func TestSimVirtualIPv6Exhausted(t *testing.T) {
	full := func() *AddressPool {
		pool := mustPool(t, "fd00:10::1-fd00:10::2")
		for _, id := range []string{"a", "b"} {
			if _, err := pool.Acquire(id, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		}
		return pool
	}
	p := newVIP6Pair(t, 64, []netip.Addr{netip.IPv6Unspecified()}, full())
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

	q := newVIP6Pair(t, 65, []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, mustPool(t, "10.3.0.1-10.3.0.1"), full())
	q.up(t)
	checkVIPs(t, q, "IPv6 pool full, IPv4 free", "10.3.0.1")
}

// TestSimVirtualIPv6WideTSi: a gateway whose remote_ts is ::/0 (not
// dynamic) returns TSi ::/0; the client narrows it to its VIP/128 (RFC
// 7296 2.9, as strongSwan's initiator does), and a requested address
// (vips = fd00:10::77) is honoured.
func TestSimVirtualIPv6WideTSi(t *testing.T) {
	pool := mustPool(t, "fd00:10::1-fd00:10::fe")
	p := newVIP6Pair(t, 66, []netip.Addr{netip.MustParseAddr("fd00:10::77")}, pool)
	p.r.peer.Children[0].RemoteTS = []ts.Selector{ts.FromPrefix(netip.MustParsePrefix("::/0"))}
	p.up(t)
	l, r := p.l.inst.outbound("site/net"), p.r.inst.outbound("site/net")
	if want := []ts.Selector{hostTS("fd00:10::77")}; !slices.Equal(l.LocalTS, want) {
		t.Fatalf("client's local selectors %v, want %v", l.LocalTS, want)
	}
	if want := []ts.Selector{ts.FromPrefix(netip.MustParsePrefix("::/0"))}; !slices.Equal(r.RemoteTS, want) {
		t.Fatalf("gateway's remote selectors %v, want %v", r.RemoteTS, want)
	}
	if got := infoOf(p.l).LocalVIPs; len(got) != 1 || got[0].String() != "fd00:10::77" {
		t.Fatalf("client vips %v", got)
	}
}

// TestCPReplyIPv6: the CFG_REPLY of a dual-stack lease carries
// INTERNAL_IP4_ADDRESS (4 octets), INTERNAL_IP6_ADDRESS (16 octets and
// prefix length 128) and each name server once, typed by its family.
func TestCPReplyIPv6(t *testing.T) {
	p4, p6 := mustPool(t, "10.3.0.1-10.3.0.9"), mustPool(t, "fd00:10::1-fd00:10::9")
	dns4, dns6 := netip.MustParseAddr("10.2.0.53"), netip.MustParseAddr("fd02::53")
	p4.DNS = []netip.Addr{dns4, dns6}
	p6.DNS = []netip.Addr{dns6}
	got := dnsAttributes([]*AddressPool{p4, p6})
	want := []wire.CPAttribute{
		{Type: wire.CfgInternalIP4DNS, Value: dns4.AsSlice()},
		{Type: wire.CfgInternalIP6DNS, Value: dns6.AsSlice()},
	}
	if len(got) != len(want) {
		t.Fatalf("dns attributes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Type != want[i].Type || string(got[i].Value) != string(want[i].Value) {
			t.Errorf("attribute %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	reply := &wire.CP{CfgType: wire.CfgReply, Attributes: []wire.CPAttribute{
		{Type: wire.CfgInternalIP6Address, Value: append(netip.MustParseAddr("fd00:10::1").AsSlice(), 128)},
	}}
	if a, err := cpAddress(reply.Attributes[0]); err != nil || a.String() != "fd00:10::1" {
		t.Fatalf("INTERNAL_IP6_ADDRESS: %v %v", a, err)
	}
}

// TestSimVirtualIPDualStackReauth: a dual-stack client reauthenticates
// (reauth_time, RFC 7296 2.8.3) asking for the addresses it has, the
// 16-octet INTERNAL_IP6_ADDRESS among them, and keeps both: the new
// IKE SA's Child SA carries the same VIP/32 and VIP/128.
func TestSimVirtualIPDualStackReauth(t *testing.T) {
	p4, p6 := mustPool(t, "10.3.0.1-10.3.0.254"), mustPool(t, "fd00:10::1-fd00:10::fe")
	p := newVIP6Pair(t, 67, []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, p4, p6)
	p.l.peer.IKELife = IKELifetimes{ReauthTime: time.Hour, OverTime: 5 * time.Minute}
	p.up(t)
	checkVIPs(t, p, "established", "10.3.0.1", "fd00:10::1")
	old := p.l.established()[0].spiI
	p.s.mustRun(2*time.Hour, "client reauthenticated", func() bool {
		sas := p.l.established()
		return len(sas) == 1 && sas[0].spiI != old && len(p.r.established()) == 1
	})
	p.s.run(time.Minute, nil) // the old IKE SA's DELETE
	p.s.mustRun(time.Minute, "one Child SA each", func() bool { return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 })
	checkVIPs(t, p, "after reauthentication", "10.3.0.1", "fd00:10::1")
	if s := p6.Stats(); s.Online != 1 || s.Offline != 0 {
		t.Fatalf("IPv6 pool after reauthentication: %+v", s)
	}
}

// TestAssignVIPsRepeatedAttributes: a CFG_REQUEST that repeats
// INTERNAL_IP6_ADDRESS (a 64 KiB message holds thousands) gets one IPv6
// lease and one IPv4 lease, each pool tried once per request.
func TestAssignVIPsRepeatedAttributes(t *testing.T) {
	p4, p6 := mustPool(t, "10.3.0.1-10.3.0.9"), mustPool(t, "fd00:10::1-fd00:10::9")
	var logs strings.Builder
	sa := &ikeSA{peer: &PeerConfig{Pools: []*AddressPool{p4, p6}}, log: slog.New(slog.NewTextHandler(&logs, nil)),
		remoteID: Identity{Type: wire.IDFQDN, Data: []byte("client.example")}}
	req := &wire.CP{CfgType: wire.CfgRequest}
	for range 1000 {
		req.Attributes = append(req.Attributes, wire.CPAttribute{Type: wire.CfgInternalIP6Address}, wire.CPAttribute{Type: wire.CfgInternalIP4Address})
	}
	reply, failed := sa.assignVIPs([]wire.Payload{req})
	cp, ok := reply.(*wire.CP)
	if failed || !ok || len(cp.Attributes) != 2 {
		t.Fatalf("reply %+v failed %v, want two addresses", reply, failed)
	}
	if p4.Stats().Online != 1 || p6.Stats().Online != 1 {
		t.Fatalf("leases: %d IPv4, %d IPv6; want one each", p4.Stats().Online, p6.Stats().Online)
	}
	// An exhausted IPv6 pool is tried (and logged) once, not per attribute.
	full := mustPool(t, "fd00:20::1-fd00:20::1")
	if _, err := full.Acquire("other", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	sa = &ikeSA{peer: &PeerConfig{Pools: []*AddressPool{full}}, log: sa.log, remoteID: sa.remoteID}
	if _, failed := sa.assignVIPs([]wire.Payload{req}); !failed {
		t.Fatal("an exhausted pool leased an address")
	}
	if n := strings.Count(logs.String(), "cannot assign a virtual IP"); n != 1 {
		t.Fatalf("%d warnings for one request, want 1", n)
	}
}
