package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/goipsec/goipsec/internal/sadb"
)

// The fake's policy routing (hostroute.go), recorded in the same ops list
// as its main-table routes.
func (f *fakeRoutes) replaceHost(dst netip.Prefix, src netip.Addr, mtu int) error {
	if f.hostRoutes == nil {
		f.hostRoutes = make(map[netip.Prefix]netip.Addr)
	}
	f.hostRoutes[dst] = src
	op := "host replace " + dst.String() + " src " + src.String()
	if mtu != 0 {
		op += fmt.Sprintf(" mtu %d", mtu)
	}
	f.ops = append(f.ops, op)
	return nil
}

func (f *fakeRoutes) delHost(dst netip.Prefix) error {
	delete(f.hostRoutes, dst)
	f.ops = append(f.ops, "host del "+dst.String())
	return nil
}

func (f *fakeRoutes) addRule(v6 bool) error {
	if f.failRule {
		return errors.New("injected rule failure")
	}
	if v6 {
		f.rule6 = true
		f.ops = append(f.ops, "rule6 add")
		return nil
	}
	f.rule = true
	f.ops = append(f.ops, "rule add")
	return nil
}

func (f *fakeRoutes) delRule(v6 bool) error {
	if v6 {
		f.rule6 = false
		f.ops = append(f.ops, "rule6 del")
		return nil
	}
	f.rule = false
	f.ops = append(f.ops, "rule del")
	return nil
}

// newHostRoutedDataplane is newRoutedDataplane with socket marks recorded.
func newHostRoutedDataplane(t *testing.T) (*Dataplane, *fakeRoutes, *bool) {
	return newHostRoutedDataplaneOn(t, loopback)
}

// newHostRoutedDataplaneOn is newHostRoutedDataplane listening on listen
// (unset: both families).
func newHostRoutedDataplaneOn(t *testing.T, listen netip.Addr) (*Dataplane, *fakeRoutes, *bool) {
	dp, fake := newRoutedDataplaneOn(t, listen)
	marked := new(bool)
	dp.routes.host.mark = func(on bool) error {
		*marked = on
		if on {
			fake.ops = append(fake.ops, "mark on")
		} else {
			fake.ops = append(fake.ops, "mark off")
		}
		return nil
	}
	return dp, fake, marked
}

// TestHostRoutesPolicyRouting: selectors that cover the peer's own address
// (host to host, transport mode) get their route in the policy-routed
// table: sockets marked first, then the rule, then the route; shared by a
// rekeyed successor; and taken down in the reverse order by the last SA.
func TestHostRoutesPolicyRouting(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplane(t)
	host := netip.MustParsePrefix("192.0.2.2/32")
	if err := dp.InstallChild(child(t, 100, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	want := []string{"mark on", "rule add", "host replace 192.0.2.2/32 src 192.0.2.1"}
	if !slices.Equal(fake.ops, want) {
		t.Fatalf("ops = %v, want %v", fake.ops, want)
	}
	if len(fake.routes) != 0 {
		t.Fatalf("main-table routes %v: the peer's address must not be routed into the TUN for our own datagrams", fake.routes)
	}
	fake.ops = nil
	if err := dp.InstallChild(child(t, 200, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	dp.RemoveChild(100)
	if len(fake.ops) != 0 {
		t.Fatalf("the rekeyed pair changed policy routing: %v", fake.ops)
	}
	dp.RemoveChild(200)
	want = []string{"host del 192.0.2.2/32", "rule del", "mark off"}
	if !slices.Equal(fake.ops, want) || *marked || fake.rule || fake.hostRoutes[host].IsValid() {
		t.Fatalf("ops = %v, want %v (marked %v, rule %v)", fake.ops, want, *marked, fake.rule)
	}
}

// TestHostRoutesMixed: of a tunnel's selectors, only the prefixes that
// cover the peer go to the policy-routed table.
func TestHostRoutesMixed(t *testing.T) {
	dp, fake, _ := newHostRoutedDataplane(t)
	if err := dp.InstallChild(child(t, 1, []string{"10.1.0.0/24"}, "10.2.0.0/24", "192.0.2.0/24")); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.routes[netip.MustParsePrefix("10.2.0.0/24")]; !ok || len(fake.routes) != 1 {
		t.Fatalf("main routes %v, want 10.2.0.0/24 only", fake.routes)
	}
	if _, ok := fake.hostRoutes[netip.MustParsePrefix("192.0.2.0/24")]; !ok || len(fake.hostRoutes) != 1 {
		t.Fatalf("host routes %v, want 192.0.2.0/24 only", fake.hostRoutes)
	}
}

// TestHostRoutesRuleFailure: if the rule cannot be added, the marks are
// cleared again and the SA is not installed.
func TestHostRoutesRuleFailure(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplane(t)
	fake.failRule = true
	if err := dp.InstallChild(child(t, 1, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err == nil {
		t.Fatal("InstallChild succeeded without the rule")
	}
	if *marked || dp.db.Len() != 0 || len(fake.hostRoutes) != 0 {
		t.Fatalf("left behind: marked %v, SAs %d, host routes %v", *marked, dp.db.Len(), fake.hostRoutes)
	}
}

// TestHostRoutesRemovedOnClose: the daemon's exit removes route, rule and
// marks.
func TestHostRoutesRemovedOnClose(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplane(t)
	if err := dp.InstallChild(child(t, 1, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	fake.ops = nil
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"host del 192.0.2.2/32", "rule del", "mark off"}
	if !slices.Equal(fake.ops, want) || *marked || fake.rule {
		t.Fatalf("ops = %v, want %v", fake.ops, want)
	}
}

// child6 is child with IPv6 outer addresses, 2001:db8::1 to 2001:db8::2.
func child6(t *testing.T, spi uint32, local []string, remote ...string) *sadb.ChildSA {
	c := child(t, spi, local, remote...)
	c.Local = netip.MustParseAddrPort("[2001:db8::1]:4500")
	c.Remote = netip.MustParseAddrPort("[2001:db8::2]:4500")
	return c
}

// TestHostRoutesIPv6: a host-to-host policy over IPv6 gets the IPv6 rule
// (`ip -6 rule`) and its route in table 7296 with the MTU of routes to
// IPv6 peers; an IPv4 one alongside adds the IPv4 rule, sharing the
// marks; each family's rule goes with its last route, the marks with the
// last rule; rekeyed pairs change nothing.
func TestHostRoutesIPv6(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplaneOn(t, netip.Addr{})
	fake.addrs = append(fake.addrs, netip.MustParseAddr("2001:db8::1"))
	dp.routes.mtu = 1400
	if err := dp.InstallChild(child6(t, 100, []string{"2001:db8::1/128"}, "2001:db8::2/128")); err != nil {
		t.Fatal(err)
	}
	want := []string{"mark on", "rule6 add", "host replace 2001:db8::2/128 src 2001:db8::1 mtu 1380"}
	if !slices.Equal(fake.ops, want) || len(fake.routes) != 0 {
		t.Fatalf("ops = %v, want %v (main routes %v)", fake.ops, want, fake.routes)
	}
	fake.ops = nil
	if err := dp.InstallChild(child6(t, 101, []string{"2001:db8::1/128"}, "2001:db8::2/128")); err != nil {
		t.Fatal(err)
	}
	if err := dp.InstallChild(child(t, 200, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	want = []string{"rule add", "host replace 192.0.2.2/32 src 192.0.2.1"}
	if !slices.Equal(fake.ops, want) {
		t.Fatalf("ops = %v, want %v", fake.ops, want)
	}
	fake.ops = nil
	dp.RemoveChild(100)
	if len(fake.ops) != 0 {
		t.Fatalf("the rekeyed IPv6 pair changed policy routing: %v", fake.ops)
	}
	dp.RemoveChild(101)
	want = []string{"host del 2001:db8::2/128", "rule6 del"}
	if !slices.Equal(fake.ops, want) || !*marked || fake.rule6 || !fake.rule {
		t.Fatalf("ops = %v, want %v (marked %v, rules %v %v)", fake.ops, want, *marked, fake.rule, fake.rule6)
	}
	fake.ops = nil
	dp.RemoveChild(200)
	want = []string{"host del 192.0.2.2/32", "rule del", "mark off"}
	if !slices.Equal(fake.ops, want) || *marked {
		t.Fatalf("ops = %v, want %v", fake.ops, want)
	}
}

// TestHostRoutesIPv6Close: Close removes IPv6 host routes, both rules
// and the marks.
func TestHostRoutesIPv6Close(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplaneOn(t, netip.Addr{})
	if err := dp.InstallChild(child6(t, 1, []string{"2001:db8::1/128"}, "2001:db8::/64")); err != nil {
		t.Fatal(err)
	}
	if err := dp.InstallChild(child(t, 2, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	if *marked || fake.rule || fake.rule6 || len(fake.hostRoutes) != 0 {
		t.Fatalf("left behind: marked %v, rules %v %v, host routes %v (ops %v)", *marked, fake.rule, fake.rule6, fake.hostRoutes, fake.ops)
	}
}

// TestHostRoutesTrap: a trap whose selectors cover the peer (start_action
// = trap with host-to-host selectors) routes the peer by policy routing
// like an SA does; the SA it brings up shares the route; the route, rule
// and marks go with the last of the two, and a trap ReqID equal to an
// SPI is another holder.
func TestHostRoutesTrap(t *testing.T) {
	dp, fake, marked := newHostRoutedDataplane(t)
	tr := Trap{Name: "c/h", LocalTS: mustTS(t, "192.0.2.1/32"), RemoteTS: mustTS(t, "192.0.2.2/32"), Peer: netip.MustParseAddr("192.0.2.2")}
	if err := dp.InstallTrap(tr); err != nil {
		t.Fatal(err)
	}
	want := []string{"mark on", "rule add", "host replace 192.0.2.2/32 src 192.0.2.1"}
	if !slices.Equal(fake.ops, want) || len(fake.routes) != 0 {
		t.Fatalf("ops = %v, want %v (main routes %v)", fake.ops, want, fake.routes)
	}
	fake.ops = nil
	reqID := dp.pol.traps["c/h"].reqID
	if err := dp.InstallChild(child(t, reqID, []string{"192.0.2.1/32"}, "192.0.2.2/32")); err != nil {
		t.Fatal(err)
	}
	if !dp.RemoveTrap("c/h") || len(fake.ops) != 0 {
		t.Fatalf("trap removal with the SA up changed policy routing: %v", fake.ops)
	}
	dp.RemoveChild(reqID)
	want = []string{"host del 192.0.2.2/32", "rule del", "mark off"}
	if !slices.Equal(fake.ops, want) || *marked || fake.rule {
		t.Fatalf("ops = %v, want %v", fake.ops, want)
	}
}
