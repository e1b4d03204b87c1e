package dataplane

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// routeSys installs and removes routes via the TUN (netlink on Linux).
type routeSys interface {
	// replace adds or replaces the route to dst via the TUN with source
	// address src (if valid) and MTU mtu (if not 0; else the TUN's).
	replace(dst netip.Prefix, src netip.Addr, mtu int) error
	del(dst netip.Prefix) error
	// localAddrs lists the host's IPv4 and IPv6 addresses, loopback and
	// IPv6 link-local excluded.
	localAddrs() ([]netip.Addr, error)
	close()
}

// routeTable refcounts the routes the Child SAs need: one route per remote
// traffic selector prefix, shared by every SA that covers it (a rekey
// installs the new SA before the old one goes). Guarded by
// Dataplane.installMu.
type routeTable struct {
	sys routeSys
	log *slog.Logger
	// mtu is the TUN's MTU: routes for SAs whose peer is reached over
	// IPv6 get ipv6OuterExtra less, so that their ESP packets fit the
	// same path as IPv4 ones. 0: leave every route at the TUN's MTU.
	mtu    int
	refs   prefixRefs
	bySA   map[uint32][]netip.Prefix // inbound SPI -> prefixes it holds
	byTrap map[uint32][]netip.Prefix // trap or drop shunt ReqID -> prefixes it holds (trap.go, shunt.go)
	// Routes around the TUN for pass shunts (shunt.go), refcounted the same way.
	bypassRefs  prefixRefs
	bypassOwned map[netip.Prefix]bool // we added the route (delete it when done)
	byBypass    map[uint32][]netip.Prefix
	host        *hostRoutes // SA prefixes that cover the peer (hostroute.go)
}

func newRouteTable(sys routeSys, log *slog.Logger) *routeTable {
	return &routeTable{
		sys:    sys,
		log:    log,
		refs:   make(prefixRefs),
		bySA:   make(map[uint32][]netip.Prefix),
		byTrap: make(map[uint32][]netip.Prefix),

		bypassRefs:  make(prefixRefs),
		bypassOwned: make(map[netip.Prefix]bool),
		byBypass:    make(map[uint32][]netip.Prefix),
		host:        newHostRoutes(sys, log),
	}
}

// add takes a reference on the route of every prefix of c.RemoteTS (IPv4
// and IPv6), installing the routes not there yet. A prefix that covers the
// peer's own address would send the ESP packets themselves into the TUN:
// it goes into the policy-routed table of hostroute.go instead. It fails,
// changing nothing, if a route cannot be installed.
func (t *routeTable) add(c *sadb.ChildSA) error {
	spi := c.InSPI()
	if _, ok := t.bySA[spi]; ok {
		return fmt.Errorf("routes for SPI %08x already installed", spi)
	}
	peer := c.Remote.Addr().Unmap()
	k := hostHolder{id: spi}
	if err := t.addHost(k, c.LocalTS, c.RemoteTS, peer, c.Local.Addr().Unmap()); err != nil {
		return err
	}
	added, err := t.hold(c.LocalTS, c.RemoteTS, peer)
	if err != nil {
		t.host.remove(k)
		return err
	}
	t.bySA[spi] = added
	return nil
}

// addHost puts the prefixes of remote that cover the peer's own address
// (host to host), which a plain route would send the ESP packets
// themselves into the TUN by, into the policy-routed table of
// hostroute.go for holder k, with a source inside local (else fallback).
func (t *routeTable) addHost(k hostHolder, local, remote []ts.Selector, peer, fallback netip.Addr) error {
	var hostPrefixes []netip.Prefix
	for _, p := range remotePrefixes(remote) {
		if p.Contains(peer) {
			hostPrefixes = append(hostPrefixes, p)
		}
	}
	if len(hostPrefixes) == 0 {
		return nil
	}
	src := t.pickSource(local, peer.Is6())
	if !src.IsValid() {
		src = fallback
	}
	if err := t.host.add(k, hostPrefixes, src, t.familyMTU(peer)); err != nil {
		return fmt.Errorf("remote traffic selector %s covers the peer address %s: %w", hostPrefixes[0], peer, err)
	}
	return nil
}

// addTrap takes references on the routes of a trap's remote selectors.
func (t *routeTable) addTrap(reqID uint32, tr Trap) error {
	if _, ok := t.byTrap[reqID]; ok {
		return fmt.Errorf("routes for trap %d already installed", reqID)
	}
	peer := tr.Peer.Unmap()
	k := hostHolder{id: reqID, trap: true}
	if err := t.addHost(k, tr.LocalTS, tr.RemoteTS, peer, netip.Addr{}); err != nil {
		return err
	}
	added, err := t.hold(tr.LocalTS, tr.RemoteTS, peer)
	if err != nil {
		t.host.remove(k)
		return err
	}
	t.byTrap[reqID] = added
	return nil
}

// removeTrap drops the references of a trap.
func (t *routeTable) removeTrap(reqID uint32) {
	ps, ok := t.byTrap[reqID]
	if !ok {
		return
	}
	delete(t.byTrap, reqID)
	t.release(ps)
	t.host.remove(hostHolder{id: reqID, trap: true})
}

// hold takes a reference on the route of every prefix (IPv4 and IPv6) of
// remote, installing those not there yet, and returns them; on error it
// changes nothing. Prefixes that cover the peer are skipped: the caller
// has routed them with addHost (hostroute.go).
func (t *routeTable) hold(local, remote []ts.Selector, peer netip.Addr) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, p := range remotePrefixes(remote) {
		if !p.Contains(peer) {
			prefixes = append(prefixes, p)
		}
	}
	mtu := t.familyMTU(peer)
	var src [2]netip.Addr // per family: [0] IPv4, [1] IPv6
	var srcDone [2]bool
	install := func(p netip.Prefix) error {
		f := 0
		if p.Addr().Is6() {
			f = 1
		}
		if !srcDone[f] {
			src[f] = t.pickSource(local, f == 1)
			srcDone[f] = true
		}
		if err := t.sys.replace(p, src[f], mtu); err != nil {
			return fmt.Errorf("add route %s: %w", p, err)
		}
		t.log.Debug("route added", "dst", p, "src", src[f], "mtu", mtu)
		return nil
	}
	return t.refs.acquire(prefixes, install, t.delRoute)
}

// familyMTU is the MTU of routes for SAs with peer: ipv6OuterExtra below
// the TUN's for a peer reached over IPv6, so that its ESP packets fit the
// same path as IPv4 ones; 0 (the TUN's) otherwise. A prefix shared with
// an SA over the other family keeps the MTU of the SA that installed it
// first.
func (t *routeTable) familyMTU(peer netip.Addr) int {
	if peer.Is6() && t.mtu > 0 {
		return t.mtu - ipv6OuterExtra
	}
	return 0
}

// remove drops the references of the SA with inbound SPI spi.
func (t *routeTable) remove(spi uint32) {
	ps, ok := t.bySA[spi]
	if !ok {
		return
	}
	delete(t.bySA, spi)
	t.release(ps)
	t.host.remove(hostHolder{id: spi})
}

func (t *routeTable) release(ps []netip.Prefix) { t.refs.release(ps, t.delRoute) }

// delRoute deletes the main-table route of p, which no SA, trap or shunt
// holds any more.
func (t *routeTable) delRoute(p netip.Prefix) {
	if err := t.sys.del(p); err != nil {
		t.log.Warn("remove route", "dst", p, "err", err)
	} else {
		t.log.Debug("route removed", "dst", p)
	}
}

// close deletes every route and releases the routeSys (Dataplane.Close).
func (t *routeTable) close() {
	t.removeAll()
	t.sys.close()
}

// removeAll deletes every route.
func (t *routeTable) removeAll() {
	t.removeBypassAll()
	t.refs.drain(func(p netip.Prefix) {
		if err := t.sys.del(p); err != nil {
			t.log.Debug("remove route", "dst", p, "err", err)
		}
	})
	clear(t.bySA)
	clear(t.byTrap)
	t.host.removeAll()
}

// pickSource returns a local address of the family (IPv6 if v6) inside the
// local selectors, so that traffic the host itself sends into the tunnel
// has a source the peer's selectors accept; invalid if the host has none.
func (t *routeTable) pickSource(local []ts.Selector, v6 bool) netip.Addr {
	addrs, err := t.sys.localAddrs()
	if err != nil {
		t.log.Warn("list local addresses", "err", err)
		return netip.Addr{}
	}
	for _, a := range addrs {
		if a.Is6() != v6 {
			continue
		}
		for _, s := range local {
			if s.Is6() == v6 && s.Start.Compare(a) <= 0 && a.Compare(s.End) <= 0 {
				return a
			}
		}
	}
	return netip.Addr{}
}

// remotePrefixes returns the distinct CIDR prefixes, of both families,
// covering sels.
func remotePrefixes(sels []ts.Selector) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range sels {
		for _, p := range s.Prefixes() {
			if !containsPrefix(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func containsPrefix(list []netip.Prefix, p netip.Prefix) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}
