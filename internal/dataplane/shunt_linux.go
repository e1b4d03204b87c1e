package dataplane

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bypass routes dst around the TUN (mode = pass, shunt.go): it copies the
// longest route of the main table that covers dst and does not go through
// the TUN, with dst as its destination, so it wins over a broader route
// into the TUN. If the main table has a route for exactly dst outside the
// TUN already, it changes nothing and reports installed false.
func (r *netlinkRoutes) bypass(dst netip.Prefix) (installed bool, err error) {
	routes, err := r.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, err
	}
	var best *netlink.Route
	bestBits := -1
	for i := range routes {
		rt := &routes[i]
		if rt.LinkIndex == r.index || rt.Type != unix.RTN_UNICAST {
			continue
		}
		p := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if rt.Dst != nil {
			a, ok := netip.AddrFromSlice(rt.Dst.IP)
			ones, _ := rt.Dst.Mask.Size()
			if !ok {
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), ones)
		}
		if p == dst {
			return false, nil // the host routes it outside the TUN already
		}
		if p.Bits() <= dst.Bits() && p.Contains(dst.Addr()) && p.Bits() > bestBits {
			best, bestBits = rt, p.Bits()
		}
	}
	if best == nil {
		return false, errors.New("no route outside the TUN covers it")
	}
	nr := &netlink.Route{
		LinkIndex: best.LinkIndex,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
		Gw:        best.Gw,
		Src:       best.Src,
		Scope:     best.Scope,
		Table:     unix.RT_TABLE_MAIN,
	}
	return true, r.h.RouteReplace(nr)
}

func (r *netlinkRoutes) delBypass(dst netip.Prefix) error {
	return r.h.RouteDel(&netlink.Route{
		Dst:   &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
		Table: unix.RT_TABLE_MAIN,
	})
}
