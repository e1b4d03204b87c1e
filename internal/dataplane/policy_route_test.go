package dataplane

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/goipsec/goipsec/internal/sadb"
)

// bypassFake is fakeRoutes that can route around the TUN.
type bypassFake struct {
	*fakeRoutes
	bypassed map[netip.Prefix]bool
}

func (f *bypassFake) bypass(dst netip.Prefix) (bool, error) {
	f.bypassed[dst] = true
	f.ops = append(f.ops, "bypass "+dst.String())
	return true, nil
}

func (f *bypassFake) delBypass(dst netip.Prefix) error {
	delete(f.bypassed, dst)
	f.ops = append(f.ops, "delbypass "+dst.String())
	return nil
}

// TestTrapAndShuntRoutes: a trap routes its remote selectors into the TUN
// (so trapped packets reach us), shared with the SAs that come and go; a
// drop shunt's remote selectors go into the TUN too, a pass shunt's around
// it; a trap whose remote selectors cover its peer is refused.
func TestTrapAndShuntRoutes(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	bf := &bypassFake{fakeRoutes: fake, bypassed: map[netip.Prefix]bool{}}
	dp.routes.sys = bf
	p24 := netip.MustParsePrefix("10.2.0.0/24")
	if err := dp.InstallTrap(Trap{Name: "c", LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.0/24"),
		Peer: netip.MustParseAddr("192.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.routes[p24]; !ok {
		t.Fatalf("no route for the trap: %v", fake.ops)
	}
	if err := dp.InstallChild(child(t, 100, []string{"10.1.0.0/24"}, "10.2.0.0/24")); err != nil {
		t.Fatal(err)
	}
	dp.RemoveChild(100)
	if _, ok := fake.routes[p24]; !ok {
		t.Fatal("the SA took the trap's route with it")
	}
	if err := dp.InstallShunt(Shunt{Name: "d", Action: sadb.Discard, LocalTS: mustTS(t, "0.0.0.0/0"), RemoteTS: mustTS(t, "10.9.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	if err := dp.InstallShunt(Shunt{Name: "p", Action: sadb.Bypass, LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.8/32")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.routes[netip.MustParsePrefix("10.9.0.0/16")]; !ok {
		t.Error("no TUN route for the drop shunt")
	}
	if !bf.bypassed[netip.MustParsePrefix("10.2.0.8/32")] {
		t.Error("no bypass route for the pass shunt")
	}
	err := dp.InstallTrap(Trap{Name: "bad", LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "192.0.2.0/24"),
		Peer: netip.MustParseAddr("192.0.2.2")})
	if err == nil {
		t.Error("trap covering its peer installed")
	}
	if slices.Contains(dp.Traps(), "bad") {
		t.Error("refused trap listed")
	}
	dp.RemoveTrap("c")
	dp.RemoveShunt("d")
	dp.RemoveShunt("p")
	if len(fake.routes) != 0 || len(bf.bypassed) != 0 || dp.pol.spd.Len() != 0 {
		t.Errorf("left: routes %v, bypass %v, %d policies", fake.routes, bf.bypassed, dp.pol.spd.Len())
	}
}
