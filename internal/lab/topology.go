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
}

// NewSiteToSite creates the two namespaces (named prefix-left-<random> and
// prefix-right-<random>) and their interfaces. On error nothing is left
// behind.
func NewSiteToSite(prefix string) (_ *SiteToSite, err error) {
	s := &SiteToSite{
		LeftOuter:  netip.MustParseAddr("192.0.2.1"),
		RightOuter: netip.MustParseAddr("192.0.2.2"),
		LeftInner:  netip.MustParseAddr("10.1.0.1"),
		RightInner: netip.MustParseAddr("10.2.0.1"),
		LeftNet:    netip.MustParsePrefix("10.1.0.0/24"),
		RightNet:   netip.MustParsePrefix("10.2.0.0/24"),
		OuterNet:   netip.MustParsePrefix("192.0.2.0/24"),
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
	}{
		{s.Left, s.LeftOuter, s.LeftInner, s.LeftNet},
		{s.Right, s.RightOuter, s.RightInner, s.RightNet},
	} {
		n := side.ns.Name
		steps := [][]string{
			{"-n", n, "addr", "add", netip.PrefixFrom(side.outer, bits).String(), "dev", OuterIf},
			{"-n", n, "link", "set", OuterIf, "up"},
			{"-n", n, "addr", "add", netip.PrefixFrom(side.inner, side.lan.Bits()).String(), "dev", InnerIf},
			{"-n", n, "link", "set", InnerIf, "up"},
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
