package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// createTUN creates the TUN device (with virtio-net-hdr offloads, see
// golang.zx2c4.com/wireguard/tun), brings the link up and relaxes reverse
// path filtering on it, so decrypted packets from remote subnets are
// accepted (DESIGN.md "The data plane"). The netlink handle is bound to the
// network namespace of the calling thread.
func createTUN(name string, mtu int, log *slog.Logger) (tun.Device, string, routeSys, error) {
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, "", nil, tunError(name, err)
	}
	fail := func(format string, args ...any) (tun.Device, string, routeSys, error) {
		dev.Close()
		return nil, "", nil, fmt.Errorf(format, args...)
	}
	realName, err := dev.Name()
	if err != nil {
		return fail("TUN %s: get name: %w", name, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fail("TUN %s: netlink: %w", realName, err)
	}
	link, err := h.LinkByName(realName)
	if err != nil {
		h.Close()
		return fail("TUN %s: %w", realName, err)
	}
	// No IPv6 link-local address on the TUN (addr_gen_mode none, set
	// before the link goes up): link-local traffic never crosses a tunnel
	// (RFC 4291 2.5.6), and with an address the kernel would send its
	// router solicitations and MLD reports into the TUN, where they only
	// count as no_policy drops. Routes via the TUN need no address.
	if err := h.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		log.Debug("cannot turn off IPv6 link-local addresses on the TUN", "tun", realName, "err", err)
	}
	if err := h.LinkSetUp(link); err != nil {
		h.Close()
		return fail("TUN %s: set link up: %w", realName, err)
	}
	// The route back to a decrypted packet's source goes via the TUN, so
	// strict rp_filter passes anyway; 0 also covers loose setups. The
	// effective value is max(all, dev), hence the warning.
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+realName+"/rp_filter", []byte("0"), 0); err != nil {
		log.Warn("cannot disable rp_filter on the TUN", "tun", realName, "err", err)
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter"); err == nil && strings.TrimSpace(string(b)) != "0" {
		log.Debug("net.ipv4.conf.all.rp_filter is set: decrypted packets need their route back via the TUN", "value", strings.TrimSpace(string(b)))
	}
	// IPv6 routes need IPv6 on the link (RFC 8200 inner traffic); a host
	// with IPv6 off everywhere simply carries none.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+realName+"/disable_ipv6", []byte("0"), 0); err != nil {
		log.Debug("cannot enable IPv6 on the TUN", "tun", realName, "err", err)
	}
	return dev, realName, &netlinkRoutes{h: h, index: link.Attrs().Index}, nil
}

// tunError makes the usual TUN creation failures one line that says what to
// do.
func tunError(name string, err error) error {
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("create TUN %s: %w (goipsec daemon needs root or CAP_NET_ADMIN)", name, unwrapErrno(err))
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("create TUN %s: %w (is the interface in use by another program?)", name, unwrapErrno(err))
	}
	return fmt.Errorf("create TUN %s: %w", name, err)
}

func unwrapErrno(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// netlinkRoutes is the Linux routeSys: routes in the main table via the TUN,
// scope link.
type netlinkRoutes struct {
	h     *netlink.Handle
	index int
}

func (r *netlinkRoutes) route(dst netip.Prefix) *netlink.Route {
	return &netlink.Route{
		LinkIndex: r.index,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Scope:     netlink.SCOPE_LINK,
	}
}

func (r *netlinkRoutes) replace(dst netip.Prefix, src netip.Addr, mtu int) error {
	rt := r.route(dst)
	rt.MTU = mtu
	if src.IsValid() {
		rt.Src = src.AsSlice()
	}
	return r.h.RouteReplace(rt)
}

func (r *netlinkRoutes) del(dst netip.Prefix) error {
	return r.h.RouteDel(r.route(dst))
}

func (r *netlinkRoutes) localAddrs() ([]netip.Addr, error) {
	addrs, err := r.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		// An IPv6 link-local source is no use beyond the link.
		if !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			out = append(out, ip)
		}
	}
	return out, nil
}

func (r *netlinkRoutes) close() { r.h.Close() }
