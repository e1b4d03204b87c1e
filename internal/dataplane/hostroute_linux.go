package dataplane

import (
	"errors"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The Linux hostRouteSys (hostroute.go): netlink, no `ip` commands.

func (r *netlinkRoutes) hostRoute(dst netip.Prefix) *netlink.Route {
	rt := r.route(dst)
	rt.Table = hostRouteTable
	return rt
}

func (r *netlinkRoutes) replaceHost(dst netip.Prefix, src netip.Addr, mtu int) error {
	rt := r.hostRoute(dst)
	rt.MTU = mtu
	if src.IsValid() {
		rt.Src = src.AsSlice()
	}
	return r.h.RouteReplace(rt)
}

func (r *netlinkRoutes) delHost(dst netip.Prefix) error {
	return r.h.RouteDel(r.hostRoute(dst))
}

func hostRule(v6 bool) *netlink.Rule {
	rule := netlink.NewRule()
	rule.Family = netlink.FAMILY_V4
	if v6 {
		rule.Family = netlink.FAMILY_V6
	}
	rule.Priority = hostRulePriority
	rule.Table = hostRouteTable
	rule.Mark = hostRouteMark
	mask := uint32(0xffffffff)
	rule.Mask = &mask
	rule.Invert = true
	return rule
}

// addRule adds the rule; one left by a daemon that did not exit cleanly is
// taken over.
func (r *netlinkRoutes) addRule(v6 bool) error {
	if err := r.h.RuleAdd(hostRule(v6)); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

func (r *netlinkRoutes) delRule(v6 bool) error { return r.h.RuleDel(hostRule(v6)) }

// markSockets sets (on) or clears SO_MARK on the IKE and NAT-T sockets
// of both families and the raw ESP sockets (socket(7); needs
// CAP_NET_ADMIN). A raw socket opened later is marked by ensureRaw.
func (d *Dataplane) markSockets(on bool) error {
	mark := 0
	if on {
		mark = hostRouteMark
	}
	var errs []error
	for _, s := range d.sockets() {
		errs = append(errs, setSocketMark(s.rc, mark))
	}
	for _, s := range d.rawSockets() {
		errs = append(errs, setSocketMark(s.rc, mark))
	}
	return errors.Join(errs...)
}

func setSocketMark(rc syscall.RawConn, mark int) error {
	if rc == nil {
		return errors.New("no raw socket")
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark)
	}); err != nil {
		return err
	}
	return serr
}
