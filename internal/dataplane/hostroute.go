package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Host-to-host policies (transport mode, or a tunnel whose remote
// selectors cover the peer's own address) protect traffic to the address
// our own IKE and ESP-in-UDP datagrams go to. A plain route for it into
// the TUN would loop those datagrams into the tunnel. So, as wg-quick and
// strongSwan's kernel-libipsec (table 220) do, policy routing splits the
// two (DESIGN.md "The data plane"):
//
//	socket marks:  the IKE and NAT-T sockets carry SO_MARK hostRouteMark
//	ip rule:       not fwmark hostRouteMark lookup hostRouteTable (priority hostRulePriority;
//	               one per address family, `ip rule` and `ip -6 rule`)
//	table:         <peer prefix> dev TUN scope link src <local address>
//
// Marked packets (ours) skip the table and follow the main one; everything
// else the host sends to the peer goes into the TUN. The marks and the
// rules exist only while some SA needs a host route: the first one marks
// the sockets (both families'), then adds its family's rule; the last one
// of a family removes that rule, and the last of all the marks.
// Dataplane.Close removes them too.
const (
	hostRouteTable   = 7296 // RFC 7296; not strongSwan's 220
	hostRouteMark    = 0x7296
	hostRulePriority = 7296 // before main (32766), after local (0)
)

// hostRouteSys is the part of a routeSys that does policy routing
// (netlink on Linux). A routeSys without it cannot install host routes.
// The rule exists per address family (IPv6 if v6: `ip -6 rule`); the
// table's routes are of the prefix's family.
type hostRouteSys interface {
	replaceHost(dst netip.Prefix, src netip.Addr, mtu int) error // route in hostRouteTable via the TUN
	delHost(dst netip.Prefix) error
	addRule(v6 bool) error // not fwmark hostRouteMark lookup hostRouteTable
	delRule(v6 bool) error
}

// hostRoutes refcounts the routes in hostRouteTable, per prefix, like
// routeTable does for the main table (prefixRefs), and owns the rules and
// socket marks. Guarded by Dataplane.installMu.
type hostRoutes struct {
	sys    hostRouteSys     // nil: not available
	mark   func(bool) error // sets or clears SO_MARK on the daemon's sockets
	log    *slog.Logger
	refs   prefixRefs
	by     map[hostHolder][]netip.Prefix
	marked bool    // socket marks set
	rule   [2]bool // rule installed, per family: [0] IPv4, [1] IPv6
}

func newHostRoutes(sys routeSys, log *slog.Logger) *hostRoutes {
	h := &hostRoutes{log: log, refs: make(prefixRefs), by: make(map[hostHolder][]netip.Prefix)}
	h.sys, _ = sys.(hostRouteSys)
	return h
}

// hostHolder is what holds host routes: an SA by its inbound SPI, or a
// trap by its ReqID (the two number spaces overlap).
type hostHolder struct {
	id   uint32
	trap bool
}

func (k hostHolder) String() string {
	if k.trap {
		return fmt.Sprintf("trap %d", k.id)
	}
	return fmt.Sprintf("SPI %08x", k.id)
}

func family(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 1
	}
	return 0
}

// add takes a reference on the host routes ps (one address family) of
// holder k, with source src and MTU mtu (0: the TUN's), marking the
// sockets and adding the family's rule first if they are not there yet.
// It changes nothing if it fails.
func (h *hostRoutes) add(k hostHolder, ps []netip.Prefix, src netip.Addr, mtu int) error {
	if h.sys == nil || h.mark == nil {
		return errors.New("host-to-host policies need policy routing, which this platform's data plane does not do")
	}
	if _, ok := h.by[k]; ok {
		return fmt.Errorf("host routes for %v already installed", k)
	}
	for _, p := range ps {
		if err := h.activate(family(p)); err != nil {
			h.deactivateUnused()
			return err
		}
	}
	install := func(p netip.Prefix) error {
		if err := h.sys.replaceHost(p, src, mtu); err != nil {
			return fmt.Errorf("add route %s table %d: %w", p, hostRouteTable, err)
		}
		h.log.Debug("host route added", "dst", p, "table", hostRouteTable, "src", src, "mtu", mtu)
		return nil
	}
	added, err := h.refs.acquire(ps, install, h.delRoute)
	if err != nil {
		h.deactivateUnused()
		return err
	}
	h.by[k] = added
	return nil
}

// activate marks the sockets, then adds the rule of family f: in this
// order none of our own datagrams is ever routed into the TUN.
func (h *hostRoutes) activate(f int) error {
	if h.rule[f] {
		return nil
	}
	if !h.marked {
		if err := h.mark(true); err != nil {
			_ = h.mark(false)
			return fmt.Errorf("mark the IKE sockets (SO_MARK %#x): %w", hostRouteMark, err)
		}
		h.marked = true
	}
	if err := h.sys.addRule(f == 1); err != nil {
		return fmt.Errorf("add rule not fwmark %#x lookup %d (%s): %w", hostRouteMark, hostRouteTable, familyName(f), err)
	}
	h.rule[f] = true
	h.log.Debug("policy routing on", "family", familyName(f), "fwmark", fmt.Sprintf("%#x", hostRouteMark), "table", hostRouteTable)
	return nil
}

func familyName(f int) string {
	if f == 1 {
		return "IPv6"
	}
	return "IPv4"
}

// remove drops the references of holder k.
func (h *hostRoutes) remove(k hostHolder) {
	ps, ok := h.by[k]
	if !ok {
		return
	}
	delete(h.by, k)
	h.refs.release(ps, h.delRoute)
	h.deactivateUnused()
}

// delRoute deletes the host route of p, which no SA holds any more.
func (h *hostRoutes) delRoute(p netip.Prefix) {
	if err := h.sys.delHost(p); err != nil {
		h.log.Warn("remove host route", "dst", p, "table", hostRouteTable, "err", err)
	}
}

// deactivateUnused removes the rule of each family no host route is left
// in, then, once no rule is left, the marks.
func (h *hostRoutes) deactivateUnused() {
	for f := range h.rule {
		if !h.rule[f] || h.refs.has(f == 1) {
			continue
		}
		h.rule[f] = false
		if err := h.sys.delRule(f == 1); err != nil {
			h.log.Warn("remove rule", "family", familyName(f), "table", hostRouteTable, "err", err)
		}
		h.log.Debug("policy routing off", "family", familyName(f))
	}
	if h.marked && !h.rule[0] && !h.rule[1] {
		h.marked = false
		if err := h.mark(false); err != nil {
			h.log.Warn("clear socket marks", "err", err)
		}
	}
}

// removeAll deletes every host route, the rules and the marks.
func (h *hostRoutes) removeAll() {
	h.refs.drain(func(p netip.Prefix) {
		if err := h.sys.delHost(p); err != nil {
			h.log.Debug("remove host route", "dst", p, "err", err)
		}
	})
	clear(h.by)
	h.deactivateUnused()
}
