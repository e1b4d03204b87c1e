//go:build netns

package netns

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// topology6 is topology with the address families of o.
func topology6(t *testing.T, o lab.SiteOptions) *lab.SiteToSite {
	t.Helper()
	labtest.RequireRoot(t)
	s, err := lab.NewSiteToSiteWith("g6", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// familyCase is one combination of inner and outer families; inner lists
// the address pairs (left, right) whose traffic must cross the tunnel.
type familyCase struct {
	name      string
	opts      lab.SiteOptions
	leftTS    func(s *lab.SiteToSite) string
	rightTS   func(s *lab.SiteToSite) string
	pairs     func(s *lab.SiteToSite) [][2]netip.Addr
	routeWant []string // in `ip -6 route` on the left
}

var familyCases = []familyCase{
	{
		name:    "6-in-6",
		opts:    lab.SiteOptions{IPv6Outer: true, IPv6Inner: true},
		leftTS:  func(s *lab.SiteToSite) string { return s.LeftNet6.String() },
		rightTS: func(s *lab.SiteToSite) string { return s.RightNet6.String() },
		pairs: func(s *lab.SiteToSite) [][2]netip.Addr {
			return [][2]netip.Addr{{s.LeftInner6, s.RightInner6}}
		},
		// The route to the remote LAN leaves room for the IPv6 outer
		// header (1400 - 20).
		routeWant: []string{"fd02::/64 dev goipsec0", "mtu 1380"},
	},
	{
		name:    "4-in-6",
		opts:    lab.SiteOptions{IPv6Outer: true},
		leftTS:  func(s *lab.SiteToSite) string { return s.LeftNet.String() },
		rightTS: func(s *lab.SiteToSite) string { return s.RightNet.String() },
		pairs: func(s *lab.SiteToSite) [][2]netip.Addr {
			return [][2]netip.Addr{{s.LeftInner, s.RightInner}}
		},
	},
	{
		// One Child SA with selectors of both families.
		name:    "6-in-4-mixed",
		opts:    lab.SiteOptions{IPv6Inner: true},
		leftTS:  func(s *lab.SiteToSite) string { return s.LeftNet.String() + "," + s.LeftNet6.String() },
		rightTS: func(s *lab.SiteToSite) string { return s.RightNet.String() + "," + s.RightNet6.String() },
		pairs: func(s *lab.SiteToSite) [][2]netip.Addr {
			return [][2]netip.Addr{{s.LeftInner6, s.RightInner6}, {s.LeftInner, s.RightInner}}
		},
		routeWant: []string{"fd02::/64 dev goipsec0"},
	},
}

// familyConfs returns the site configs of c.
func familyConfs(s *lab.SiteToSite, c familyCase) (left, right siteConf) {
	left, right = confs(s, suites[0].ike, suites[0].esp)
	left.localNet, left.remoteNet = c.leftTS(s), c.rightTS(s)
	right.localNet, right.remoteNet = c.rightTS(s), c.leftTS(s)
	return left, right
}

// TestGoipsecIPv6 brings up goipsec-to-goipsec tunnels for 6-in-6, 4-in-6
// and 6-in-4 (with mixed selectors), each side initiating: ping both ways
// and 10 MB of TCP each way checked with SHA-256, for every inner family.
func TestGoipsecIPv6(t *testing.T) {
	for _, c := range familyCases {
		for _, initiator := range []string{"left", "right"} {
			t.Run(c.name+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology6(t, c.opts)
				lc, rc := familyConfs(s, c)
				left := startDaemon(t, s.Left, "left", lc.String())
				right := startDaemon(t, s.Right, "right", rc.String())
				init := left
				if initiator == "right" {
					init = right
				}
				ctx := ctxFor(t, 120*time.Second)
				if out, err := init.cli(ctx, "up", "site"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
				for _, d := range []*daemon{left, right} {
					if ch := childOf(t, d.sas(ctx)); ch["state"] != "INSTALLED" {
						t.Fatalf("child SA: %v", ch)
					}
				}
				checkOuter(ctx, t, left, s.RightOuter)
				checkOuter(ctx, t, right, s.LeftOuter)
				checkRoutes(ctx, t, s.Left, c.routeWant)
				for _, p := range c.pairs(s) {
					checkTrafficBetween(ctx, t, s, p[0], p[1])
				}
				if out, err := init.cli(ctx, "down", "site"); err != nil {
					t.Fatalf("goipsec down: %v\n%s", err, out)
				}
				waitUntil(t, "SAs deleted on both sides", 5*time.Second, func() bool {
					return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
				})
				p := c.pairs(s)[0]
				if _, err := lab.Ping(ctx, s.Left, p[0], p[1], 1); err == nil {
					t.Error("ping still passes after the tunnel was deleted")
				}
			})
		}
	}
}

// TestStrongSwanIPv6: goipsec (left) against strongSwan's kernel-libipsec
// (right) for 6-in-6, 4-in-6 and 6-in-4 with mixed selectors, each side
// initiating: ping and 10 MB of TCP each way for every inner family.
func TestStrongSwanIPv6(t *testing.T) {
	for _, c := range familyCases {
		for _, initiator := range []string{"goipsec", "strongswan"} {
			t.Run(c.name+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology6(t, c.opts)
				lc, rc := familyConfs(s, c)
				charon := startCharon(t, s.Right, rc.String())
				left := startDaemon(t, s.Left, "left", lc.String())
				ctx := ctxFor(t, 120*time.Second)
				if initiator == "goipsec" {
					if out, err := left.cli(ctx, "up", "site"); err != nil {
						t.Fatalf("goipsec up: %v\n%s", err, out)
					}
				} else {
					if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
						t.Fatalf("swanctl --initiate: %v\n%s", err, out)
					}
				}
				out, err := charon.Swanctl(ctx, "--list-sas")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED", s.LeftOuter.String(), strings.Split(c.rightTS(s), ",")[0]) {
					t.Fatalf("strongSwan --list-sas: %v\n%s", err, out)
				}
				t.Logf("strongSwan --list-sas:\n%s", out)
				checkOuter(ctx, t, left, s.RightOuter)
				for _, p := range c.pairs(s) {
					checkTrafficBetween(ctx, t, s, p[0], p[1])
				}
				if out, err := left.cli(ctx, "down", "site"); err != nil {
					t.Fatalf("goipsec down: %v\n%s", err, out)
				}
				waitUntil(t, "strongSwan's SAs deleted", 10*time.Second, func() bool {
					out, err := charon.Swanctl(ctx, "--list-sas")
					return err == nil && !strings.Contains(out, "ESTABLISHED") && !strings.Contains(out, "INSTALLED")
				})
			})
		}
	}
}

// checkOuter checks that d's IKE SA runs to peer (so over the outer
// family of the case).
func checkOuter(ctx context.Context, t *testing.T, d *daemon, peer netip.Addr) {
	t.Helper()
	for _, sa := range d.sas(ctx) {
		for _, v := range sa {
			ike, ok := v.(map[string]any)
			if ok && ike["remote-host"] == peer.String() {
				return
			}
		}
	}
	t.Fatalf("no IKE SA with remote-host %s: %v", peer, d.sas(ctx))
}

// checkRoutes checks that `ip -6 route` in ns shows every string of want
// on one line.
func checkRoutes(ctx context.Context, t *testing.T, ns *lab.Namespace, want []string) {
	t.Helper()
	if len(want) == 0 {
		return
	}
	out, err := ns.Run(ctx, "ip", "-6", "route")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if contains(line, want...) {
			return
		}
	}
	t.Fatalf("ip -6 route: no line with %q:\n%s", want, out)
}

// checkTrafficBetween is checkTraffic for the LAN addresses l (left) and
// r (right), of either family.
func checkTrafficBetween(ctx context.Context, t *testing.T, s *lab.SiteToSite, l, r netip.Addr) {
	t.Helper()
	if out, err := lab.Ping(ctx, s.Left, l, r, 3); err != nil {
		t.Fatalf("ping %s -> %s through the tunnel: %v\n%s", l, r, err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, r, l, 3); err != nil {
		t.Fatalf("ping %s -> %s through the tunnel: %v\n%s", r, l, err, out)
	}
	for _, dir := range []struct {
		from, to *lab.Namespace
		src, dst netip.Addr
	}{
		{s.Left, s.Right, l, r},
		{s.Right, s.Left, r, l},
	} {
		res, err := lab.TCPTransfer(ctx, dir.from, dir.to, dir.src, dir.dst, 10<<20)
		if err != nil {
			t.Fatalf("TCP %s -> %s: %v", dir.src, dir.dst, err)
		}
		if !res.Intact || res.Bytes != 10<<20 {
			t.Fatalf("TCP %s -> %s: %v", dir.src, dir.dst, res)
		}
		t.Logf("TCP %s -> %s: %v", dir.src, dir.dst, res)
	}
}

// TestGoipsecIPv6SourceAddress: with a second IPv6 address on the left
// whose routes prefer the first as source, goipsec still sends IKE and ESP
// from the configured (or asked) address: IPV6_PKTINFO on every message,
// IPV6_RECVPKTINFO to learn where requests came to. The right side drops
// everything from the left's first address, so any packet sent from the
// kernel's default source breaks the tunnel.
func TestGoipsecIPv6SourceAddress(t *testing.T) {
	for _, initiator := range []string{"left", "right"} {
		t.Run(initiator+"-initiates", func(t *testing.T) {
			c := familyCases[0] // 6-in-6
			s := topology6(t, c.opts)
			ctx := ctxFor(t, 120*time.Second)
			second := netip.MustParseAddr("2001:db8::11")
			for _, cmd := range [][]string{
				{"ip", "addr", "add", second.String() + "/64", "dev", lab.OuterIf, "nodad"},
				{"ip", "-6", "route", "replace", s.OuterNet.String(), "dev", lab.OuterIf, "proto", "kernel", "metric", "256", "src", s.LeftOuter.String()},
			} {
				if out, err := s.Left.Run(ctx, cmd...); err != nil {
					t.Fatalf("%v: %v\n%s", cmd, err, out)
				}
			}
			for _, rule := range []string{
				"add table ip6 g6",
				"add chain ip6 g6 in { type filter hook input priority 0 ; }",
				"add rule ip6 g6 in ip6 saddr " + s.LeftOuter.String() + " counter drop",
			} {
				if out, err := s.Right.Run(ctx, "nft", rule); err != nil {
					t.Fatalf("nft %s: %v\n%s", rule, err, out)
				}
			}
			lc, rc := familyConfs(s, c)
			rc.remote = second.String()
			if initiator == "left" {
				lc.local = second.String()
			} else {
				lc.local = "%any" // answers must leave from where the request came to
			}
			left := startDaemon(t, s.Left, "left", lc.String())
			right := startDaemon(t, s.Right, "right", rc.String())
			init := left
			if initiator == "right" {
				init = right
			}
			if out, err := init.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			checkOuter(ctx, t, right, second)
			checkTrafficBetween(ctx, t, s, s.LeftInner6, s.RightInner6)
		})
	}
}
