//go:build netns

package netns

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// The NAT tests run a client site behind an nftables masquerade router
// (lab.NATSites: source address rewritten to 192.0.2.1, source ports to
// random ones in 20000-29999) and a public server site. Every tunnel must
// float to 4500 (RFC 7296 2.23), encapsulate ESP (RFC 3948), answer the
// NAT's mapping rather than anything configured, and report the NAT as
// strongSwan does.

func natTopology(t *testing.T) *lab.NATSites {
	t.Helper()
	labtest.RequireRoot(t)
	labtest.RequireNFT(t)
	s, err := lab.NewNATSites("gn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// natPeer is one end of a NAT test: goipsec or charon, driven through
// swanctl either way (goipsec answers VICI like charon).
type natPeer struct {
	name   string
	swan   func(ctx context.Context, args ...string) (string, error)
	d      *daemon     // goipsec only
	charon *lab.Charon // strongSwan only
}

func goipsecPeer(t *testing.T, ns *lab.Namespace, name, conf string, args ...string) *natPeer {
	d := startDaemon(t, ns, name, conf, args...)
	sw := newSwanctl(t, d)
	return &natPeer{name: "goipsec " + name, d: d, swan: func(ctx context.Context, args ...string) (string, error) {
		out, ok := sw.run(ctx, args...)
		if !ok {
			return out, fmt.Errorf("swanctl %s failed", strings.Join(args, " "))
		}
		return out, nil
	}}
}

func charonPeer(t *testing.T, ns *lab.Namespace, name, conf, charonConf string) *natPeer {
	c := startCharonWith(t, ns, conf, charonConf)
	return &natPeer{name: "strongSwan " + name, charon: c, swan: c.Swanctl}
}

// ikeSA is what `swanctl --list-sas --raw` says about the (only) IKE SA:
// its top-level keys, without the Child SAs.
func (p *natPeer) ikeSA(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	out, err := p.swan(ctx, "--list-sas", "--raw")
	if err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, out)
	}
	if n := strings.Count(out, "list-sa event"); n != 1 {
		t.Fatalf("%s: %d IKE SAs, want 1:\n%s", p.name, n, out)
	}
	// Cut off the Child SAs, whose keys would shadow the IKE SA's.
	if i := strings.Index(out, "child-sas {"); i >= 0 {
		out = out[:i]
	}
	kv := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-z-]+)=([^ {}]+)`).FindAllStringSubmatch(out, -1) {
		kv[m[1]] = m[2]
	}
	if kv["state"] != "ESTABLISHED" {
		t.Fatalf("%s: IKE SA not established:\n%s", p.name, out)
	}
	return kv
}

// checkNATFlags compares the nat-* keys with strongSwan's conditions
// (vici_query.c, ike_natd.c): nat-local, nat-remote and nat-fake when
// COND_NAT_HERE/THERE/FAKE are set, nat-any with any of them. The server
// sees nat-remote (the client is behind the NAT); the client sees
// nat-local, and nat-remote only when the server fakes its
// NAT_DETECTION_SOURCE_IP: strongSwan does, as kernel-libipsec needs UDP
// encapsulation; goipsec only with encap = yes (default no).
func checkNATFlags(t *testing.T, p, peer *natPeer, sa map[string]string, behindNAT bool) {
	t.Helper()
	want := map[string]string{"nat-local": "", "nat-remote": "yes", "nat-fake": "", "nat-any": "yes"}
	if behindNAT {
		want["nat-local"] = "yes"
		if peer.d != nil { // a goipsec server with encap = no
			want["nat-remote"] = ""
		}
	}
	for k, v := range want {
		if sa[k] != v {
			t.Errorf("%s (behind the NAT: %v): %s=%q, want %q (all: %v)", p.name, behindNAT, k, sa[k], v, sa)
		}
	}
}

// checkNATAddrs: the client talks from and to port 4500 of the server's
// address; the server sees the router's address and a mapped port.
func checkNATAddrs(t *testing.T, s *lab.NATSites, client, server *natPeer, c, sv map[string]string) {
	t.Helper()
	if c["local-port"] != "4500" || c["remote-port"] != "4500" || c["remote-host"] != s.RightOuter.String() {
		t.Errorf("%s did not float to 4500: %v", client.name, c)
	}
	port, _ := strconv.Atoi(sv["remote-port"])
	if sv["remote-host"] != s.RouterPublic.String() || port < 20000 || port > 39999 {
		t.Errorf("%s: peer at %s[%s], want the NAT's %v and a mapped port", server.name, sv["remote-host"], sv["remote-port"], s.RouterPublic)
	}
	if sv["local-port"] != "4500" {
		t.Errorf("%s: local port %s, want 4500", server.name, sv["local-port"])
	}
}

// spis returns the IKE SA's uniqueid and its first Child SA's inbound SPI
// from `swanctl --list-sas --raw`.
func spis(ctx context.Context, t *testing.T, p *natPeer) (ike, child string) {
	t.Helper()
	out, err := p.swan(ctx, "--list-sas", "--raw")
	if err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, out)
	}
	if m := regexp.MustCompile(`uniqueid=(\d+)`).FindStringSubmatch(out); m != nil {
		ike = m[1]
	}
	if m := regexp.MustCompile(`spi-in=([0-9a-f]+)`).FindStringSubmatch(out); m != nil {
		child = m[1]
	}
	return ike, child
}

func natConfs(s *lab.NATSites, extraClient string) (client, server siteConf) {
	client, server = confs(&s.SiteToSite, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	// The server knows the client only as the NAT's public address; the
	// port is whatever the NAT picked.
	server.remote = s.RouterPublic.String()
	// encap = yes on the client (what strongSwan on kernel-libipsec does
	// anyway): NAT detection is still honest about the real NAT
	// (nat-local on the client); the server keeps the default, no.
	client.extraConn = "encap = yes"
	if extraClient != "" {
		client.extraConn += "\n        " + extraClient
	}
	return client, server
}

// TestNAT: goipsec and strongSwan behind a real NAT (nftables masquerade
// with random ports), in each pairing: the tunnel comes up through the
// NAT, both sides report the NAT flags as strongSwan does, traffic passes
// both ways intact, and a Child SA rekey (by the client) and an IKE SA
// rekey (by the server, through the NAT's mapping) succeed, with traffic
// after each.
func TestNAT(t *testing.T) {
	for _, tc := range []struct{ name, client, server string }{
		{"goipsec-to-goipsec", "goipsec", "goipsec"},
		{"goipsec-to-strongswan", "goipsec", "strongswan"},
		{"strongswan-to-goipsec", "strongswan", "goipsec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := natTopology(t)
			cc, sc := natConfs(s, "")
			var client, server *natPeer
			if tc.server == "goipsec" {
				server = goipsecPeer(t, s.Right, "server", sc.String())
			} else {
				server = charonPeer(t, s.Right, "server", sc.String(), "")
			}
			if tc.client == "goipsec" {
				client = goipsecPeer(t, s.Left, "client", cc.String())
			} else {
				client = charonPeer(t, s.Left, "client", cc.String(), "")
			}
			ctx := ctxFor(t, 150*time.Second)
			if out, err := client.swan(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("%s: initiate: %v\n%s", client.name, err, out)
			}
			c, sv := client.ikeSA(ctx, t), server.ikeSA(ctx, t)
			checkNATFlags(t, client, server, c, true)
			checkNATFlags(t, server, client, sv, false)
			checkNATAddrs(t, s, client, server, c, sv)
			checkTraffic(ctx, t, &s.SiteToSite)

			_, child0 := spis(ctx, t, client)
			if out, err := client.swan(ctx, "--rekey", "--child", "net"); err != nil {
				t.Fatalf("%s: --rekey --child: %v\n%s", client.name, err, out)
			}
			waitUntil(t, "the Child SA rekeyed on both sides", 15*time.Second, func() bool {
				_, a := spis(ctx, t, client)
				out, _ := server.swan(ctx, "--list-sas", "--raw")
				return a != child0 && strings.Count(out, "spi-in=") == 1 && strings.Count(out, "INSTALLED") == 1
			})
			pingBoth(ctx, t, s)

			ike0, _ := spis(ctx, t, server)
			if out, err := server.swan(ctx, "--rekey", "--ike", "site"); err != nil {
				t.Fatalf("%s: --rekey --ike: %v\n%s", server.name, err, out)
			}
			waitUntil(t, "the IKE SA rekeyed by the server", 15*time.Second, func() bool {
				a, _ := spis(ctx, t, server)
				out, _ := client.swan(ctx, "--list-sas", "--raw")
				return a != ike0 && strings.Count(out, "list-sa event") == 1
			})
			c, sv = client.ikeSA(ctx, t), server.ikeSA(ctx, t)
			checkNATFlags(t, client, server, c, true)
			checkNATFlags(t, server, client, sv, false)
			checkNATAddrs(t, s, client, server, c, sv)
			pingBoth(ctx, t, s)
		})
	}
}

func pingBoth(ctx context.Context, t *testing.T, s *lab.NATSites) {
	t.Helper()
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
		t.Fatalf("ping client -> server: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
		t.Fatalf("ping server -> client: %v\n%s", err, out)
	}
}

// counter reads one of goipsec's VICI stats counters (goipsec-drops).
func counter(ctx context.Context, t *testing.T, d *daemon, name string) int {
	t.Helper()
	v, _ := dropsOf(ctx, t, d)[name].(string)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("stats counter %s = %q", name, v)
	}
	return n
}

// captureKeepalives waits until tcpdump in ns has seen n NAT-keepalives
// (RFC 3948 2.3: a UDP datagram of one octet 0xFF) matching filter.
func captureKeepalives(ctx context.Context, t *testing.T, ns *lab.Namespace, filter string, n int) {
	t.Helper()
	f := "udp and udp[4:2] = 9 and udp[8] = 0xff and " + filter
	out, err := ns.Run(ctx, "timeout", "20", "tcpdump", "-n", "-p", "-i", lab.OuterIf, "-c", strconv.Itoa(n), f)
	if err != nil {
		t.Fatalf("capturing %d NAT-keepalives (%s) in %s: %v\n%s", n, f, ns.Name, err, out)
	}
	t.Logf("tcpdump in %s:\n%s", ns.Name, out)
}

// TestNATKeepalive: the side behind the NAT sends NAT-keepalives (RFC
// 3948 4) to the server's port 4500 after the keep-alive interval without
// traffic; the server, not behind a NAT, sends none; and the keepalives
// reach strongSwan, and strongSwan's reach goipsec, without upsetting the
// tunnel. goipsec's interval is --keep-alive, strongSwan's
// charon.keep_alive; both 1 s here.
func TestNATKeepalive(t *testing.T) {
	for _, tc := range []struct{ name, client, server string }{
		{"goipsec-to-goipsec", "goipsec", "goipsec"},
		{"goipsec-to-strongswan", "goipsec", "strongswan"},
		{"strongswan-to-goipsec", "strongswan", "goipsec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := natTopology(t)
			cc, sc := natConfs(s, "")
			var client, server *natPeer
			if tc.server == "goipsec" {
				server = goipsecPeer(t, s.Right, "server", sc.String(), "--keep-alive", "1s")
			} else {
				server = charonPeer(t, s.Right, "server", sc.String(), "keep_alive = 1s")
			}
			if tc.client == "goipsec" {
				client = goipsecPeer(t, s.Left, "client", cc.String(), "--keep-alive", "1s")
			} else {
				client = charonPeer(t, s.Left, "client", cc.String(), "keep_alive = 1s")
			}
			ctx := ctxFor(t, 90*time.Second)
			if out, err := client.swan(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("%s: initiate: %v\n%s", client.name, err, out)
			}
			// From the client's port 4500 to the server's, mapped by the NAT
			// on the way: seen leaving the client and arriving at the server.
			captureKeepalives(ctx, t, s.Left, "src port 4500 and dst port 4500 and src host "+s.LeftOuter.String(), 2)
			captureKeepalives(ctx, t, s.Right, "dst port 4500 and dst host "+s.RightOuter.String(), 2)
			if server.d != nil {
				if n := counter(ctx, t, server.d, "esp-keepalive"); n < 2 {
					t.Errorf("goipsec server counted %d NAT-keepalives received, want >= 2", n)
				}
				if n := counter(ctx, t, server.d, "esp-keepalive_sent"); n != 0 {
					t.Errorf("goipsec server, not behind a NAT, sent %d NAT-keepalives", n)
				}
			}
			if client.d != nil {
				if n := counter(ctx, t, client.d, "esp-keepalive_sent"); n < 2 {
					t.Errorf("goipsec client counted %d NAT-keepalives sent, want >= 2", n)
				}
			}
			checkNATFlags(t, server, client, server.ikeSA(ctx, t), false)
			checkNATFlags(t, client, server, client.ikeSA(ctx, t), true)
			pingBoth(ctx, t, s)
		})
	}
}

// TestNATMappingChange: the NAT forgets its mappings (conntrack flushed)
// and hands out ports from another range, as a rebooted NAT would.
// goipsec, the server and not behind a NAT, must move its IKE SA and its
// ESP to the client's new port after the first authenticated packet from
// it (RFC 7296 2.23), and traffic flows again both ways:
//   - dpd: nothing is sent through the tunnel; the client's DPD (dpd_delay
//     = 2s) is the first authenticated message, an IKE one;
//   - esp: no DPD anywhere; the client's ping is the first, an ESP packet.
//
// Unauthenticated packets from the new port (NAT-keepalives) move nothing.
func TestNATMappingChange(t *testing.T) {
	for _, clientKind := range []string{"goipsec", "strongswan"} {
		for _, trigger := range []string{"dpd", "esp"} {
			t.Run(clientKind+"-client/"+trigger, func(t *testing.T) {
				s := natTopology(t)
				extra := ""
				if trigger == "dpd" {
					extra = "dpd_delay = 2s"
				}
				cc, sc := natConfs(s, extra)
				server := goipsecPeer(t, s.Right, "server", sc.String())
				var client *natPeer
				if clientKind == "goipsec" {
					client = goipsecPeer(t, s.Left, "client", cc.String(), "--keep-alive", "1s")
				} else {
					client = charonPeer(t, s.Left, "client", cc.String(), "keep_alive = 1s")
				}
				ctx := ctxFor(t, 120*time.Second)
				if out, err := client.swan(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("%s: initiate: %v\n%s", client.name, err, out)
				}
				pingBoth(ctx, t, s)
				before := server.ikeSA(ctx, t)["remote-port"]
				if err := s.SetNATPorts(ctx, "30000-39999"); err != nil {
					t.Fatal(err)
				}
				if err := s.FlushNAT(); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				moved := func() bool {
					port, _ := strconv.Atoi(server.ikeSA(ctx, t)["remote-port"])
					return port >= 30000 && port <= 39999
				}
				if trigger == "dpd" {
					waitUntil(t, "the server following the client's DPD", 20*time.Second, moved)
				} else {
					// Keepalives (every second) come through the new
					// mapping, but are not authenticated: no move yet.
					time.Sleep(2500 * time.Millisecond)
					if moved() {
						t.Fatalf("server moved to %s before any authenticated packet", server.ikeSA(ctx, t)["remote-port"])
					}
					waitUntil(t, "ping through the new mapping", 20*time.Second, func() bool {
						_, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 1)
						return err == nil
					})
					if !moved() {
						t.Fatalf("traffic resumed but the server's IKE SA still talks to port %s", server.ikeSA(ctx, t)["remote-port"])
					}
				}
				t.Logf("server followed %v after the NAT lost its mappings (port %s -> %s)", time.Since(start).Round(100*time.Millisecond),
					before, server.ikeSA(ctx, t)["remote-port"])
				sv := server.ikeSA(ctx, t)
				checkNATFlags(t, server, client, sv, false)
				checkNATFlags(t, client, server, client.ikeSA(ctx, t), true)
				checkTraffic(ctx, t, &s.SiteToSite)
				if log := readLog(t, server.d.log); !strings.Contains(log, "peer address changed") {
					t.Errorf("server log does not mention the move")
				}
			})
		}
	}
}
