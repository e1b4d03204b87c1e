package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Interface names used by SiteToSite in both namespaces.
const (
	OuterIf = "outer" // veth end facing the other site
	InnerIf = "lan0"  // dummy (or ifb) interface standing in for the site's LAN
)

// SiteToSite is the standard two-site topology, two namespaces joined by a
// veth pair:
//
//	left ns:  veth "outer" 192.0.2.1/24, dummy "lan0" 10.1.0.1/24
//	right ns: veth "outer" 192.0.2.2/24, dummy "lan0" 10.2.0.1/24
//
// The outer addresses are the IKE/ESP endpoints; a tunnel protects
// LeftNet <-> RightNet, and traffic between LeftInner and RightInner only
// gets through if the tunnel works (neither site has a route to the other's
// LAN). Where the kernel lacks the dummy driver, lan0 is an ifb device.
type SiteToSite struct {
	Left, Right           *Namespace
	LeftOuter, RightOuter netip.Addr
	LeftInner, RightInner netip.Addr
	LeftNet, RightNet     netip.Prefix
	OuterNet              netip.Prefix // 192.0.2.0/24 (RFC 5737 TEST-NET-1)

	// The LANs' IPv6 addresses and prefixes (SiteOptions.IPv6Inner;
	// invalid otherwise): fd01::1 in fd01::/64 and fd02::1 in fd02::/64.
	LeftInner6, RightInner6 netip.Addr
	LeftNet6, RightNet6     netip.Prefix
}

// SiteOptions choose the address families of a SiteToSite; the zero value
// is the IPv4 lab of NewSiteToSite.
type SiteOptions struct {
	// IPv6Outer puts the IKE/ESP endpoints on 2001:db8::1/64 and
	// 2001:db8::2/64 (RFC 3849 documentation prefix) instead of
	// 192.0.2.0/24.
	IPv6Outer bool
	// IPv6Inner gives the LANs fd01::1/64 and fd02::1/64 (RFC 4193
	// unique local addresses) beside their IPv4 addresses.
	IPv6Inner bool
}

// NewSiteToSite creates the two namespaces (named prefix-left-<random> and
// prefix-right-<random>) and their interfaces. On error nothing is left
// behind.
func NewSiteToSite(prefix string) (*SiteToSite, error) {
	return NewSiteToSiteWith(prefix, SiteOptions{})
}

// NewSiteToSiteWith is NewSiteToSite with the address families of o.
// With IPv6, duplicate address detection is off in both namespaces (and
// every IPv6 address is added nodad) so that addresses are usable at once.
func NewSiteToSiteWith(prefix string, o SiteOptions) (_ *SiteToSite, err error) {
	s := &SiteToSite{
		LeftOuter:  netip.MustParseAddr("192.0.2.1"),
		RightOuter: netip.MustParseAddr("192.0.2.2"),
		LeftInner:  netip.MustParseAddr("10.1.0.1"),
		RightInner: netip.MustParseAddr("10.2.0.1"),
		LeftNet:    netip.MustParsePrefix("10.1.0.0/24"),
		RightNet:   netip.MustParsePrefix("10.2.0.0/24"),
		OuterNet:   netip.MustParsePrefix("192.0.2.0/24"),
	}
	if o.IPv6Outer {
		s.LeftOuter = netip.MustParseAddr("2001:db8::1")
		s.RightOuter = netip.MustParseAddr("2001:db8::2")
		s.OuterNet = netip.MustParsePrefix("2001:db8::/64")
	}
	if o.IPv6Inner {
		s.LeftInner6, s.RightInner6 = netip.MustParseAddr("fd01::1"), netip.MustParseAddr("fd02::1")
		s.LeftNet6, s.RightNet6 = netip.MustParsePrefix("fd01::/64"), netip.MustParsePrefix("fd02::/64")
	}
	if s.Left, err = NewNamespace(prefix + "-left"); err != nil {
		return nil, err
	}
	if s.Right, err = NewNamespace(prefix + "-right"); err != nil {
		return nil, errors.Join(err, s.Left.Close())
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	ctx := context.Background()
	// Create the pair inside left with its peer moved straight into right,
	// so no interface name ever exists in the caller's namespace.
	if err := ip(ctx, "-n", s.Left.Name, "link", "add", OuterIf, "type", "veth", "peer", "name", OuterIf, "netns", s.Right.Name); err != nil {
		return nil, err
	}
	bits := s.OuterNet.Bits()
	for _, side := range []struct {
		ns           *Namespace
		outer, inner netip.Addr
		lan          netip.Prefix
		inner6       netip.Addr
		lan6         netip.Prefix
	}{
		{s.Left, s.LeftOuter, s.LeftInner, s.LeftNet, s.LeftInner6, s.LeftNet6},
		{s.Right, s.RightOuter, s.RightInner, s.RightNet, s.RightInner6, s.RightNet6},
	} {
		n := side.ns.Name
		// DAD would hold IPv6 addresses tentative for a second or more
		// (RFC 4862 5.4); nothing else is on these links.
		for _, key := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
			if !o.IPv6Outer && !o.IPv6Inner {
				break
			}
			if _, err := side.ns.Run(ctx, "sysctl", "-qw", key); err != nil {
				return nil, fmt.Errorf("lab: site-to-site: %w", err)
			}
		}
		steps := [][]string{
			addrAdd(n, netip.PrefixFrom(side.outer, bits), OuterIf),
			{"-n", n, "link", "set", OuterIf, "up"},
			addrAdd(n, netip.PrefixFrom(side.inner, side.lan.Bits()), InnerIf),
			{"-n", n, "link", "set", InnerIf, "up"},
		}
		if side.inner6.IsValid() {
			steps = append(steps, addrAdd(n, netip.PrefixFrom(side.inner6, side.lan6.Bits()), InnerIf))
		}
		if err := addLANLink(ctx, n, InnerIf); err != nil {
			return nil, fmt.Errorf("lab: site-to-site: %w", err)
		}
		for _, args := range steps {
			if err := ip(ctx, args...); err != nil {
				return nil, fmt.Errorf("lab: site-to-site: %w", err)
			}
		}
	}
	return s, nil
}

// addrAdd returns the `ip` arguments that add p to dev in namespace n
// (IPv6 without duplicate address detection).
func addrAdd(n string, p netip.Prefix, dev string) []string {
	args := []string{"-n", n, "addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	return args
}

// addLANLink creates a dummy interface named name in namespace n. Kernels
// built without the dummy driver (like the one this was written on) get an
// ifb device instead, which behaves the same for this purpose: a link that is
// always up, holds addresses, and swallows whatever is sent to it.
func addLANLink(ctx context.Context, n, name string) error {
	err := ip(ctx, "-n", n, "link", "add", name, "type", "dummy")
	if err != nil && strings.Contains(err.Error(), "Unknown device type") {
		err = ip(ctx, "-n", n, "link", "add", name, "type", "ifb")
	}
	return err
}

// Close deletes both namespaces (and with them the veth pair) after stopping
// their processes. It is idempotent.
func (s *SiteToSite) Close() error {
	var errs []error
	if s.Right != nil {
		errs = append(errs, s.Right.Close())
	}
	if s.Left != nil {
		errs = append(errs, s.Left.Close())
	}
	return errors.Join(errs...)
}
