package sadb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/ts"
)

// benchSPD builds n policies shaped like a large hub: one local site
// (10.0.0.0/16, or 2001:db8::/48) to n remote /30 subnets (/64 for IPv6) in
// 172.16.0.0/12 (2001:db8:1::/44), every tenth one with a port selector, a
// BYPASS for the local LAN and a DISCARD catch-all.
func benchSPD(tb testing.TB, n int, v6 bool) *SPD {
	tb.Helper()
	var d SPD
	local := ts.FromPrefix(netip.MustParsePrefix("10.0.0.0/16"))
	any := ts.FromPrefix(netip.MustParsePrefix("0.0.0.0/0"))
	if v6 {
		local = ts.FromPrefix(netip.MustParsePrefix("2001:db8::/48"))
		any = ts.FromPrefix(netip.MustParsePrefix("::/0"))
	}
	must := func(p Policy) {
		if _, err := d.Add(p); err != nil {
			tb.Fatal(err)
		}
	}
	must(Policy{Name: "lan", Action: Bypass, Local: local, Remote: local})
	must(Policy{Name: "default", Action: Discard, Priority: 1 << 20, Local: any, Remote: any})
	for i := range n {
		must(benchPolicy(i, local, v6))
	}
	return &d
}

func benchRemote(i int, v6 bool) netip.Prefix {
	if v6 {
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, byte(i >> 8), byte(i)}
		b[5] |= byte(i>>16) << 4
		return netip.PrefixFrom(netip.AddrFrom16(b), 64)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)}).Prev().Next(), 24).Masked()
}

func benchPolicy(i int, local ts.Selector, v6 bool) Policy {
	var rp netip.Prefix
	if v6 {
		rp = benchRemote(i, true)
	} else {
		// i -> the i-th /30 of 172.16.0.0/12 (262,144 of them).
		v := uint32(172)<<24 | 16<<16 + uint32(i)<<2
		rp = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 30)
	}
	r := ts.FromPrefix(rp)
	if i%10 == 0 {
		r.Proto, r.StartPort, r.EndPort = ts.ProtoTCP, 443, 443
	}
	return Policy{Name: fmt.Sprint("hub/", i), ReqID: uint32(i + 1), Action: Protect, Local: local, Remote: r}
}

func BenchmarkSPDOutbound(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		for _, n := range []int{10, 100, 1000, 10000, 100000} {
			fam := "v4"
			if v6 {
				fam = "v6"
			}
			b.Run(fmt.Sprintf("%s/policies=%d", fam, n), func(b *testing.B) {
				d := benchSPD(b, n, v6)
				// Destinations spread over the policies (and some misses).
				r := rand.New(rand.NewPCG(1, 2))
				dsts := make([]netip.Addr, 1024)
				for i := range dsts {
					// n/8 of them beyond the last policy: misses.
					sel := benchPolicy(r.IntN(n+n/8+1), ts.Selector{}, v6).Remote
					dsts[i] = sel.Start.Next()
				}
				src := netip.MustParseAddr("10.0.3.4")
				if v6 {
					src = netip.MustParseAddr("2001:db8::34")
				}
				// Hash probes per lookup: the number of prefix lengths in use,
				// the quantity the lookup cost depends on.
				f := d.load().v4
				if v6 {
					f = d.load().v6
				}
				probes := float64(len(f.byRemote.lens) + len(f.byLocal.lens))
				b.ReportAllocs()
				b.ResetTimer()
				hits := 0
				for i := 0; b.Loop(); i++ {
					if d.Outbound(src, dsts[i&1023], ts.ProtoTCP, 40000, 443).Action == Protect {
						hits++
					}
				}
				if hits == 0 {
					b.Fatal("no lookup hit a policy")
				}
				b.ReportMetric(probes, "probes/op")
			})
			// The same lookup again and again: the index's own work, with
			// the data in cache (the random run above adds cache misses,
			// which grow with the SPD's memory, not with the algorithm).
			b.Run(fmt.Sprintf("%s/policies=%d/hot", fam, n), func(b *testing.B) {
				d := benchSPD(b, n, v6)
				dst := benchPolicy(n/2, ts.Selector{}, v6).Remote.Start.Next()
				src := netip.MustParseAddr("10.0.3.4")
				if v6 {
					src = netip.MustParseAddr("2001:db8::34")
				}
				b.ReportAllocs()
				for b.Loop() {
					if d.Outbound(src, dst, ts.ProtoTCP, 40000, 443).Action != Protect {
						b.Fatal("miss")
					}
				}
			})
		}
	}
}

// BenchmarkSPDUpdate measures one Add plus one Remove at 10,000 policies
// (the copy-on-write cost a writer pays; readers never wait for it) and one
// Bind (installing or rekeying an SA).
func BenchmarkSPDUpdate(b *testing.B) {
	const n = 10000
	for _, v6 := range []bool{false, true} {
		fam := "v4"
		if v6 {
			fam = "v6"
		}
		b.Run(fam+"/add+remove/policies=10000", func(b *testing.B) {
			d := benchSPD(b, n, v6)
			local := ts.FromPrefix(netip.MustParsePrefix("10.0.0.0/16"))
			if v6 {
				local = ts.FromPrefix(netip.MustParsePrefix("2001:db8::/48"))
			}
			p := benchPolicy(n+1, local, v6)
			b.ReportAllocs()
			for b.Loop() {
				id, err := d.Add(p)
				if err != nil {
					b.Fatal(err)
				}
				d.Remove(id)
			}
		})
	}
	// The worst shape for the index: a policy whose ranges are arbitrary
	// IPv6 ranges, 2001:db8::1-2001:db8::ffff:fffe on both sides (a few
	// dozen prefixes per side, each stored and copied separately).
	b.Run("v6/range-add+remove/policies=10000", func(b *testing.B) {
		d := benchSPD(b, n, true)
		r := ts.FromRange(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:fffe"))
		p := Policy{Action: Bypass, Local: r, Remote: r}
		b.ReportAllocs()
		for b.Loop() {
			id, err := d.Add(p)
			if err != nil {
				b.Fatal(err)
			}
			d.Remove(id)
		}
		b.ReportMetric(float64(len(r.Prefixes())), "prefixes/side")
	})
	b.Run("bind/policies=10000", func(b *testing.B) {
		d := benchSPD(b, n, false)
		sa := &ChildSA{ReqID: 5}
		b.ReportAllocs()
		for b.Loop() {
			d.Bind(5, sa)
		}
	})
	b.Run("build/policies=10000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSPD(b, n, false)
		}
	})
}
