package dataplane

import (
	"net/netip"
	"slices"
	"testing"
)

// fakeVIPRoutes is fakeRoutes that can also put addresses on the TUN.
type fakeVIPRoutes struct {
	*fakeRoutes
	exists map[netip.Addr]bool // on the TUN before we came
}

func (f *fakeVIPRoutes) addAddr(a netip.Addr) (bool, error) {
	if f.exists[a] {
		return true, nil
	}
	f.addrs = append(f.addrs, a)
	f.ops = append(f.ops, "addaddr "+a.String())
	return false, nil
}

func (f *fakeVIPRoutes) delAddr(a netip.Addr) error {
	f.addrs = slices.DeleteFunc(f.addrs, func(x netip.Addr) bool { return x == a })
	f.ops = append(f.ops, "deladdr "+a.String())
	return nil
}

func newVIPDataplane(t *testing.T) (*Dataplane, *fakeVIPRoutes) {
	dp, fake := newRoutedDataplane(t)
	f := &fakeVIPRoutes{fakeRoutes: fake, exists: map[netip.Addr]bool{}}
	dp.routes = newRouteTable(f, dp.log)
	return dp, f
}

// TestVIPRefcountedAndSource: the virtual IP goes on the TUN once however
// many IKE SAs add it (a rekeyed IKE SA adds it before the old one
// removes it), the routes of a Child SA whose local selector is the
// virtual IP use it as source, and the last RemoveVIP takes it off.
func TestVIPRefcountedAndSource(t *testing.T) {
	dp, fake := newVIPDataplane(t)
	vip := netip.MustParseAddr("10.3.0.1")
	for range 2 {
		if err := dp.AddVIP(vip); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.InstallChild(child(t, 100, []string{"10.3.0.1/32"}, "10.2.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if src := fake.routes[netip.MustParsePrefix("10.2.0.0/24")]; src != vip {
		t.Fatalf("route source %v, want the virtual IP %v", src, vip)
	}
	dp.RemoveChild(100)
	dp.RemoveVIP(vip)
	if got := dp.VIPs()[vip]; got != 1 || !slices.Contains(fake.addrs, vip) {
		t.Fatalf("after one of two RemoveVIPs: count %d, on TUN %v", got, slices.Contains(fake.addrs, vip))
	}
	dp.RemoveVIP(vip)
	dp.RemoveVIP(vip) // one too many: ignored
	want := []string{"addaddr 10.3.0.1", "replace 10.2.0.0/24", "del 10.2.0.0/24", "deladdr 10.3.0.1"}
	if !slices.Equal(fake.ops, want) {
		t.Fatalf("ops %v, want %v", fake.ops, want)
	}
	if len(dp.VIPs()) != 0 || slices.Contains(fake.addrs, vip) {
		t.Fatalf("virtual IP left: %v %v", dp.VIPs(), fake.addrs)
	}
}

// TestVIPPreexisting: an address the TUN had already is used but not
// removed.
func TestVIPPreexisting(t *testing.T) {
	dp, fake := newVIPDataplane(t)
	vip := netip.MustParseAddr("10.3.0.9")
	fake.exists[vip] = true
	if err := dp.AddVIP(vip); err != nil {
		t.Fatal(err)
	}
	dp.RemoveVIP(vip)
	if len(fake.ops) != 0 {
		t.Fatalf("ops %v, want none", fake.ops)
	}
}

func TestVIPRejects(t *testing.T) {
	dp, _ := newVIPDataplane(t)
	for _, s := range []string{"0.0.0.0", "::", "ff02::1", "fe80::1", "224.0.0.1"} {
		if err := dp.AddVIP(netip.MustParseAddr(s)); err == nil {
			t.Errorf("AddVIP(%s) succeeded", s)
		}
	}
	dp.Close()
	if err := dp.AddVIP(netip.MustParseAddr("10.3.0.1")); err == nil {
		t.Error("AddVIP after Close succeeded")
	}
}

// TestVIPDualStack: an IPv6 virtual IP (INTERNAL_IP6_ADDRESS) goes on the
// TUN beside an IPv4 one, and a Child SA whose local selectors are both
// host addresses routes each family's remote prefix from that family's
// virtual IP (6-in-4 here: the outer addresses are IPv4).
func TestVIPDualStack(t *testing.T) {
	dp, fake := newVIPDataplane(t)
	v4, v6 := netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("fd00:10::1")
	for _, a := range []netip.Addr{v4, v6} {
		if err := dp.AddVIP(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.InstallChild(child(t, 100, []string{"10.3.0.1/32", "fd00:10::1/128"}, "10.2.0.0/24", "fd02::/64")); err != nil {
		t.Fatal(err)
	}
	if src := fake.routes[netip.MustParsePrefix("10.2.0.0/24")]; src != v4 {
		t.Errorf("IPv4 route source %v, want %v", src, v4)
	}
	if src := fake.routes[netip.MustParsePrefix("fd02::/64")]; src != v6 {
		t.Errorf("IPv6 route source %v, want %v", src, v6)
	}
	dp.RemoveChild(100)
	dp.RemoveVIP(v6)
	dp.RemoveVIP(v4)
	if len(dp.VIPs()) != 0 || slices.Contains(fake.addrs, v4) || slices.Contains(fake.addrs, v6) {
		t.Fatalf("virtual IPs left: %v %v", dp.VIPs(), fake.addrs)
	}
	if !slices.Contains(fake.ops, "addaddr fd00:10::1") || !slices.Contains(fake.ops, "deladdr fd00:10::1") {
		t.Fatalf("ops %v", fake.ops)
	}
}
