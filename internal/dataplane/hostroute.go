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
//	ip rule:       not fwmark hostRouteMark lookup hostRouteTable (priority hostRulePriority)
//	table:         <peer prefix> dev TUN scope link src <local address>
//
// Marked packets (ours) skip the table and follow the main one; everything
// else the host sends to the peer goes into the TUN. The marks and the
// rule exist only while some SA needs a host route: the first one marks
// the sockets, then adds the rule; the last one removes the rule, then the
// marks. Dataplane.Close removes them too.
const (
	hostRouteTable   = 7296 // RFC 7296; not strongSwan's 220
	hostRouteMark    = 0x7296
	hostRulePriority = 7296 // before main (32766), after local (0)
)

// hostRouteSys is the part of a routeSys that does policy routing
// (netlink on Linux). A routeSys without it cannot install host routes.
type hostRouteSys interface {
	replaceHost(dst netip.Prefix, src netip.Addr) error // route in hostRouteTable via the TUN
	delHost(dst netip.Prefix) error
	addRule() error // not fwmark hostRouteMark lookup hostRouteTable
	delRule() error
}

// hostRoutes refcounts the routes in hostRouteTable, per prefix, like
// routeTable does for the main table, and owns the rule and socket marks.
// Guarded by Dataplane.installMu.
type hostRoutes struct {
	sys    hostRouteSys     // nil: not available
	mark   func(bool) error // sets or clears SO_MARK on the daemon's sockets
	log    *slog.Logger
	refs   map[netip.Prefix]int
	bySA   map[uint32][]netip.Prefix
	active bool // marks set and rule installed
}

func newHostRoutes(sys routeSys, log *slog.Logger) *hostRoutes {
	h := &hostRoutes{log: log, refs: make(map[netip.Prefix]int), bySA: make(map[uint32][]netip.Prefix)}
	h.sys, _ = sys.(hostRouteSys)
	return h
}

// add takes a reference on the host routes ps of the SA with inbound SPI
// spi, marking the sockets and adding the rule first if they are not
// there yet. It changes nothing if it fails.
func (h *hostRoutes) add(spi uint32, ps []netip.Prefix, src netip.Addr) error {
	if h.sys == nil || h.mark == nil {
		return errors.New("host-to-host policies need policy routing, which this platform's data plane does not do")
	}
	if _, ok := h.bySA[spi]; ok {
		return fmt.Errorf("host routes for SPI %08x already installed", spi)
	}
	if err := h.activate(); err != nil {
		return err
	}
	var added []netip.Prefix
	for _, p := range ps {
		if h.refs[p] == 0 {
			if err := h.sys.replaceHost(p, src); err != nil {
				h.release(added)
				return fmt.Errorf("add route %s table %d: %w", p, hostRouteTable, err)
			}
			h.log.Debug("host route added", "dst", p, "table", hostRouteTable, "src", src)
		}
		h.refs[p]++
		added = append(added, p)
	}
	h.bySA[spi] = added
	return nil
}

// activate marks the sockets, then adds the rule: in this order none of
// our own datagrams is ever routed into the TUN.
func (h *hostRoutes) activate() error {
	if h.active {
		return nil
	}
	if err := h.mark(true); err != nil {
		_ = h.mark(false)
		return fmt.Errorf("mark the IKE sockets (SO_MARK %#x): %w", hostRouteMark, err)
	}
	if err := h.sys.addRule(); err != nil {
		_ = h.mark(false)
		return fmt.Errorf("add rule not fwmark %#x lookup %d: %w", hostRouteMark, hostRouteTable, err)
	}
	h.active = true
	h.log.Debug("policy routing on", "fwmark", fmt.Sprintf("%#x", hostRouteMark), "table", hostRouteTable)
	return nil
}

// remove drops the references of the SA with inbound SPI spi.
func (h *hostRoutes) remove(spi uint32) {
	ps, ok := h.bySA[spi]
	if !ok {
		return
	}
	delete(h.bySA, spi)
	h.release(ps)
}

// release drops references on ps, deleting unused routes, and turns
// policy routing off once no host route is left.
func (h *hostRoutes) release(ps []netip.Prefix) {
	for _, p := range ps {
		h.refs[p]--
		if h.refs[p] > 0 {
			continue
		}
		delete(h.refs, p)
		if err := h.sys.delHost(p); err != nil {
			h.log.Warn("remove host route", "dst", p, "table", hostRouteTable, "err", err)
		}
	}
	if len(h.refs) == 0 {
		h.deactivate()
	}
}

// deactivate removes the rule, then the marks.
func (h *hostRoutes) deactivate() {
	if !h.active {
		return
	}
	h.active = false
	if err := h.sys.delRule(); err != nil {
		h.log.Warn("remove rule", "table", hostRouteTable, "err", err)
	}
	if err := h.mark(false); err != nil {
		h.log.Warn("clear socket marks", "err", err)
	}
	h.log.Debug("policy routing off")
}

// removeAll deletes every host route, the rule and the marks.
func (h *hostRoutes) removeAll() {
	for p := range h.refs {
		if err := h.sys.delHost(p); err != nil {
			h.log.Debug("remove host route", "dst", p, "err", err)
		}
	}
	clear(h.refs)
	clear(h.bySA)
	h.deactivate()
}
