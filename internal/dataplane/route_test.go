package dataplane

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// fakeRoutes records route operations.
type fakeRoutes struct {
	routes  map[netip.Prefix]netip.Addr
	mtus    map[netip.Prefix]int
	ops     []string
	addrs   []netip.Addr
	failFor netip.Prefix
	closed  bool
	// policy routing (hostroute_test.go)
	hostRoutes map[netip.Prefix]netip.Addr
	rule       bool
	rule6      bool
	failRule   bool
}

func (f *fakeRoutes) replace(dst netip.Prefix, src netip.Addr, mtu int) error {
	if dst == f.failFor {
		return errors.New("injected failure")
	}
	f.routes[dst] = src
	f.mtus[dst] = mtu
	f.ops = append(f.ops, "replace "+dst.String())
	return nil
}

func (f *fakeRoutes) del(dst netip.Prefix) error {
	delete(f.routes, dst)
	f.ops = append(f.ops, "del "+dst.String())
	return nil
}

func (f *fakeRoutes) localAddrs() ([]netip.Addr, error) { return f.addrs, nil }
func (f *fakeRoutes) close()                            { f.closed = true }

// newRoutedDataplane is a socket-only data plane with a fake route table.
func newRoutedDataplane(t *testing.T) (*Dataplane, *fakeRoutes) {
	t.Helper()
	return newRoutedDataplaneOn(t, loopback)
}

// newRoutedDataplaneOn is newRoutedDataplane listening on listen (unset:
// both families).
func newRoutedDataplaneOn(t *testing.T, listen netip.Addr) (*Dataplane, *fakeRoutes) {
	t.Helper()
	dp, err := New(Config{ListenAddr: listen, DB: new(sadb.DB), NoTUN: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeRoutes{
		routes: make(map[netip.Prefix]netip.Addr),
		mtus:   make(map[netip.Prefix]int),
		addrs:  []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.1.0.1")},
	}
	dp.routes = newRouteTable(fake, dp.log)
	dp.routes.mtu = DefaultMTU
	t.Cleanup(func() { dp.Close() })
	return dp, fake
}

func child(t *testing.T, spi uint32, local []string, remote ...string) *sadb.ChildSA {
	t.Helper()
	return &sadb.ChildSA{
		Name:     "c",
		In:       esp.NewInbound(spi, newAEAD(t, 1), 128),
		Out:      esp.NewOutbound(spi+1, newAEAD(t, 2)),
		Local:    netip.MustParseAddrPort("192.0.2.1:4500"),
		Remote:   netip.MustParseAddrPort("192.0.2.2:4500"),
		Encap:    true,
		LocalTS:  mustTS(t, local...),
		RemoteTS: mustTS(t, remote...),
	}
}

func TestRoutesRefcounted(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	p24 := netip.MustParsePrefix("10.2.0.0/24")
	p25 := netip.MustParsePrefix("10.3.0.0/25")
	p25b := netip.MustParsePrefix("10.3.0.128/26")

	// An old SA and its rekeyed successor share 10.2.0.0/24.
	if err := dp.InstallChild(child(t, 100, []string{"10.1.0.0/24"}, "10.2.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if got := fake.routes[p24]; got != netip.MustParseAddr("10.1.0.1") {
		t.Fatalf("route src = %v, want the local address inside LocalTS (10.1.0.1)", got)
	}
	// A range selector needs several prefixes.
	if err := dp.InstallChild(child(t, 200, []string{"10.1.0.0/24"}, "10.2.0.0/24", "10.3.0.0-10.3.0.191")); err != nil {
		t.Fatal(err)
	}
	wantOps := []string{"replace 10.2.0.0/24", "replace " + p25.String(), "replace " + p25b.String()}
	if !slices.Equal(fake.ops, wantOps) {
		t.Fatalf("ops = %v, want %v", fake.ops, wantOps)
	}

	fake.ops = nil
	dp.RemoveChild(100)
	if len(fake.ops) != 0 {
		t.Fatalf("removing one of two users changed routes: %v", fake.ops)
	}
	dp.RemoveChild(200)
	slices.Sort(fake.ops)
	wantOps = []string{"del 10.2.0.0/24", "del " + p25.String(), "del " + p25b.String()}
	if !slices.Equal(fake.ops, wantOps) {
		t.Fatalf("ops = %v, want %v", fake.ops, wantOps)
	}
	if len(fake.routes) != 0 {
		t.Fatalf("routes left: %v", fake.routes)
	}
}

func TestRoutesNoLocalAddressInTS(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	if err := dp.InstallChild(child(t, 1, []string{"10.9.0.0/24"}, "10.2.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if src := fake.routes[netip.MustParsePrefix("10.2.0.0/24")]; src.IsValid() {
		t.Fatalf("route src = %v, want none", src)
	}
}

// TestRoutesFailureRollsBack: when a route cannot be added the SA is not
// installed and the routes already added for it are removed.
func TestRoutesFailureRollsBack(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	fake.failFor = netip.MustParsePrefix("10.3.0.0/24")
	err := dp.InstallChild(child(t, 1, []string{"10.1.0.0/24"}, "10.2.0.0/24", "10.3.0.0/24"))
	if err == nil {
		t.Fatal("InstallChild succeeded")
	}
	if dp.db.Inbound(1) != nil {
		t.Fatal("SA left in the DB")
	}
	if len(fake.routes) != 0 {
		t.Fatalf("routes left: %v", fake.routes)
	}
}

// TestRoutesRefusePeerCovered: routing the peer's own address into the TUN
// would loop the ESP packets; without policy routing (no socket marks
// here, hostroute.go), refuse rather than leak or loop.
func TestRoutesRefusePeerCovered(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	err := dp.InstallChild(child(t, 1, []string{"10.1.0.0/24"}, "0.0.0.0/0"))
	if err == nil || !strings.Contains(err.Error(), "covers the peer address") {
		t.Fatalf("err = %v, want a peer-covered error", err)
	}
	if dp.db.Len() != 0 || len(fake.routes) != 0 {
		t.Fatal("state changed by a refused install")
	}
}

func TestRoutesRemovedOnClose(t *testing.T) {
	dp, fake := newRoutedDataplane(t)
	if err := dp.InstallChild(child(t, 1, []string{"10.1.0.0/24"}, "10.2.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	if len(fake.routes) != 0 || !fake.closed {
		t.Fatalf("after Close: routes %v, closed %v", fake.routes, fake.closed)
	}
	if err := dp.InstallChild(child(t, 2, []string{"10.1.0.0/24"}, "10.2.0.0/24")); err == nil {
		t.Fatal("InstallChild after Close succeeded")
	}
}
