package dataplane

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func (r *netlinkRoutes) vipAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
}

// addAddr adds a/32 to the TUN (RTM_NEWADDR with NLM_F_EXCL, so an
// address the TUN has already is reported, and later left alone).
func (r *netlinkRoutes) addAddr(a netip.Addr) (bool, error) {
	link, err := r.h.LinkByIndex(r.index)
	if err != nil {
		return false, err
	}
	if err := r.h.AddrAdd(link, r.vipAddr(a)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

func (r *netlinkRoutes) delAddr(a netip.Addr) error {
	link, err := r.h.LinkByIndex(r.index)
	if err != nil {
		return err
	}
	return r.h.AddrDel(link, r.vipAddr(a))
}
