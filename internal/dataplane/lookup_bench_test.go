package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// BenchmarkOutboundLookup is the per-packet policy lookup of the data
// plane with many tunnels installed, as a gateway with one Child SA per
// remote-access client has them (bench/scale.sh prints it beside the
// scale figures; issue 5 wants it independent of the number of
// policies): each SA protects 10.2.0.0/16 <-> one /32 of 10.128.0.0/10,
// and the packets go to addresses spread over all of them.
func BenchmarkOutboundLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			d := &Dataplane{db: &sadb.DB{}}
			aead := newAEAD(b, 1)
			dsts := make([]netip.Addr, n)
			for i := range n {
				dst := netip.AddrFrom4([4]byte{10, 128 + byte(i>>16), byte(i >> 8), byte(i)})
				dsts[i] = dst
				c := &sadb.ChildSA{
					Name:     fmt.Sprint("t", i),
					In:       esp.NewInbound(uint32(i+1), aead, 128),
					Out:      esp.NewOutbound(uint32(i+1), aead),
					LocalTS:  mustTS(b, "10.2.0.0/16"),
					RemoteTS: mustTS(b, dst.String()+"/32"),
				}
				if err := d.db.Add(c); err != nil {
					b.Fatal(err)
				}
				if err := d.pol.addSA(c); err != nil {
					b.Fatal(err)
				}
			}
			// A fixed pseudo-random order, so that caches see the spread
			// a busy gateway's traffic has.
			order := make([]netip.Addr, 4096)
			x := uint32(1)
			for i := range order {
				x = x*1664525 + 1013904223
				order[i] = dsts[x%uint32(n)]
			}
			src := netip.MustParseAddr("10.2.0.1")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				dst := order[i%len(order)]
				if c := d.lookupOutbound(src, dst, 17, 5000, 53).SA; c == nil {
					b.Fatalf("no SA for %v", dst)
				}
			}
		})
	}
}
