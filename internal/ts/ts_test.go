package ts

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

func mustParse(t testing.TB, s string) Selector {
	t.Helper()
	sel, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return sel
}

func TestFromPrefix(t *testing.T) {
	got := FromPrefix(netip.MustParsePrefix("192.168.7.9/23"))
	want := sel(0, 0, 65535, "192.168.6.0", "192.168.7.255")
	if got != want {
		t.Fatalf("FromPrefix = %#v, want %#v", got, want)
	}
	if !got.Is4() || got.Is6() || got.IsDynamic() || got.IsHost() {
		t.Fatalf("predicates wrong for %v", got)
	}
	if p, ok := got.Prefix(); !ok || p.String() != "192.168.6.0/23" {
		t.Fatalf("Prefix() = %v, %v", p, ok)
	}
	h := FromPrefix(netip.MustParsePrefix("fec0::1/128"))
	if !h.Is6() || !h.IsHost() {
		t.Fatalf("predicates wrong for %v", h)
	}
}

func TestResolve(t *testing.T) {
	d := mustParse(t, "dynamic[tcp/443]")
	r := d.Resolve(mustAddr("192.0.2.1"))
	if r.String() != "192.0.2.1/32[tcp/443]" {
		t.Fatalf("Resolve = %v", r)
	}
	if s := mustParse(t, "10.0.0.0/8"); s.Resolve(mustAddr("192.0.2.1")) != s {
		t.Fatal("Resolve changed a selector that has addresses")
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/8", "10.1.0.0/16", true},
		{"10.1.0.0/16", "10.0.0.0/8", false},
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"10.0.0.0/8", "10.1.0.0/16[tcp/80]", true},
		{"10.0.0.0/8[tcp]", "10.1.0.0/16[tcp/80]", true},
		{"10.0.0.0/8[tcp]", "10.1.0.0/16[udp/80]", false},
		{"10.0.0.0/8[tcp]", "10.1.0.0/16", false}, // any protocol is wider than tcp
		{"10.0.0.0/8[tcp/80-90]", "10.1.0.0/16[tcp/85]", true},
		{"10.0.0.0/8[tcp/80-90]", "10.1.0.0/16[tcp/85-91]", false},
		{"10.0.0.0/8[tcp/80-90]", "10.1.0.0/16[tcp]", false},
		{"10.0.0.0/8", "10.1.0.0/16[udp/opaque]", true}, // ANY includes OPAQUE (RFC 4301 4.4.1.1)
		{"10.0.0.0/8[udp/opaque]", "10.1.0.0/16[udp/opaque]", true},
		{"10.0.0.0/8[udp/opaque]", "10.1.0.0/16[udp/53]", false},
		{"10.0.0.0/8[udp/0-100]", "10.1.0.0/16[udp/opaque]", false},
		{"0.0.0.0/0", "::/0", false},
		{"::/0", "fec0::1", true},
		{"10.0.0.1-10.0.0.9", "10.0.0.2-10.0.0.9", true},
		{"10.0.0.1-10.0.0.9", "10.0.0.0-10.0.0.9", false},
		{"dynamic", "10.0.0.1", false},
		{"0.0.0.0/0", "dynamic", false},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		if got := a.Contains(b); got != tt.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", a, b, got, tt.want)
		}
	}
}

func TestIntersect(t *testing.T) {
	tests := []struct {
		a, b string
		want string // "" = no intersection
	}{
		{"10.0.0.0/8", "10.1.0.0/16", "10.1.0.0/16"},
		{"10.1.0.0/16", "10.2.0.0/16", ""},
		{"10.0.0.0/24", "10.0.0.128-10.0.1.5", "10.0.0.128/25"},
		{"10.0.0.0/24", "10.0.0.100-10.0.1.5", "10.0.0.100..10.0.0.255"},
		{"10.0.0.0/8[tcp]", "10.0.0.0/16", "10.0.0.0/16[tcp]"},
		{"10.0.0.0/8", "10.0.0.0/16[udp/53]", "10.0.0.0/16[udp/53]"},
		{"10.0.0.0/8[tcp]", "10.0.0.0/16[udp]", ""},
		{"10.0.0.0/8[tcp/80-100]", "10.0.0.0/16[tcp/90-200]", "10.0.0.0/16[tcp/90-100]"},
		{"10.0.0.0/8[tcp/80-100]", "10.0.0.0/16[tcp/101-200]", ""},
		{"10.0.0.0/8[any/80]", "10.0.0.0/16[tcp]", "10.0.0.0/16[tcp/80]"},
		{"10.0.0.0/8[udp/opaque]", "10.0.0.0/16[udp]", "10.0.0.0/16[udp/opaque]"},
		{"10.0.0.0/8[udp/opaque]", "10.0.0.0/16[udp/opaque]", "10.0.0.0/16[udp/opaque]"},
		{"10.0.0.0/8[udp/opaque]", "10.0.0.0/16[udp/53]", ""},
		{"10.0.0.0/8", "::/0", ""},
		{"fec0::/16", "fec0:1::/32[tcp/22]", "fec0:1::/32[tcp/22]"},
		{"dynamic", "0.0.0.0/0", ""},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		for _, order := range [][2]Selector{{a, b}, {b, a}} {
			got, ok := order[0].Intersect(order[1])
			switch {
			case tt.want == "" && ok:
				t.Errorf("%v ∩ %v = %v, want none", order[0], order[1], got)
			case tt.want != "" && !ok:
				t.Errorf("%v ∩ %v = none, want %v", order[0], order[1], tt.want)
			case tt.want != "" && got.String() != tt.want:
				t.Errorf("%v ∩ %v = %v, want %v", order[0], order[1], got, tt.want)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		sel   string
		addr  string
		proto uint8
		port  uint16
		want  bool
	}{
		{"10.1.0.0/24", "10.1.0.7", 6, 443, true},
		{"10.1.0.0/24", "10.1.1.7", 6, 443, false},
		{"10.1.0.0/24", "::ffff:10.1.0.7", 6, 443, false}, // IPv4-mapped is IPv6
		{"10.1.0.0/24[tcp]", "10.1.0.7", 17, 443, false},
		{"10.1.0.0/24[tcp/443]", "10.1.0.7", 6, 443, true},
		{"10.1.0.0/24[tcp/443]", "10.1.0.7", 6, 444, false},
		{"10.1.0.0/24[tcp/1024-2048]", "10.1.0.7", 6, 2048, true},
		{"10.1.0.0/24[tcp/1024-2048]", "10.1.0.7", 6, 1023, false},
		{"10.1.0.0/24[udp/opaque]", "10.1.0.7", 17, 0, false},
		{"10.1.0.0/24[udp/opaque]", "10.1.0.7", 17, 53, false},
		{"10.1.0.0/24[icmp/8]", "10.1.0.7", 1, 0x0800, true},
		{"10.1.0.0/24[icmp/8]", "10.1.0.7", 1, 0x0000, false},
		{"fec0::/64", "fec0::1", 58, 0, true},
		{"fec0::/64", "10.0.0.1", 58, 0, false},
		{"dynamic", "10.0.0.1", 0, 0, false},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.sel)
		if got := s.Match(mustAddr(tt.addr), tt.proto, tt.port); got != tt.want {
			t.Errorf("%v.Match(%s, %d, %d) = %v, want %v", s, tt.addr, tt.proto, tt.port, got, tt.want)
		}
	}
	list := []Selector{mustParse(t, "10.1.0.0/24[tcp]"), mustParse(t, "10.2.0.0/24")}
	if !MatchAny(list, mustAddr("10.2.0.1"), 17, 53) || MatchAny(list, mustAddr("10.1.0.1"), 17, 53) {
		t.Error("MatchAny wrong")
	}
	if MatchAny(nil, mustAddr("10.2.0.1"), 17, 53) {
		t.Error("MatchAny(nil) = true")
	}
	if (Selector{}).Match(netip.Addr{}, 0, 0) {
		t.Error("zero selector matched the zero address")
	}
}

func TestMatchInvalid(t *testing.T) {
	// Selectors as a peer might send them: never panic, select nothing.
	bad := []Selector{
		{Start: mustAddr("10.0.0.9"), End: mustAddr("10.0.0.1"), EndPort: 65535},
		{Start: mustAddr("10.0.0.1"), End: mustAddr("fec0::1"), EndPort: 65535},
		{Start: mustAddr("10.0.0.1"), End: mustAddr("10.0.0.9"), StartPort: 90, EndPort: 80},
		{Start: mustAddr("10.0.0.1"), EndPort: 65535},
	}
	all := mustParse(t, "0.0.0.0/0")
	for _, b := range bad {
		if b.Valid() || b.Match(mustAddr("10.0.0.5"), 6, 85) || all.Contains(b) || b.Contains(b) {
			t.Errorf("invalid selector %#v selects something", b)
		}
		if _, ok := all.Intersect(b); ok {
			t.Errorf("invalid selector %#v intersects", b)
		}
		_ = b.String()
		if b.StartPort <= b.EndPort && b.Prefixes() != nil {
			t.Errorf("Prefixes of invalid selector %#v not nil", b)
		}
	}
}

func TestNarrow(t *testing.T) {
	list := func(ss ...string) []Selector {
		var out []Selector
		for _, s := range ss {
			out = append(out, mustParse(t, s))
		}
		return out
	}
	tests := []struct {
		name            string
		offered, config []Selector
		want            []string
	}{
		// RFC 7296 2.9: the initiator proposes a superset, the responder
		// narrows it to its policy.
		{"superset", list("10.0.0.0/8"), list("10.1.0.0/16", "10.2.0.0/16"), []string{"10.1.0.0/16", "10.2.0.0/16"}},
		{"subset kept", list("10.1.2.0/24[tcp/80]"), list("10.1.0.0/16"), []string{"10.1.2.0/24[tcp/80]"}},
		// The first TS being the packet that triggered the request (RFC 7296 2.9).
		{"trigger first", list("10.1.2.3[tcp/80]", "10.0.0.0/8"), list("10.1.0.0/16"),
			[]string{"10.1.2.3/32[tcp/80]", "10.1.0.0/16"}},
		{"dedup", list("10.1.0.0/16", "10.1.0.0/16"), list("10.0.0.0/8"), []string{"10.1.0.0/16"}},
		{"none", list("10.3.0.0/16"), list("10.1.0.0/16", "fec0::/16"), nil},
		{"families", list("0.0.0.0/0", "::/0"), list("fec0::/16"), []string{"fec0::/16"}},
		{"empty offered", nil, list("10.0.0.0/8"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range Narrow(tt.offered, tt.config) {
				got = append(got, s.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Narrow = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"10.0.0.0/24", []string{"10.0.0.0/24"}},
		{"10.0.0.5", []string{"10.0.0.5/32"}},
		{"10.0.0.1-10.0.0.6", []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"10.0.0.0-10.0.1.255", []string{"10.0.0.0/23"}},
		{"0.0.0.1-255.255.255.255", []string{
			"0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/30", "0.0.0.8/29", "0.0.0.16/28", "0.0.0.32/27",
			"0.0.0.64/26", "0.0.0.128/25", "0.0.1.0/24", "0.0.2.0/23", "0.0.4.0/22", "0.0.8.0/21",
			"0.0.16.0/20", "0.0.32.0/19", "0.0.64.0/18", "0.0.128.0/17", "0.1.0.0/16", "0.2.0.0/15",
			"0.4.0.0/14", "0.8.0.0/13", "0.16.0.0/12", "0.32.0.0/11", "0.64.0.0/10", "0.128.0.0/9",
			"1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3",
			"64.0.0.0/2", "128.0.0.0/1"}},
		{"%any", []string{"0.0.0.0/0"}},
		{"%any6", []string{"::/0"}},
		{"fec0::-fec0::2", []string{"fec0::/127", "fec0::2/128"}},
		{"dynamic", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range mustParse(t, tt.in).Prefixes() {
			got = append(got, p.String())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Prefixes(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// prefixes4 is an independent reference: split [lo, hi] recursively over the
// binary trie of the IPv4 space.
func prefixes4(lo, hi uint32) []netip.Prefix {
	var out []netip.Prefix
	var walk func(base uint32, bits int)
	walk = func(base uint32, bits int) {
		size := uint64(1) << (32 - bits)
		last := uint32(uint64(base) + size - 1)
		if last < lo || base > hi {
			return
		}
		if lo <= base && last <= hi {
			out = append(out, netip.PrefixFrom(u32Addr(base), bits))
			return
		}
		walk(base, bits+1)
		walk(base+uint32(size/2), bits+1)
	}
	walk(0, 0)
	return out
}

func u32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestPrefixesProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		a, b := r.Uint32(), r.Uint32()
		if i%3 == 0 { // short ranges too
			b = a + r.Uint32N(600)
			if b < a {
				b = a
			}
		}
		if a > b {
			a, b = b, a
		}
		s := FromRange(u32Addr(a), u32Addr(b))
		got := s.Prefixes()
		if want := prefixes4(a, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("Prefixes(%v) = %v, want %v", s, got, want)
		}
	}
	// IPv6: exact contiguous cover, no two neighbours mergeable.
	for i := 0; i < 500; i++ {
		var x, y [16]byte
		for j := range x {
			x[j], y[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		lo, hi := netip.AddrFrom16(x), netip.AddrFrom16(y)
		if i%2 == 0 {
			y = x
			y[15] ^= byte(r.Uint32())
			y[14] ^= byte(r.Uint32())
			hi = netip.AddrFrom16(y)
		}
		if lo.Compare(hi) > 0 {
			lo, hi = hi, lo
		}
		checkCover(t, FromRange(lo, hi))
	}
}

func checkCover(t *testing.T, s Selector) {
	t.Helper()
	ps := s.Prefixes()
	if len(ps) == 0 || ps[0].Addr() != s.Start || lastAddr(ps[len(ps)-1]) != s.End {
		t.Fatalf("Prefixes(%v) = %v: does not span the range", s, ps)
	}
	for i, p := range ps {
		if p.Masked() != p {
			t.Fatalf("Prefixes(%v): %v not masked", s, p)
		}
		if i == 0 {
			continue
		}
		q := ps[i-1]
		if lastAddr(q).Next() != p.Addr() {
			t.Fatalf("Prefixes(%v): gap or overlap between %v and %v", s, q, p)
		}
		// Minimality: two equal-size siblings would have been one prefix.
		if q.Bits() == p.Bits() && q.Bits() > 0 {
			if parent := netip.PrefixFrom(q.Addr(), q.Bits()-1).Masked(); parent.Addr() == q.Addr() {
				t.Fatalf("Prefixes(%v): %v and %v could be merged", s, q, p)
			}
		}
	}
}

// randSel draws selectors from a small space so that overlaps are common.
func randSel(r *rand.Rand) Selector {
	a, b := r.Uint32N(64), r.Uint32N(64)
	if a > b {
		a, b = b, a
	}
	s := FromRange(u32Addr(0x0a000000+a), u32Addr(0x0a000000+b))
	s.Proto = []uint8{0, 0, 6, 17}[r.IntN(4)]
	switch r.IntN(4) {
	case 0:
		s.StartPort, s.EndPort = 65535, 0 // opaque
	case 1:
		p, q := uint16(r.IntN(20)), uint16(r.IntN(20))
		s.StartPort, s.EndPort = min(p, q), max(p, q)
	}
	return s
}

func TestIntersectProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 3000; i++ {
		a, b := randSel(r), randSel(r)
		ab, okAB := a.Intersect(b)
		ba, okBA := b.Intersect(a)
		if okAB != okBA || ab != ba {
			t.Fatalf("not commutative: %v ∩ %v = %v,%v but reverse %v,%v", a, b, ab, okAB, ba, okBA)
		}
		if okAB && (!a.Contains(ab) || !b.Contains(ab)) {
			t.Fatalf("%v ∩ %v = %v not contained in both", a, b, ab)
		}
		if a.Contains(b) != (okAB && ab == b) {
			t.Fatalf("Contains(%v, %v) = %v disagrees with Intersect = %v,%v", a, b, a.Contains(b), ab, okAB)
		}
		// Pointwise: a packet is in a∩b exactly when it is in a and in b.
		for j := 0; j < 40; j++ {
			addr := u32Addr(0x0a000000 + r.Uint32N(66))
			proto := []uint8{6, 17, 1}[r.IntN(3)]
			port := uint16(r.IntN(22))
			inBoth := a.Match(addr, proto, port) && b.Match(addr, proto, port)
			inI := okAB && ab.Match(addr, proto, port)
			if inBoth != inI {
				t.Fatalf("point (%v,%d,%d): in %v and %v = %v, in intersection %v (%v) = %v",
					addr, proto, port, a, b, inBoth, ab, okAB, inI)
			}
		}
	}
}
