package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
)

// Virtual IPs (RFC 7296 2.19): an address a remote-access gateway
// assigned this host in a CFG_REPLY (INTERNAL_IP4_ADDRESS or
// INTERNAL_IP6_ADDRESS, 3.15.1) goes on the TUN, so that the Child
// SAs' routes (route.go) can use it as their source: pickSource finds it
// among the host's addresses because the engine narrows our selectors to
// it and calls AddVIP before it installs those Child SAs.

// addrSys puts addresses on the TUN; the Linux routeSys implements it.
type addrSys interface {
	// addAddr adds a/32 (IPv6: a/128, without duplicate address
	// detection) to the TUN; exists reports an address the TUN had
	// already (it is used, and left there on removal).
	addAddr(a netip.Addr) (exists bool, err error)
	delAddr(a netip.Addr) error
}

// vip is one virtual IP on the TUN: the IKE SAs that use it (an IKE SA
// rekey adds the address again before the old SA removes it), and
// whether we added it.
type vip struct {
	refs int
	ours bool
}

// AddVIP puts a virtual IP assigned by the peer on the TUN (ike.VIPInstaller).
// Calls are counted per address; only the first adds it. Without a TUN
// of its own (NoTUN, Config.TUN) the data plane configures nothing on the
// host and only counts.
func (d *Dataplane) AddVIP(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.Zone() != "" {
		return fmt.Errorf("dataplane: virtual IP %s: need a unicast address", a)
	}
	d.installMu.Lock()
	defer d.installMu.Unlock()
	if d.closing.Load() {
		return errors.New("dataplane: closed")
	}
	if v := d.vips[a]; v != nil {
		v.refs++
		return nil
	}
	v := &vip{refs: 1}
	if sys := d.addrSys(); sys != nil {
		exists, err := sys.addAddr(a)
		if err != nil {
			return fmt.Errorf("dataplane: add virtual IP %s to %s: %w", a, d.tunName, err)
		}
		v.ours = !exists
		d.log.Info("virtual IP installed", "vip", a, "tun", d.tunName, "preexisting", exists)
	}
	if d.vips == nil {
		d.vips = map[netip.Addr]*vip{}
	}
	d.vips[a] = v
	return nil
}

// RemoveVIP drops one user of a virtual IP; the last one takes it off the
// TUN (if AddVIP put it there). The kernel drops the routes that use it
// as their source with it.
func (d *Dataplane) RemoveVIP(a netip.Addr) {
	a = a.Unmap()
	d.installMu.Lock()
	defer d.installMu.Unlock()
	v := d.vips[a]
	if v == nil {
		return
	}
	if v.refs--; v.refs > 0 {
		return
	}
	delete(d.vips, a)
	if sys := d.addrSys(); sys != nil && v.ours && !d.closing.Load() {
		if err := sys.delAddr(a); err != nil {
			d.log.Warn("remove virtual IP", "vip", a, "tun", d.tunName, "err", err)
			return
		}
		d.log.Info("virtual IP removed", "vip", a, "tun", d.tunName)
	}
}

// VIPs returns the virtual IPs on the TUN and their user counts.
func (d *Dataplane) VIPs() map[netip.Addr]int {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	out := make(map[netip.Addr]int, len(d.vips))
	for a, v := range d.vips {
		out[a] = v.refs
	}
	return out
}

// addrSys is the routes' system interface if it can add addresses; nil
// without a TUN of our own. installMu is held.
func (d *Dataplane) addrSys() addrSys {
	if d.routes == nil {
		return nil
	}
	sys, _ := d.routes.sys.(addrSys)
	return sys
}
