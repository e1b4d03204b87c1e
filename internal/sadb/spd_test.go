package sadb

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"testing"

	"github.com/goipsec/goipsec/internal/ts"
)

// linearSPD is the reference: RFC 4301 4.4.1 read literally, a list sorted
// by (priority, insertion) scanned until the first entry whose selectors
// match, using ts.Selector.Match and nothing of the index.
type linearSPD struct {
	list []linearEntry
	seq  uint64
}

type linearEntry struct {
	id   PolicyID
	pol  Policy
	prio uint32
	seq  uint64
}

func (l *linearSPD) add(id PolicyID, p Policy, prio uint32) {
	l.seq++
	l.list = append(l.list, linearEntry{id: id, pol: p, prio: prio, seq: l.seq})
	sort.SliceStable(l.list, func(i, j int) bool {
		a, b := l.list[i], l.list[j]
		return a.prio < b.prio || (a.prio == b.prio && a.seq < b.seq)
	})
}

func (l *linearSPD) remove(id PolicyID) {
	for i, e := range l.list {
		if e.id == id {
			l.list = append(l.list[:i], l.list[i+1:]...)
			return
		}
	}
}

func (l *linearSPD) lookup(local, remote netip.Addr, proto uint8, lport, rport uint16) PolicyID {
	for _, e := range l.list {
		if e.pol.Local.Match(local, proto, lport) && e.pol.Remote.Match(remote, proto, rport) {
			return e.id
		}
	}
	return 0
}

// gen draws selectors and packets from a small space so that policies
// overlap, nest and share prefixes, and (for IPv6) cross the 64-bit word
// boundary of the index.
type gen struct {
	r  *rand.Rand
	v6 bool
}

func (g gen) addr() netip.Addr {
	if !g.v6 {
		// 10.0.0.0/16 mostly, some anywhere.
		if g.r.IntN(10) == 0 {
			return netip.AddrFrom4([4]byte{byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(g.r.IntN(256))})
		}
		return netip.AddrFrom4([4]byte{10, 0, byte(g.r.IntN(4)), byte(g.r.IntN(256))})
	}
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	if g.r.IntN(10) == 0 {
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return netip.AddrFrom16(b)
	}
	b[7] = byte(g.r.IntN(2))      // bit 63
	b[8] = byte(g.r.IntN(2) << 7) // bit 64
	b[14], b[15] = byte(g.r.IntN(2)), byte(g.r.IntN(256))
	return netip.AddrFrom16(b)
}

func (g gen) bits() int { return map[bool]int{false: 32, true: 128}[g.v6] }

func (g gen) sel() ts.Selector {
	var s ts.Selector
	switch g.r.IntN(6) {
	case 0: // an arbitrary (mostly non-CIDR) range
		a, b := g.addr(), g.addr()
		if b.Less(a) {
			a, b = b, a
		}
		s = ts.FromRange(a, b)
	case 1: // host
		a := g.addr()
		s = ts.FromRange(a, a)
	default:
		n := g.bits()
		var l int
		switch g.r.IntN(4) {
		case 0:
			l = g.r.IntN(n + 1)
		default: // lengths near the interesting ones
			l = n - g.r.IntN(12)
			if g.v6 && g.r.IntN(2) == 0 {
				l = 56 + g.r.IntN(16)
			}
		}
		s = ts.FromPrefix(netip.PrefixFrom(g.addr(), l))
	}
	s.Proto = g.proto(true)
	switch g.r.IntN(6) {
	case 0:
		s.StartPort = g.port()
		s.EndPort = s.StartPort
	case 1:
		a, b := g.port(), g.port()
		s.StartPort, s.EndPort = min(a, b), max(a, b)
	case 2:
		if g.r.IntN(4) == 0 {
			s.StartPort, s.EndPort = 65535, 0 // OPAQUE
		}
	}
	return s
}

func (g gen) proto(sel bool) uint8 {
	protos := []uint8{ts.ProtoTCP, ts.ProtoUDP, ts.ProtoICMP, ts.ProtoSCTP}
	if sel && g.r.IntN(2) == 0 {
		return 0
	}
	return protos[g.r.IntN(len(protos))]
}

func (g gen) port() uint16 {
	ports := []uint16{0, 22, 53, 80, 443, 500, 4500, 8080, 65535}
	if g.r.IntN(3) == 0 {
		return uint16(g.r.IntN(65536))
	}
	return ports[g.r.IntN(len(ports))]
}

func (g gen) policy(i int) Policy {
	p := Policy{Name: "p", ReqID: uint32(i), Action: Action(g.r.IntN(3)), Local: g.sel(), Remote: g.sel()}
	if g.r.IntN(2) == 0 {
		p.Priority = uint32(1 + g.r.IntN(8)) // many ties: insertion order decides
	}
	return p
}

// checkAgainst compares n random packets (and the packets at the edges of
// every policy's ranges) between the SPD and the reference.
func checkAgainst(t *testing.T, g gen, d *SPD, ref *linearSPD, n int) {
	t.Helper()
	probe := func(local, remote netip.Addr, proto uint8, lp, rp uint16) {
		t.Helper()
		want := ref.lookup(local, remote, proto, lp, rp)
		got := d.Outbound(local, remote, proto, lp, rp)
		if got.ID() != want {
			t.Fatalf("Outbound(%v, %v, %d, %d, %d) = policy %d (%+v), want %d", local, remote, proto, lp, rp, got.ID(), got.Policy, want)
		}
		if want == 0 && (got.Action != Discard || got.Policy != nil) {
			t.Fatalf("no match gave %+v", got)
		}
		// The inbound direction swaps the roles of source and destination.
		if in := d.InboundBypass(remote, local, proto, rp, lp); in.ID() != want {
			t.Fatalf("InboundBypass(%v, %v, ...) = %d, want %d", remote, local, in.ID(), want)
		}
	}
	for range n {
		probe(g.addr(), g.addr(), g.proto(false), g.port(), g.port())
	}
	for _, e := range ref.list {
		for _, l := range []netip.Addr{e.pol.Local.Start, e.pol.Local.End, e.pol.Local.Start.Prev(), e.pol.Local.End.Next()} {
			for _, r := range []netip.Addr{e.pol.Remote.Start, e.pol.Remote.End, e.pol.Remote.End.Next()} {
				if l.IsValid() && r.IsValid() {
					proto := e.pol.Local.Proto | e.pol.Remote.Proto
					probe(l, r, proto, e.pol.Local.StartPort, e.pol.Remote.EndPort)
				}
			}
		}
	}
}

func TestSPDMatchesLinearScan(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for seed := uint64(1); seed <= 40; seed++ {
			g := gen{r: rand.New(rand.NewPCG(seed, 7)), v6: v6}
			var d SPD
			ref := &linearSPD{}
			var ids []PolicyID
			n := 1 + g.r.IntN(120)
			for i := range n {
				p := g.policy(i)
				id, err := d.Add(p)
				if err != nil {
					t.Fatalf("seed %d: Add(%v === %v): %v", seed, p.Local, p.Remote, err)
				}
				prio := refPriority(p)
				ref.add(id, p, prio)
				ids = append(ids, id)
			}
			checkAgainst(t, g, &d, ref, 400)
			// Remove a random half, then compare again; then add more.
			g.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			for _, id := range ids[:len(ids)/2] {
				if !d.Remove(id) {
					t.Fatalf("Remove(%d) = false", id)
				}
				ref.remove(id)
			}
			if len(ids) >= 2 && d.Remove(ids[0]) {
				t.Fatal("second Remove of the same policy succeeded")
			}
			if d.Len() != len(ref.list) {
				t.Fatalf("Len = %d, want %d", d.Len(), len(ref.list))
			}
			checkAgainst(t, g, &d, ref, 400)
			for i := range 30 {
				p := g.policy(1000 + i)
				p.Priority = uint32(1 + g.r.IntN(8))
				id, err := d.Add(p)
				if err != nil {
					t.Fatal(err)
				}
				ref.add(id, p, p.Priority)
			}
			checkAgainst(t, g, &d, ref, 400)
		}
	}
}

// refPriority is the priority Add derives (AutoPriority is tested on its own).
func refPriority(p Policy) uint32 {
	switch {
	case p.Priority != 0:
		return p.Priority
	case p.Action == Protect:
		return AutoPriority(ClassDefault, p.Local, p.Remote)
	}
	return AutoPriority(ClassPass, p.Local, p.Remote)
}

func TestSPDRemoveAllLeavesEmptyIndex(t *testing.T) {
	g := gen{r: rand.New(rand.NewPCG(3, 3))}
	for _, v6 := range []bool{false, true} {
		g.v6 = v6
		var d SPD
		var ids []PolicyID
		for i := range 500 {
			id, err := d.Add(g.policy(i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			d.Remove(id)
		}
		s := d.load()
		for _, ix := range []*index{s.v4.byLocal, s.v4.byRemote, s.v6.byLocal, s.v6.byRemote} {
			if ix == nil {
				continue
			}
			if n, refs := ix.size(); n != 0 || refs != 0 || len(ix.lens) != 0 {
				t.Fatalf("after removing everything: %d prefixes, %d refs, lengths %v", n, refs, ix.lens)
			}
		}
		if len(d.bindings) != 0 || len(d.entries) != 0 {
			t.Fatalf("bindings %d, entries %d left", len(d.bindings), len(d.entries))
		}
	}
}

func mustSel(t testing.TB, s string) ts.Selector {
	t.Helper()
	sel, err := ts.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// rangeKeys must cover exactly what ts.Selector.Prefixes covers.
func TestRangeKeysMatchPrefixes(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		g := gen{r: rand.New(rand.NewPCG(5, 5)), v6: v6}
		sels := []ts.Selector{
			ts.FromPrefix(netip.MustParsePrefix("0.0.0.0/0")),
			ts.FromPrefix(netip.MustParsePrefix("::/0")),
			ts.FromRange(netip.MustParseAddr("0.0.0.1"), netip.MustParseAddr("255.255.255.254")),
			ts.FromRange(netip.MustParseAddr("::1"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")),
			ts.FromRange(netip.MustParseAddr("::ffff:ffff:ffff:ffff"), netip.MustParseAddr("::1:0:0:0:0")),
			{},
		}
		for range 2000 {
			sels = append(sels, g.sel())
		}
		for _, s := range sels {
			ps := s.Prefixes()
			ks := rangeKeys(s)
			if len(ps) != len(ks) {
				t.Fatalf("%v: %d keys, %d prefixes", s, len(ks), len(ps))
			}
			for i, p := range ps {
				if want := (prefixKey{key: addrU128(p.Addr()), bits: uint8(p.Bits())}); ks[i] != want {
					t.Fatalf("%v: key %d = %+v, want %v", s, i, ks[i], p)
				}
			}
		}
	}
}

func TestSPDOrderAndActions(t *testing.T) {
	var d SPD
	add := func(p Policy) PolicyID {
		t.Helper()
		id, err := d.Add(p)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tunnel := add(Policy{Name: "site/net", ReqID: 7, Action: Protect, Local: mustSel(t, "10.1.0.0/16"), Remote: mustSel(t, "10.2.0.0/16")})
	web := add(Policy{Name: "site/web", ReqID: 8, Action: Protect, Local: mustSel(t, "10.1.0.0/16"), Remote: mustSel(t, "10.2.0.0/24[tcp/443]")})
	lan := add(Policy{Name: "lan", Action: Bypass, Local: mustSel(t, "10.1.0.0/16"), Remote: mustSel(t, "10.2.9.0/24")})
	block := add(Policy{Name: "block", Action: Discard, Local: mustSel(t, "0.0.0.0/0"), Remote: mustSel(t, "10.2.0.66/32")})

	src := netip.MustParseAddr("10.1.2.3")
	cases := []struct {
		dst   string
		proto uint8
		dport uint16
		want  PolicyID
		act   Action
	}{
		{"10.2.1.1", ts.ProtoUDP, 53, tunnel, Protect},
		{"10.2.0.1", ts.ProtoTCP, 443, web, Protect}, // more specific (port) first
		{"10.2.0.1", ts.ProtoTCP, 80, tunnel, Protect},
		{"10.2.9.9", ts.ProtoTCP, 443, lan, Bypass},     // shunts precede IPsec policies
		{"10.2.0.66", ts.ProtoTCP, 443, block, Discard}, // a shunt, even though less specific on the local side
		{"10.3.0.1", ts.ProtoTCP, 443, 0, Discard},      // no policy: discard
	}
	for _, c := range cases {
		got := d.Outbound(src, netip.MustParseAddr(c.dst), c.proto, 40000, c.dport)
		if got.ID() != c.want || got.Action != c.act {
			t.Errorf("%s %d/%d: policy %d %v, want %d %v", c.dst, c.proto, c.dport, got.ID(), got.Action, c.want, c.act)
		}
		if c.act == Protect && !got.Trap() {
			t.Errorf("%s: unbound PROTECT policy is not a trap", c.dst)
		}
	}

	// Binding an SA turns the trap into protection, for all policies of the
	// ReqID; Unbind of a stale SA changes nothing.
	net := func() *ChildSA {
		return &ChildSA{Name: "site/net", ReqID: 7, LocalTS: []ts.Selector{mustSel(t, "10.1.0.0/16")}, RemoteTS: []ts.Selector{mustSel(t, "10.2.0.0/16")}}
	}
	sa, rekeyed := net(), net()
	d.Bind(7, sa)
	if got := d.Outbound(src, netip.MustParseAddr("10.2.1.1"), 17, 1, 53); got.SA != sa || got.Trap() {
		t.Fatalf("after Bind: %+v", got)
	}
	d.Bind(7, rekeyed)
	if d.Unbind(7, sa) {
		t.Fatal("Unbind of the replaced SA succeeded")
	}
	if got := d.Outbound(src, netip.MustParseAddr("10.2.1.1"), 17, 1, 53); got.SA != rekeyed {
		t.Fatalf("after rekey: %+v", got)
	}

	// Inbound checks (RFC 4301 5.2): decrypted packets must hit a policy of
	// their SA's ReqID first.
	peer := netip.MustParseAddr("10.2.1.1")
	if !d.InboundAllowed(rekeyed, peer, src, ts.ProtoUDP, 53, 40000) {
		t.Error("tunnel traffic rejected on its own SA")
	}
	if d.InboundAllowed(rekeyed, netip.MustParseAddr("10.2.0.1"), src, ts.ProtoTCP, 443, 40000) {
		t.Error("traffic of child site/web accepted on site/net's SA")
	}
	if d.InboundAllowed(rekeyed, netip.MustParseAddr("10.2.0.66"), src, ts.ProtoUDP, 53, 40000) {
		t.Error("traffic of a DISCARD policy accepted")
	}
	if d.InboundAllowed(rekeyed, netip.MustParseAddr("10.9.0.1"), src, ts.ProtoUDP, 53, 40000) {
		t.Error("traffic outside every policy accepted")
	}
	if d.InboundAllowed(nil, peer, src, ts.ProtoUDP, 53, 40000) {
		t.Error("accepted without an SA")
	}
	if !d.InboundAllowed(sa, peer, src, ts.ProtoUDP, 53, 40000) {
		t.Error("the SA replaced by a rekey no longer accepts its traffic")
	}

	// Narrowing: an SA that got only part of its policy serves that part;
	// the rest of the policy stays a trap, outbound and inbound.
	narrow := &ChildSA{Name: "site/net", ReqID: 7, LocalTS: []ts.Selector{mustSel(t, "10.1.2.0/24")}, RemoteTS: []ts.Selector{mustSel(t, "10.2.1.0/24[udp]")}}
	d.Bind(7, narrow)
	if got := d.Outbound(src, peer, ts.ProtoUDP, 40000, 53); got.SA != narrow {
		t.Errorf("inside the narrowed selectors: %+v", got)
	}
	if got := d.Outbound(src, peer, ts.ProtoTCP, 40000, 53); !got.Trap() || got.Policy.ReqID != 7 {
		t.Errorf("outside the narrowed selectors: %+v, want the trap of ReqID 7", got)
	}
	if d.InboundAllowed(narrow, peer, src, ts.ProtoTCP, 53, 40000) {
		t.Error("inbound traffic outside the SA's narrowed selectors accepted")
	}
	if !d.Unbind(7, narrow) || !d.Outbound(src, peer, ts.ProtoUDP, 40000, 53).Trap() {
		t.Error("Unbind did not turn the policy back into a trap")
	}

	if got := d.InboundBypass(netip.MustParseAddr("10.2.9.9"), src, ts.ProtoTCP, 443, 40000); got.Action != Bypass {
		t.Errorf("plaintext from the bypassed LAN: %v", got.Action)
	}
	if got := d.InboundBypass(peer, src, ts.ProtoUDP, 53, 40000); got.Action != Protect {
		t.Errorf("plaintext that should have been protected: %v", got.Action)
	}

	// Equal explicit priorities: insertion order.
	first := add(Policy{Name: "a", Action: Bypass, Priority: 1, Local: mustSel(t, "0.0.0.0/0"), Remote: mustSel(t, "192.0.2.0/24")})
	add(Policy{Name: "b", Action: Discard, Priority: 1, Local: mustSel(t, "0.0.0.0/0"), Remote: mustSel(t, "192.0.2.1/32")})
	if got := d.Outbound(src, netip.MustParseAddr("192.0.2.1"), 6, 1, 2); got.ID() != first {
		t.Errorf("equal priorities: got %d, want the first added %d", got.ID(), first)
	}
}

func TestSPDRejectsInvalid(t *testing.T) {
	var d SPD
	v4, v6 := mustSel(t, "10.0.0.0/8"), mustSel(t, "2001:db8::/32")
	bad := []Policy{
		{Local: v4, Remote: v6},
		{Local: ts.Selector{}, Remote: v4},                  // dynamic, not resolved
		{Local: v4, Remote: ts.FromRange(v4.End, v4.Start)}, // start > end
		{Local: v4, Remote: v4, Action: Action(9)},
	}
	for _, p := range bad {
		if _, err := d.Add(p); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("Add(%v === %v, %v) = %v, want ErrInvalidPolicy", p.Local, p.Remote, p.Action, err)
		}
	}
	if d.Len() != 0 {
		t.Fatal("invalid policies were added")
	}
	// Packets that cannot match: mixed families, zones, the zero address.
	d.Add(Policy{Action: Bypass, Local: mustSel(t, "0.0.0.0/0"), Remote: mustSel(t, "0.0.0.0/0")})
	d.Add(Policy{Action: Bypass, Local: mustSel(t, "::/0"), Remote: mustSel(t, "::/0")})
	for _, c := range [][2]netip.Addr{
		{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")},
		{netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2")},
		{{}, {}},
	} {
		if got := d.Outbound(c[0], c[1], 6, 1, 2); got.Policy != nil {
			t.Errorf("Outbound(%v, %v) matched %+v", c[0], c[1], got.Policy)
		}
	}
}

func TestAutoPriority(t *testing.T) {
	s := func(x string) ts.Selector { return mustSel(t, x) }
	// Ordered from first to last consulted.
	order := []struct {
		class         uint32
		local, remote string
	}{
		{ClassPass, "10.0.0.0/8", "10.1.1.1/32"},
		{ClassPass, "0.0.0.0/0", "0.0.0.0/0"},
		{ClassDefault, "10.0.0.1/32", "10.1.0.0/24[tcp/443]"},
		{ClassDefault, "10.0.0.1/32", "10.1.0.0/24[tcp]"},
		{ClassDefault, "10.0.0.1/32", "10.1.0.0/24"},
		{ClassDefault, "10.0.0.0/24", "10.1.0.0/24"},
		{ClassDefault, "::/0", "::/0"},
		{ClassFallback, "10.0.0.1/32", "10.1.1.1/32[tcp/22]"},
	}
	prev := uint32(0)
	for i, o := range order {
		p := AutoPriority(o.class, s(o.local), s(o.remote))
		if i > 0 && p <= prev {
			t.Errorf("%v === %v (class %d): priority %d not after %d", o.local, o.remote, o.class, p, prev)
		}
		prev = p
	}
	// A non-CIDR range counts as its longest covering prefix: 10.0.0.1-10.0.0.6 as /29.
	if a, b := AutoPriority(ClassDefault, s("10.0.0.1-10.0.0.6"), s("0.0.0.0/0")), AutoPriority(ClassDefault, s("10.0.0.0/29"), s("0.0.0.0/0")); a != b {
		t.Errorf("range priority %d, /29 priority %d", a, b)
	}
}

// The index picks the less crowded side: many local subnets to one remote
// must not pile up at one remote prefix.
func TestSPDBalancesSides(t *testing.T) {
	var d SPD
	remote := mustSel(t, "10.200.0.0/16")
	for i := range 2000 {
		local := ts.FromPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
		if _, err := d.Add(Policy{Action: Protect, ReqID: uint32(i), Local: local, Remote: remote}); err != nil {
			t.Fatal(err)
		}
	}
	s := d.load()
	if got := len(s.v4.byRemote.get(rangeKeys(remote)[0])); got > 1 {
		t.Errorf("%d entries at the shared remote prefix", got)
	}
	got := d.Outbound(netip.MustParseAddr("10.7.9.1"), netip.MustParseAddr("10.200.1.1"), 6, 1, 2)
	if got.Policy == nil || got.Policy.ReqID != 7<<8|9 {
		t.Fatalf("got %+v", got.Policy)
	}
}

func TestSPDLookupDoesNotAllocate(t *testing.T) {
	d := benchSPD(t, 1000, false)
	d6 := benchSPD(t, 1000, true)
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("172.16.3.7")
	src6, dst6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1:3::7")
	hit := d.Outbound(src, dst, 6, 1234, 443)
	if hit.Action != Protect {
		t.Fatalf("bench SPD: %+v", hit)
	}
	sa := &ChildSA{ReqID: hit.Policy.ReqID, LocalTS: []ts.Selector{mustSel(t, "10.0.0.0/16")}, RemoteTS: []ts.Selector{mustSel(t, "172.16.0.0/12")}}
	d.Bind(sa.ReqID, sa)
	if got := d.Outbound(src, dst, 6, 1234, 443); got.SA != sa {
		t.Fatalf("bench SPD: %+v", got)
	}
	if n := testing.AllocsPerRun(1000, func() {
		d.Outbound(src, dst, 6, 1234, 443)
		d6.Outbound(src6, dst6, 6, 1234, 443)
		d.InboundBypass(dst, src, 6, 443, 1234)
		d.InboundAllowed(sa, dst, src, 6, 443, 1234)
	}); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}

// Readers see either the old or the new snapshot, never a torn one: run
// lookups while writers add and remove (meant for -race).
func TestSPDConcurrentReadersAndWriters(t *testing.T) {
	var d SPD
	stable, _ := d.Add(Policy{Action: Bypass, Priority: 1, Local: mustSel(t, "10.0.0.0/8"), Remote: mustSel(t, "10.9.9.9/32")})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := d.Outbound(netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.9.9.9"), 6, 1, 2); got.ID() != stable {
					t.Errorf("stable policy lost: %+v", got)
					return
				}
			}
		}()
	}
	g := gen{r: rand.New(rand.NewPCG(9, 9))}
	var ids []PolicyID
	for i := range 2000 {
		p := g.policy(i)
		p.Priority = uint32(2 + g.r.IntN(100))
		id, _ := d.Add(p)
		ids = append(ids, id)
		if i%3 == 0 {
			d.Remove(ids[g.r.IntN(len(ids))])
		}
		d.Bind(uint32(i%10), &ChildSA{ReqID: uint32(i % 10)})
	}
	close(stop)
	wg.Wait()
}

func TestChildPolicies(t *testing.T) {
	local := []ts.Selector{mustSel(t, "10.1.0.0/16"), mustSel(t, "2001:db8:1::/48")}
	remote := []ts.Selector{mustSel(t, "10.2.0.0/24[tcp/443]"), mustSel(t, "10.3.0.0/16"), mustSel(t, "2001:db8:2::/48")}
	ps := ChildPolicies("c/n", 3, Protect, local, remote)
	if len(ps) != 3 {
		t.Fatalf("%d policies, want 3 (mixed families dropped): %+v", len(ps), ps)
	}
	var d SPD
	for _, p := range ps {
		if _, err := d.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		src, dst string
		proto    uint8
		dport    uint16
		hit      bool
	}{
		{"10.1.0.1", "10.2.0.9", ts.ProtoTCP, 443, true},
		{"10.1.0.1", "10.2.0.9", ts.ProtoTCP, 80, false},
		{"10.1.0.1", "10.3.7.7", ts.ProtoUDP, 53, true},
		{"2001:db8:1::1", "2001:db8:2::1", ts.ProtoUDP, 53, true},
		{"2001:db8:1::1", "2001:db8:3::1", ts.ProtoUDP, 53, false},
	} {
		got := d.Outbound(netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst), c.proto, 40000, c.dport)
		if (got.Policy != nil) != c.hit || (c.hit && !got.Trap()) {
			t.Errorf("%s -> %s %d/%d: %+v, want hit %v", c.src, c.dst, c.proto, c.dport, got, c.hit)
		}
	}
}
