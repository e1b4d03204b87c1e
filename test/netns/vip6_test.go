//go:build netns

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// IPv6 and dual-stack virtual IPs (RFC 7296 2.19, 3.15.1): the client
// asks for vips = :: (or 0.0.0.0, ::), the gateway leases from pool p6
// (addrs = fd00:10::/120: fd00:10::1 first, as in charon) and p4, with
// INTERNAL_IP6_ADDRESS and INTERNAL_IP6_DNS; the client puts each address
// on its TUN and reaches the gateway's LAN of that family from it, over
// an IPv4 (6-in-4) or IPv6 (6-in-6) outer path.

// vip6Case is one combination of outer family and requested vips.
type vip6Case struct {
	name string
	opts lab.SiteOptions
	vips string   // the client's vips
	want []string // the addresses the gateway leases first
	// pools the gateway's connection names.
	pools string
	// remoteTS is the client's remote_ts (the gateway's local_ts).
	remoteTS func(s *lab.SiteToSite) string
}

var vip6Cases = []vip6Case{
	{
		name: "6-in-4", opts: lab.SiteOptions{IPv6Inner: true},
		vips: "::", want: []string{"fd00:10::1"}, pools: "p6",
		remoteTS: func(s *lab.SiteToSite) string { return s.RightNet6.String() },
	},
	{
		name: "6-in-6", opts: lab.SiteOptions{IPv6Outer: true, IPv6Inner: true},
		vips: "::", want: []string{"fd00:10::1"}, pools: "p6",
		remoteTS: func(s *lab.SiteToSite) string { return s.RightNet6.String() },
	},
	{
		name: "dual-stack-in-4", opts: lab.SiteOptions{IPv6Inner: true},
		vips: "0.0.0.0, ::", want: []string{"10.3.0.1", "fd00:10::1"}, pools: "p4, p6",
		remoteTS: func(s *lab.SiteToSite) string { return s.RightNet.String() + ", " + s.RightNet6.String() },
	},
	{
		name: "dual-stack-in-6", opts: lab.SiteOptions{IPv6Outer: true, IPv6Inner: true},
		vips: "0.0.0.0, ::", want: []string{"10.3.0.1", "fd00:10::1"}, pools: "p4, p6",
		remoteTS: func(s *lab.SiteToSite) string { return s.RightNet.String() + ", " + s.RightNet6.String() },
	},
}

// rw6ClientConf is the client's config: connection rw asks for vips.
func rw6ClientConf(s *lab.SiteToSite, c vip6Case) string {
	return fmt.Sprintf(`connections {
    rw {
        version = 2
        local_addrs = %s
        remote_addrs = %s
        proposals = aes256gcm16-prfsha256-x25519
        vips = %s
        local {
            auth = psk
            id = client.goipsec.test
        }
        remote {
            auth = psk
            id = gw.goipsec.test
        }
        children {
            net {
                local_ts = dynamic
                remote_ts = %s
                esp_proposals = aes256gcm16
            }
        }
    }
}
secrets {
    ike-rw {
        secret = %q
    }
}
`, s.LeftOuter, s.RightOuter, c.vips, c.remoteTS(s), vipPSK)
}

// rw6GatewayConf is the gateway's config: any client identity, leases
// from the case's pools of p4 (10.3.0.0/24, dns 10.2.0.53) and p6
// (fd00:10::/120, dns fd02::53).
func rw6GatewayConf(s *lab.SiteToSite, c vip6Case) string {
	return fmt.Sprintf(`connections {
    rw {
        version = 2
        local_addrs = %s
        proposals = aes256gcm16-prfsha256-x25519
        pools = %s
        local {
            auth = psk
            id = gw.goipsec.test
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = %s
                remote_ts = dynamic
                esp_proposals = aes256gcm16
            }
        }
    }
}
pools {
    p4 {
        addrs = 10.3.0.0/24
        dns = 10.2.0.53
    }
    p6 {
        addrs = fd00:10::/120
        dns = fd02::53
    }
}
secrets {
    ike-rw {
        secret = %q
    }
}
`, s.RightOuter, c.pools, c.remoteTS(s), vipPSK)
}

// innerFor is the gateway's LAN address of a's family.
func innerFor(s *lab.SiteToSite, a netip.Addr) netip.Addr {
	if a.Is6() {
		return s.RightInner6
	}
	return s.RightInner
}

// onTUNAny reports whether a is on ns's TUN as a host address (/32 or
// /128) and usable (not tentative: the address went on with nodad).
func onTUNAny(ctx context.Context, ns *lab.Namespace, a netip.Addr) bool {
	out, err := ns.Run(ctx, "ip", "-o", "addr", "show", "dev", "goipsec0")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, " "+netip.PrefixFrom(a, a.BitLen()).String()+" ") {
			return !strings.Contains(line, "tentative")
		}
	}
	return false
}

// addrStrings formats addresses for comparison with a case's want.
func addrStrings(list []netip.Addr) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	slices.Sort(out)
	return out
}

// checkClientVIPs checks that goipsec client d's connection rw got the
// case's addresses and put them on its TUN, and returns them.
func checkClientVIPs(ctx context.Context, t *testing.T, d *daemon, ns *lab.Namespace, want []string) []netip.Addr {
	t.Helper()
	sa := saOf(d.sas(ctx), "rw")
	if sa == nil || sa["state"] != "ESTABLISHED" {
		t.Fatalf("client rw not established: %v", d.sas(ctx))
	}
	vips := vipsOf(t, sa, "local-vips")
	if got := addrStrings(vips); !slices.Equal(got, want) {
		t.Fatalf("client local-vips %v, want %v", got, want)
	}
	for _, a := range vips {
		if !onTUNAny(ctx, ns, a) {
			out, _ := ns.Run(ctx, "ip", "-o", "addr", "show", "dev", "goipsec0")
			t.Fatalf("virtual IP %v not (usable) on the client's TUN:\n%s", a, out)
		}
	}
	return vips
}

// pingFrom pings the gateway's LAN of each virtual IP's family from it,
// and without a source address (the route's source must be the VIP).
func pingFrom(ctx context.Context, t *testing.T, s *lab.SiteToSite, vips []netip.Addr) {
	t.Helper()
	for _, a := range vips {
		dst := innerFor(s, a)
		if out, err := lab.Ping(ctx, s.Left, a, dst, 3); err != nil {
			t.Fatalf("ping %v -> %v: %v\n%s", a, dst, err, out)
		}
		if out, err := lab.Ping(ctx, s.Left, netip.Addr{}, dst, 2); err != nil {
			t.Fatalf("ping %v without a source address: %v\n%s", dst, err, out)
		}
		if out, err := lab.Ping(ctx, s.Right, dst, a, 2); err != nil {
			t.Fatalf("ping %v -> %v (gateway to client): %v\n%s", dst, a, err, out)
		}
	}
}

// checkSwanctlVIPs checks that swanctl --list-sas shows the virtual IPs
// (charon lists them in brackets after the client's address) and the
// Child SA's selector of each as a host address.
func checkSwanctlVIPs(t *testing.T, sw string, want []string) {
	t.Helper()
	if !strings.Contains(sw, "["+strings.Join(want, " ")+"]") {
		t.Fatalf("strongSwan does not show the virtual IPs %v:\n%s", want, sw)
	}
	for _, w := range want {
		a := netip.MustParseAddr(w)
		if !strings.Contains(sw, netip.PrefixFrom(a, a.BitLen()).String()) {
			t.Fatalf("strongSwan shows no selector %v/%d:\n%s", a, a.BitLen(), sw)
		}
	}
}

// TestVIP6ClientToStrongSwan: goipsec asks a strongSwan gateway with an
// IPv6 pool for vips = :: (and 0.0.0.0, :: against pools = p4, p6), over
// IPv4 and IPv6 outer paths: the leases go on the TUN (nodad, at once
// usable), ping and ping6 cross the tunnel from them, strongSwan shows
// them, and down takes them off.
func TestVIP6ClientToStrongSwan(t *testing.T) {
	for _, c := range vip6Cases {
		t.Run(c.name, func(t *testing.T) {
			s := topology6(t, c.opts)
			charon := startCharon(t, s.Right, rw6GatewayConf(s, c))
			client := startDaemon(t, s.Left, "client", rw6ClientConf(s, c))
			ctx := ctxFor(t, 90*time.Second)
			if out, err := client.cli(ctx, "up", "rw"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			vips := checkClientVIPs(ctx, t, client, s.Left, c.want)
			out, _ := s.Left.Run(ctx, "ip", "-6", "route", "show", "dev", "goipsec0")
			if !strings.Contains(string(out), "fd02::/64") || !strings.Contains(string(out), "src fd00:10::1") {
				t.Errorf("no IPv6 route from the virtual IP on the client:\n%s", out)
			}
			pingFrom(ctx, t, s, vips)
			sw, err := charon.Swanctl(ctx, "--list-sas")
			if err != nil {
				t.Fatal(err)
			}
			checkSwanctlVIPs(t, sw, c.want)
			t.Logf("strongSwan --list-sas:\n%s", sw)
			if out, err := client.cli(ctx, "down", "rw"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
			waitUntil(t, "virtual IPs removed from the TUN", 5*time.Second, func() bool {
				return !slices.ContainsFunc(vips, func(a netip.Addr) bool { return onTUNAny(ctx, s.Left, a) })
			})
		})
	}
}

// TestVIP6StrongSwanToGateway: strongSwan as the client gets fd00:10::1
// (and 10.3.0.1) from goipsec's pools with the name servers of both
// families (CPRP with ADDR6 and DNS6 in charon's log), and traffic flows
// from the lease to goipsec's LAN and back; goipsec reports the leases as
// remote-vips and in get-pools.
func TestVIP6StrongSwanToGateway(t *testing.T) {
	for _, c := range vip6Cases {
		t.Run(c.name, func(t *testing.T) {
			s := topology6(t, c.opts)
			gw := startDaemon(t, s.Right, "gw", rw6GatewayConf(s, c))
			charon := startCharon(t, s.Left, rw6ClientConf(s, c))
			ctx := ctxFor(t, 90*time.Second)
			if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			sa := saOf(gw.sas(ctx), "rw")
			if sa == nil {
				t.Fatalf("no IKE SA on the gateway: %v", gw.sas(ctx))
			}
			rv := vipsOf(t, sa, "remote-vips")
			if got := addrStrings(rv); !slices.Equal(got, c.want) {
				t.Fatalf("gateway remote-vips %v, want %v", got, c.want)
			}
			sw, err := charon.Swanctl(ctx, "--list-sas")
			if err != nil {
				t.Fatal(err)
			}
			checkSwanctlVIPs(t, sw, c.want)
			t.Logf("strongSwan --list-sas:\n%s", sw)
			if log := charon.Log(); !strings.Contains(log, "ADDR6") || !strings.Contains(log, "DNS6") {
				t.Errorf("strongSwan's log shows no CFG_REPLY with ADDR6 and DNS6:\n%s", log)
			}
			pingFrom(ctx, t, s, rv)
			if out, err := gw.cli(ctx, "status"); err != nil || !strings.Contains(out, "["+strings.Join(c.want, " ")+"]") {
				t.Errorf("gateway status does not show the leases: %v\n%s", err, out)
			}
			sw6 := newSwanctl(t, gw)
			sw6.must(ctx, []string{"p6", "fd00:10::", "1 / 0 / 254", "fd00:10::1", "online", "'client.goipsec.test'"}, "--list-pools", "--leases")
		})
	}
}

// TestVIP6GoipsecToGoipsec: dual-stack goipsec to goipsec over IPv4:
// both leases on the client's TUN, ping6 and TCP over IPv6 from the VIP;
// a reload of the gateway keeps the SA and its leases, and after down and
// up the identity gets the same IPv6 address back.
func TestVIP6GoipsecToGoipsec(t *testing.T) {
	c := vip6Cases[2]
	s := topology6(t, c.opts)
	ctx := ctxFor(t, 120*time.Second)
	gw := startDaemon(t, s.Right, "gw", rw6GatewayConf(s, c))
	client := startDaemon(t, s.Left, "client", rw6ClientConf(s, c))
	up := func() []netip.Addr {
		t.Helper()
		if out, err := client.cli(ctx, "up", "rw"); err != nil {
			t.Fatalf("goipsec up: %v\n%s", err, out)
		}
		return checkClientVIPs(ctx, t, client, s.Left, c.want)
	}
	vips := up()
	pingFrom(ctx, t, s, vips)
	v6 := vips[slices.IndexFunc(vips, netip.Addr.Is6)]
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, v6, s.RightInner6, 4<<20)
	if err != nil || !res.Intact {
		t.Fatalf("TCP from the IPv6 virtual IP: %v %v", res, err)
	}
	t.Logf("TCP over IPv6 from %v: %v", v6, res)
	if out, err := gw.cli(ctx, "reload"); err != nil {
		t.Fatalf("goipsec reload: %v\n%s", err, out)
	}
	if rv := addrStrings(vipsOf(t, saOf(gw.sas(ctx), "rw"), "remote-vips")); !slices.Equal(rv, c.want) {
		t.Fatalf("after reload the gateway has remote-vips %v, want %v", rv, c.want)
	}
	pingFrom(ctx, t, s, vips)
	if out, err := client.cli(ctx, "down", "rw"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "gateway SAs gone", 5*time.Second, func() bool { return len(gw.sas(ctx)) == 0 })
	waitUntil(t, "virtual IPs removed from the TUN", 5*time.Second, func() bool {
		return !slices.ContainsFunc(vips, func(a netip.Addr) bool { return onTUNAny(ctx, s.Left, a) })
	})
	again := up()
	if !slices.Equal(addrStrings(again), addrStrings(vips)) {
		t.Fatalf("after down/up the client got %v, want its leases %v", again, vips)
	}
	pingFrom(ctx, t, s, again)
}

// TestVIP6Rekeys: strongSwan rekeys the IKE SA and the Child SA every few
// seconds, once as the IPv6 gateway of a goipsec client and once as the
// client of a goipsec gateway (6-in-4, vips = ::). The IPv6 virtual IP
// moves to each new IKE SA (it stays on the client's TUN; the gateway
// keeps the lease online), and TCP over IPv6 from it keeps flowing.
func TestVIP6Rekeys(t *testing.T) {
	const rekeys = "rekey_time = 4s\n        over_time = 60s\n        rand_time = 0s\n"
	const childRekeys = "esp_proposals = aes256gcm16\n                rekey_time = 3s\n                life_time = 60s\n                rand_time = 0s\n"
	c := vip6Cases[0]
	vip := netip.MustParseAddr("fd00:10::1")
	for _, gwIs := range []string{"strongswan", "goipsec"} {
		t.Run("gateway-"+gwIs, func(t *testing.T) {
			s := topology6(t, c.opts)
			ctx := ctxFor(t, 90*time.Second)
			gwConf, clConf := rw6GatewayConf(s, c), rw6ClientConf(s, c)
			var sas func() []map[string]any
			var after func()
			if gwIs == "strongswan" {
				gwConf = strings.Replace(strings.Replace(gwConf, "pools = p6\n", rekeys+"        pools = p6\n", 1), "esp_proposals = aes256gcm16\n", childRekeys, 1)
				startCharon(t, s.Right, gwConf)
				client := startDaemon(t, s.Left, "client", clConf)
				if out, err := client.cli(ctx, "up", "rw"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
				checkClientVIPs(ctx, t, client, s.Left, c.want)
				sas = func() []map[string]any { return client.sas(ctx) }
				after = func() { checkClientVIPs(ctx, t, client, s.Left, c.want) }
			} else {
				clConf = strings.Replace(strings.Replace(clConf, "vips = ::\n", "vips = ::\n        "+rekeys, 1), "esp_proposals = aes256gcm16\n", childRekeys, 1)
				gw := startDaemon(t, s.Right, "gw", gwConf)
				charon := startCharon(t, s.Left, clConf)
				if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
				sas = func() []map[string]any { return gw.sas(ctx) }
				after = func() {
					if rv := addrStrings(vipsOf(t, saOf(gw.sas(ctx), "rw"), "remote-vips")); !slices.Equal(rv, c.want) {
						t.Errorf("gateway remote-vips after rekeys %v, want %v", rv, c.want)
					}
				}
			}
			first := saOf(sas(), "rw")["uniqueid"]
			res, err := lab.TCPThroughput(ctxFor(t, 30*time.Second), s.Left, s.Right, vip, s.RightInner6, 10*time.Second)
			if err != nil || !res.Intact {
				t.Fatalf("TCP over IPv6 from the virtual IP across rekeys: %v %v", res, err)
			}
			t.Logf("TCP over IPv6 across rekeys: %v", res)
			waitUntil(t, "one IKE SA, rekeyed", 10*time.Second, func() bool {
				l := sas()
				return len(l) == 1 && saOf(l, "rw") != nil && saOf(l, "rw")["uniqueid"] != first
			})
			if out, err := lab.Ping(ctx, s.Left, vip, s.RightInner6, 2); err != nil {
				t.Fatalf("ping6 after rekeys: %v\n%s", err, out)
			}
			after()
		})
	}
}

// TestVIP6ListPoolsLikeCharon: swanctl --list-pools prints the same for
// goipsec as for charon given the same pools: IPv4, an IPv6 /120 and an
// IPv6 /64 that both limit to their first 2^31 addresses (base, and
// online / offline / size).
func TestVIP6ListPoolsLikeCharon(t *testing.T) {
	c := vip6Cases[2]
	s := topology6(t, c.opts)
	ctx := ctxFor(t, 60*time.Second)
	conf := strings.Replace(rw6GatewayConf(s, c), "pools {\n", "pools {\n    big {\n        addrs = fd00:20::/64\n        dns = fd02::53, 10.2.0.53\n    }\n", 1)
	charon := startCharon(t, s.Right, conf)
	gw := startDaemon(t, s.Left, "gw", strings.Replace(conf, "local_addrs = "+s.RightOuter.String(), "local_addrs = "+s.LeftOuter.String(), 1))
	lines := func(out string) []string {
		var l []string
		for _, x := range strings.Split(out, "\n") {
			if x = strings.TrimSpace(x); x != "" && !strings.HasPrefix(x, "plugin '") {
				l = append(l, x)
			}
		}
		slices.Sort(l)
		return l
	}
	want, err := charon.Swanctl(ctx, "--list-pools")
	if err != nil {
		t.Fatalf("charon --list-pools: %v\n%s", err, want)
	}
	got, ok := newSwanctl(t, gw).run(ctx, "--list-pools")
	if !ok || !slices.Equal(lines(got), lines(want)) {
		t.Fatalf("swanctl --list-pools against goipsec:\n%s\nagainst charon:\n%s", got, want)
	}
	if !strings.Contains(want, "2147483646") || !strings.Contains(want, "fd00:10::") {
		t.Fatalf("charon's pools are not what this test expects:\n%s", want)
	}
	if log := charon.Log(); !strings.Contains(log, "limiting to fd00:20::/97") {
		t.Errorf("charon did not limit the /64 to its first 2^31 addresses:\n%s", log)
	}
	t.Logf("swanctl --list-pools (goipsec and charon alike):\n%s", got)
}
