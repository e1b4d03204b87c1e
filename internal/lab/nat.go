package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Interface names of the NAT router.
const (
	NATInsideIf  = "inside"  // router's veth towards the client site
	NATOutsideIf = "outside" // router's veth towards the public server site
)

// NATPortRange is the source port range the router maps into by default:
// far from 500 and 4500, so that a peer that believed its own port survived
// the NAT would be caught.
const NATPortRange = "20000-29999"

// NATSites is SiteToSite with a NAT router between the sites:
//
//	client ns (Left):  "outer" 172.16.0.2/24, default via 172.16.0.1, "lan0" 10.1.0.1/24
//	router ns:         "inside" 172.16.0.1/24, "outside" 192.0.2.1/24, nftables masquerade
//	server ns (Right): "outer" 192.0.2.2/24, "lan0" 10.2.0.1/24
//
// The router rewrites the source address of everything the client sends
// towards the server to RouterPublic and its UDP source port to a random
// port in NATPortRange (nftables `masquerade to :PORTS random`), as real
// NATs do, so IKE from port 500 arrives from some other port and a peer
// must float to 4500 (RFC 7296 2.23, RFC 3948). The server has no route to
// the client's private network: replies reach the client only through the
// NAT's mappings. LeftOuter is the client's private address; the server
// sees RouterPublic.
type NATSites struct {
	SiteToSite
	Router       *Namespace
	RouterInside netip.Addr   // 172.16.0.1, the client's gateway
	RouterPublic netip.Addr   // 192.0.2.1, the address the server sees
	PrivateNet   netip.Prefix // the client site's outer network
}

// CheckNFT reports why the nftables tool cannot be used, or nil.
func CheckNFT() error {
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("lab: nftables `nft` not found (Debian: nftables): %w", err)
	}
	return nil
}

// NewNATSites creates the three namespaces (prefix-left-, prefix-nat-,
// prefix-right-<random>), their links and the router's masquerade rule.
// On error nothing is left behind.
func NewNATSites(prefix string) (_ *NATSites, err error) {
	if err := CheckNFT(); err != nil {
		return nil, err
	}
	s := &NATSites{
		SiteToSite: SiteToSite{
			LeftOuter:  netip.MustParseAddr("172.16.0.2"),
			RightOuter: netip.MustParseAddr("192.0.2.2"),
			LeftInner:  netip.MustParseAddr("10.1.0.1"),
			RightInner: netip.MustParseAddr("10.2.0.1"),
			LeftNet:    netip.MustParsePrefix("10.1.0.0/24"),
			RightNet:   netip.MustParsePrefix("10.2.0.0/24"),
			OuterNet:   netip.MustParsePrefix("192.0.2.0/24"),
		},
		RouterInside: netip.MustParseAddr("172.16.0.1"),
		RouterPublic: netip.MustParseAddr("192.0.2.1"),
		PrivateNet:   netip.MustParsePrefix("172.16.0.0/24"),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	for _, x := range []struct {
		p    **Namespace
		name string
	}{{&s.Left, "-left"}, {&s.Router, "-nat"}, {&s.Right, "-right"}} {
		if *x.p, err = NewNamespace(prefix + x.name); err != nil {
			return nil, err
		}
	}
	ctx := context.Background()
	l, r, n := s.Left.Name, s.Right.Name, s.Router.Name
	steps := [][]string{
		{"-n", l, "link", "add", OuterIf, "type", "veth", "peer", "name", NATInsideIf, "netns", n},
		{"-n", r, "link", "add", OuterIf, "type", "veth", "peer", "name", NATOutsideIf, "netns", n},
		{"-n", l, "addr", "add", netip.PrefixFrom(s.LeftOuter, 24).String(), "dev", OuterIf},
		{"-n", l, "link", "set", OuterIf, "up"},
		{"-n", l, "route", "add", "default", "via", s.RouterInside.String()},
		{"-n", n, "addr", "add", netip.PrefixFrom(s.RouterInside, 24).String(), "dev", NATInsideIf},
		{"-n", n, "addr", "add", netip.PrefixFrom(s.RouterPublic, 24).String(), "dev", NATOutsideIf},
		{"-n", n, "link", "set", NATInsideIf, "up"},
		{"-n", n, "link", "set", NATOutsideIf, "up"},
		{"-n", r, "addr", "add", netip.PrefixFrom(s.RightOuter, 24).String(), "dev", OuterIf},
		{"-n", r, "link", "set", OuterIf, "up"},
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return nil, fmt.Errorf("lab: NAT sites: %w", err)
		}
	}
	for _, side := range []struct {
		ns    *Namespace
		inner netip.Addr
		lan   netip.Prefix
	}{{s.Left, s.LeftInner, s.LeftNet}, {s.Right, s.RightInner, s.RightNet}} {
		if err := addLANLink(ctx, side.ns.Name, InnerIf); err != nil {
			return nil, fmt.Errorf("lab: NAT sites: %w", err)
		}
		for _, args := range [][]string{
			{"-n", side.ns.Name, "addr", "add", netip.PrefixFrom(side.inner, side.lan.Bits()).String(), "dev", InnerIf},
			{"-n", side.ns.Name, "link", "set", InnerIf, "up"},
		} {
			if err := ip(ctx, args...); err != nil {
				return nil, fmt.Errorf("lab: NAT sites: %w", err)
			}
		}
	}
	if _, err := s.Router.Run(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	if err := s.SetNATPorts(ctx, NATPortRange); err != nil {
		return nil, err
	}
	return s, nil
}

// SetNATPorts replaces the router's ruleset with a masquerade of the
// client's traffic to RouterPublic and source ports in ports ("lo-hi"),
// chosen at random for each new mapping. Existing mappings live on in
// conntrack until FlushNAT.
func (s *NATSites) SetNATPorts(ctx context.Context, ports string) error {
	rules := fmt.Sprintf(`flush ruleset
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %s oifname %q meta l4proto { tcp, udp } masquerade to :%s random
		ip saddr %s oifname %q masquerade
	}
}
`, s.PrivateNet, NATOutsideIf, ports, s.PrivateNet, NATOutsideIf)
	cmd := s.Router.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if _, err := runOutput(cmd, s.Router.Name+": nft -f"); err != nil {
		return err
	}
	return nil
}

// FlushNAT deletes every connection tracking entry in the router, so the
// client's next packets get new mappings (a new source port, as when a NAT
// reboots or times a mapping out; RFC 7296 2.23).
func (s *NATSites) FlushNAT() error {
	h, err := netns.GetFromName(s.Router.Name)
	if err != nil {
		return fmt.Errorf("lab: open netns %s: %w", s.Router.Name, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("lab: netlink in %s: %w", s.Router.Name, err)
	}
	defer nl.Close()
	if err := nl.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("lab: flush conntrack in %s: %w", s.Router.Name, err)
	}
	return nil
}

// Close deletes the three namespaces after stopping their processes. It is
// idempotent.
func (s *NATSites) Close() error {
	errs := []error{s.SiteToSite.Close()}
	if s.Router != nil {
		errs = append(errs, s.Router.Close())
	}
	return errors.Join(errs...)
}
