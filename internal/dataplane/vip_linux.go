package dataplane

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vipAddr is a as a host address. An IPv6 one is added with
// IFA_F_NODAD: duplicate address detection (RFC 4862 5.4) would keep it
// tentative for a second or more, and a tentative address is refused as
// a route's source and as a socket's; nothing else on a TUN can hold it.
func (r *netlinkRoutes) vipAddr(a netip.Addr) *netlink.Addr {
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}
	if a.Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	return addr
}

// addAddr adds a/32 or a/128 to the TUN (RTM_NEWADDR with NLM_F_EXCL, so
// an address the TUN has already is reported, and later left alone).
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
