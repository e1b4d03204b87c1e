//go:build netns

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// Remote access with virtual IPs (RFC 7296 2.19, 3.15): the client (left)
// asks for vips = 0.0.0.0, the gateway (right) leases one from its pool
// (pools { rw { addrs = ... } }) and narrows the client's dynamic local_ts
// to it; the client puts the address on its TUN and reaches the gateway's
// LAN from it. Configs are swanctl.conf, usable by goipsec and strongSwan.

const vipPSK = "a remote access secret"

// rwClientConf is the client's config: one connection per identity in ids
// (named rw, rw2, ...), all asking for any virtual IP; "id=10.3.0.77"
// asks for that address instead.
func rwClientConf(s *lab.SiteToSite, ids ...string) string {
	var b strings.Builder
	b.WriteString("connections {\n")
	for i, id := range ids {
		name := "rw"
		if i > 0 {
			name = fmt.Sprintf("rw%d", i+1)
		}
		id, vip, ok := strings.Cut(id, "=")
		if !ok {
			vip = "0.0.0.0"
		}
		fmt.Fprintf(&b, `    %s {
        version = 2
        local_addrs = %s
        remote_addrs = %s
        proposals = aes256gcm16-prfsha256-x25519
        vips = %s
        local {
            auth = psk
            id = %s
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
`, name, s.LeftOuter, s.RightOuter, vip, id, s.RightNet)
	}
	fmt.Fprintf(&b, "}\nsecrets {\n    ike-rw {\n        secret = %q\n    }\n}\n", vipPSK)
	return b.String()
}

// rwGatewayConf is the gateway's config: any client identity, addresses
// from pool rw (addrs).
func rwGatewayConf(s *lab.SiteToSite, addrs string) string {
	return fmt.Sprintf(`connections {
    rw {
        version = 2
        local_addrs = %s
        proposals = aes256gcm16-prfsha256-x25519
        pools = rw
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
    rw {
        addrs = %s
    }
}
secrets {
    ike-rw {
        secret = %q
    }
}
`, s.RightOuter, s.RightNet, addrs, vipPSK)
}

// saOf returns connection conn's IKE SA from a list-sas tree, or nil.
func saOf(sas []map[string]any, conn string) map[string]any {
	for _, ev := range sas {
		if sa, ok := ev[conn].(map[string]any); ok {
			return sa
		}
	}
	return nil
}

// vipsOf returns the addresses in sa's list key (local-vips, remote-vips).
func vipsOf(t *testing.T, sa map[string]any, key string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	list, _ := sa[key].([]string)
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("%s: %q: %v", key, s, err)
		}
		out = append(out, a)
	}
	return out
}

// clientVIP checks that the client's connection conn got exactly one
// virtual IP inside pool and that it is on the client's TUN; it returns it.
func clientVIP(ctx context.Context, t *testing.T, d *daemon, conn string, inPool func(netip.Addr) bool) netip.Addr {
	t.Helper()
	sa := saOf(d.sas(ctx), conn)
	if sa == nil || sa["state"] != "ESTABLISHED" {
		t.Fatalf("client %s not established: %v", conn, d.sas(ctx))
	}
	vips := vipsOf(t, sa, "local-vips")
	if len(vips) != 1 || !inPool(vips[0]) {
		t.Fatalf("client %s local-vips %v, want one address of the pool", conn, vips)
	}
	if rv := vipsOf(t, sa, "remote-vips"); len(rv) != 0 {
		t.Errorf("client %s remote-vips %v, want none", conn, rv)
	}
	out, err := d.ns.Run(ctx, "ip", "-4", "-o", "addr", "show", "dev", "goipsec0")
	if err != nil || !strings.Contains(string(out), " "+vips[0].String()+"/32 ") {
		t.Fatalf("virtual IP %v not on the client's TUN: %v\n%s", vips[0], err, out)
	}
	return vips[0]
}

func onTUN(ctx context.Context, ns *lab.Namespace, a netip.Addr) bool {
	out, err := ns.Run(ctx, "ip", "-4", "-o", "addr", "show", "dev", "goipsec0")
	return err == nil && strings.Contains(string(out), " "+a.String()+"/32 ")
}

func in24(p string) func(netip.Addr) bool {
	pr := netip.MustParsePrefix(p)
	return func(a netip.Addr) bool { return pr.Contains(a) && a != pr.Addr() }
}

// TestVIPClientToStrongSwan (a): goipsec asks a strongSwan gateway for a
// virtual IP, gets one of its pool on the TUN, and pings the gateway's
// LAN from it; down takes the address off again.
func TestVIPClientToStrongSwan(t *testing.T) {
	s := topology(t)
	charon := startCharon(t, s.Right, rwGatewayConf(s, "10.3.0.0/24"))
	client := startDaemon(t, s.Left, "client", rwClientConf(s, "client.goipsec.test"))
	ctx := ctxFor(t, 90*time.Second)
	if out, err := client.cli(ctx, "up", "rw"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	vip := clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24"))
	if out, err := lab.Ping(ctx, s.Left, vip, s.RightInner, 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", vip, s.RightInner, err, out)
	}
	// Without -I the kernel takes the source from the route via the TUN,
	// which must be the virtual IP (the only source the SA carries).
	if out, err := lab.Ping(ctx, s.Left, netip.Addr{}, s.RightInner, 2); err != nil {
		t.Fatalf("ping %v without a source address: %v\n%s", s.RightInner, err, out)
	}
	out, err := charon.Swanctl(ctx, "--list-sas")
	if err != nil || !strings.Contains(out, "["+vip.String()+"]") {
		t.Fatalf("strongSwan does not show the lease %v: %v\n%s", vip, err, out)
	}
	if out, err := client.cli(ctx, "status"); err != nil || !strings.Contains(out, "["+vip.String()+"]") {
		t.Errorf("goipsec status does not show the virtual IP: %v\n%s", err, out)
	}
	if out, err := client.cli(ctx, "down", "rw"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "virtual IP removed from the TUN", 5*time.Second, func() bool { return !onTUN(ctx, s.Left, vip) })
}

// TestVIPStrongSwanToGateway (b): strongSwan as the client gets an address
// and the pool's name server from goipsec's pool (swanctl --list-sas
// shows the address) and pings goipsec's LAN from it; goipsec's list-sas
// reports the lease as remote-vips.
func TestVIPStrongSwanToGateway(t *testing.T) {
	s := topology(t)
	withDNS := strings.Replace(rwGatewayConf(s, "10.3.0.0/24"), "addrs = 10.3.0.0/24\n", "addrs = 10.3.0.0/24\n        dns = 10.2.0.53\n", 1)
	gw := startDaemon(t, s.Right, "gw", withDNS)
	charon := startCharon(t, s.Left, rwClientConf(s, "client.goipsec.test"))
	ctx := ctxFor(t, 90*time.Second)
	if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s", err, out)
	}
	sa := saOf(gw.sas(ctx), "rw")
	if sa == nil {
		t.Fatalf("no IKE SA on the gateway: %v", gw.sas(ctx))
	}
	rv := vipsOf(t, sa, "remote-vips")
	if len(rv) != 1 || rv[0] != netip.MustParseAddr("10.3.0.1") {
		t.Fatalf("gateway remote-vips %v, want [10.3.0.1] (the first address of 10.3.0.0/24)", rv)
	}
	out, err := charon.Swanctl(ctx, "--list-sas")
	if err != nil || !strings.Contains(out, "[10.3.0.1]") || !strings.Contains(out, "10.3.0.1/32") {
		t.Fatalf("strongSwan did not get 10.3.0.1: %v\n%s", err, out)
	}
	t.Logf("strongSwan --list-sas:\n%s", out)
	// The pool's name server went with the address (INTERNAL_IP4_DNS).
	if !strings.Contains(charon.Log(), "CPRP(ADDR DNS)") {
		t.Errorf("strongSwan's log shows no CFG_REPLY with ADDR and DNS:\n%s", charon.Log())
	}
	if out, err := lab.Ping(ctx, s.Left, rv[0], s.RightInner, 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", rv[0], s.RightInner, err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightInner, rv[0], 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", s.RightInner, rv[0], err, out)
	}
}

// TestVIPGoipsecToGoipsec (c, d, e): goipsec client and gateway. The
// client's address is on its TUN and traffic flows both ways, and a
// reload of the gateway keeps the SA and its lease; after down, another
// identity gets another address while the first one's lease stays
// reserved, a requested address is honoured, and the first identity gets
// its address back on up; a gateway with a pool of one address refuses a second client
// cleanly (INTERNAL_ADDRESS_FAILURE) and keeps serving the first.
func TestVIPGoipsecToGoipsec(t *testing.T) {
	s := topology(t)
	ctx := ctxFor(t, 120*time.Second)
	gw := startDaemon(t, s.Right, "gw", rwGatewayConf(s, "10.3.0.0/24"))
	client := startDaemon(t, s.Left, "client", rwClientConf(s, "a.goipsec.test", "b.goipsec.test", "c.goipsec.test=10.3.0.77"))
	up := func(conn string) {
		t.Helper()
		if out, err := client.cli(ctx, "up", conn); err != nil {
			t.Fatalf("goipsec up %s: %v\n%s", conn, err, out)
		}
	}
	down := func(conn string) {
		t.Helper()
		if out, err := client.cli(ctx, "down", conn); err != nil {
			t.Fatalf("goipsec down %s: %v\n%s", conn, err, out)
		}
		waitUntil(t, "gateway SAs gone", 5*time.Second, func() bool { return len(gw.sas(ctx)) == 0 })
	}

	up("rw")
	a := clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24"))
	if rv := vipsOf(t, saOf(gw.sas(ctx), "rw"), "remote-vips"); len(rv) != 1 || rv[0] != a {
		t.Fatalf("gateway remote-vips %v, client has %v", rv, a)
	}
	if out, err := lab.Ping(ctx, s.Left, a, s.RightInner, 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", a, s.RightInner, err, out)
	}
	if out, err := lab.Ping(ctx, s.Left, netip.Addr{}, s.RightInner, 2); err != nil {
		t.Fatalf("ping %v without a source address: %v\n%s", s.RightInner, err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightInner, a, 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", s.RightInner, a, err, out)
	}
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, a, s.RightInner, 4<<20)
	if err != nil || !res.Intact {
		t.Fatalf("TCP from the virtual IP: %v %v", res, err)
	}
	if out, err := gw.cli(ctx, "status"); err != nil || !strings.Contains(out, "["+a.String()+"]") {
		t.Errorf("gateway status does not show the lease: %v\n%s", err, out)
	}
	// A reload with the pool unchanged keeps the SA and its lease.
	if out, err := gw.cli(ctx, "reload"); err != nil {
		t.Fatalf("goipsec reload: %v\n%s", err, out)
	}
	if rv := vipsOf(t, saOf(gw.sas(ctx), "rw"), "remote-vips"); len(rv) != 1 || rv[0] != a {
		t.Fatalf("after reload the gateway has remote-vips %v, want [%v]", rv, a)
	}
	if out, err := lab.Ping(ctx, s.Left, a, s.RightInner, 2); err != nil {
		t.Fatalf("ping after reload: %v\n%s", err, out)
	}
	down("rw")
	waitUntil(t, "virtual IP removed from the TUN", 5*time.Second, func() bool { return !onTUN(ctx, s.Left, a) })

	// (d) Another identity gets another address: a's lease is kept for it.
	up("rw2")
	b := clientVIP(ctx, t, client, "rw2", in24("10.3.0.0/24"))
	if b == a {
		t.Fatalf("identity b got a's offline lease %v", a)
	}
	down("rw2")
	// A requested address (vips = 10.3.0.77) is a hint the pool honours
	// when the address is free.
	up("rw3")
	if c := clientVIP(ctx, t, client, "rw3", in24("10.3.0.0/24")); c.String() != "10.3.0.77" {
		t.Fatalf("vips = 10.3.0.77 got %v", c)
	}
	down("rw3")
	up("rw")
	if again := clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24")); again != a {
		t.Fatalf("after down/up identity a got %v, want its lease %v", again, a)
	}
	if out, err := lab.Ping(ctx, s.Left, a, s.RightInner, 2); err != nil {
		t.Fatalf("ping after up again: %v\n%s", err, out)
	}
	down("rw")

	// (e) A pool of one address: the second client is refused.
	gw.proc.Stop()
	gw = startDaemon(t, s.Right, "gw1", rwGatewayConf(s, "10.3.0.5"))
	up("rw")
	if got := clientVIP(ctx, t, client, "rw", func(x netip.Addr) bool { return x == netip.MustParseAddr("10.3.0.5") }); got.String() != "10.3.0.5" {
		t.Fatal(got)
	}
	out, err := client.cli(ctx, "up", "rw2")
	if err == nil || !strings.Contains(out, "INTERNAL_ADDRESS_FAILURE") {
		t.Fatalf("second client on a full pool: %v\n%s", err, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(out))
	waitUntil(t, "the refused IKE SA gone on both sides", 10*time.Second, func() bool {
		return saOf(client.sas(ctx), "rw2") == nil && len(gw.sas(ctx)) == 1
	})
	if out, err := lab.Ping(ctx, s.Left, netip.MustParseAddr("10.3.0.5"), s.RightInner, 2); err != nil {
		t.Fatalf("first client after the refusal: %v\n%s", err, out)
	}
	if !onTUN(ctx, s.Left, netip.MustParseAddr("10.3.0.5")) {
		t.Fatal("the refusal took the first client's address off the TUN")
	}
}

// TestVIPSwanctlLoadPools: a goipsec gateway that starts with no
// configuration gets its pool and connection from the real swanctl
// (--load-all sends get-pools, load-pool, load-conn), leases from that
// pool to a goipsec client, and swanctl --list-pools --leases and
// --list-sas show the lease as they do for charon. --load-pools with a
// file that no longer has the pool cannot unload it while its lease is
// online, and the pool stays.
func TestVIPSwanctlLoadPools(t *testing.T) {
	s := topology(t)
	gw := startDaemon(t, s.Right, "gw", noConnections)
	sw := newSwanctl(t, gw)
	ctx := ctxFor(t, 90*time.Second)
	file := filepath.Join(sw.dir, "swanctl.conf")
	if err := os.WriteFile(file, []byte(rwGatewayConf(s, "10.3.0.0/24")), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.must(ctx, []string{"loaded pool 'rw'", "successfully loaded 1 pools, 0 unloaded",
		"loaded connection 'rw'"}, "--load-all", "--file", file)
	client := startDaemon(t, s.Left, "client", rwClientConf(s, "client.goipsec.test"))
	if out, err := client.cli(ctx, "up", "rw"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	vip := clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24"))
	if out, err := lab.Ping(ctx, s.Left, vip, s.RightInner, 3); err != nil {
		t.Fatalf("ping %v -> %v: %v\n%s", vip, s.RightInner, err, out)
	}
	sw.must(ctx, []string{"rw                   10.3.0.0 ", "1 / 0 / 254", vip.String(), "online", "'client.goipsec.test'"}, "--list-pools", "--leases")
	sw.must(ctx, []string{"remote 'client.goipsec.test' @ " + s.LeftOuter.String(), "[" + vip.String() + "]"}, "--list-sas")

	noPool := strings.Replace(rwGatewayConf(s, "10.3.0.0/24"), "pools {\n    rw {\n        addrs = 10.3.0.0/24\n    }\n}\n", "", 1)
	if err := os.WriteFile(file, []byte(noPool), 0o600); err != nil {
		t.Fatal(err)
	}
	// (swanctl prints the failure but exits 0 when the file has no pools.)
	if out, _ := sw.run(ctx, "--load-pools", "--file", file); !strings.Contains(out, "unloading pool 'rw' failed: rw has online leases, unable to unload") {
		t.Fatalf("--load-pools dropping a pool in use:\n%s", out)
	}
	sw.must(ctx, []string{"rw", vip.String(), "online"}, "--list-pools", "--leases")
	if out, err := lab.Ping(ctx, s.Left, vip, s.RightInner, 2); err != nil {
		t.Fatalf("ping after the refused unload: %v\n%s", err, out)
	}
}

// TestVIPRekeys: strongSwan rekeys the IKE SA and the Child SA every few
// seconds, once as the gateway of a goipsec client and once as the client
// of a goipsec gateway. The virtual IP moves to each new IKE SA (the
// client keeps it on its TUN, the gateway keeps the lease online), and
// traffic from it keeps flowing.
func TestVIPRekeys(t *testing.T) {
	const rekeys = "rekey_time = 4s\n        over_time = 60s\n        rand_time = 0s\n        pools = rw\n"
	const childRekeys = "esp_proposals = aes256gcm16\n                rekey_time = 3s\n                life_time = 60s\n                rand_time = 0s\n"
	for _, gwIs := range []string{"strongswan", "goipsec"} {
		t.Run("gateway-"+gwIs, func(t *testing.T) {
			s := topology(t)
			ctx := ctxFor(t, 90*time.Second)
			gwConf := rwGatewayConf(s, "10.3.0.0/24")
			clConf := rwClientConf(s, "client.goipsec.test")
			var sas func() []map[string]any
			var vip netip.Addr
			if gwIs == "strongswan" {
				gwConf = strings.Replace(strings.Replace(gwConf, "pools = rw\n", rekeys, 1), "esp_proposals = aes256gcm16\n", childRekeys, 1)
				startCharon(t, s.Right, gwConf)
				client := startDaemon(t, s.Left, "client", clConf)
				if out, err := client.cli(ctx, "up", "rw"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
				vip = clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24"))
				sas = func() []map[string]any { return client.sas(ctx) }
				defer func() {
					if !onTUN(ctx, s.Left, vip) {
						t.Error("the virtual IP left the TUN across rekeys")
					}
					if got := clientVIP(ctx, t, client, "rw", in24("10.3.0.0/24")); got != vip {
						t.Errorf("virtual IP %v after rekeys, was %v", got, vip)
					}
				}()
			} else {
				clConf = strings.Replace(strings.Replace(clConf, "vips = 0.0.0.0\n", "vips = 0.0.0.0\n        "+strings.Replace(rekeys, "        pools = rw\n", "", 1), 1), "esp_proposals = aes256gcm16\n", childRekeys, 1)
				gw := startDaemon(t, s.Right, "gw", gwConf)
				charon := startCharon(t, s.Left, clConf)
				if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
				vip = netip.MustParseAddr("10.3.0.1")
				sas = func() []map[string]any { return gw.sas(ctx) }
				defer func() {
					sa := saOf(gw.sas(ctx), "rw")
					if rv := vipsOf(t, sa, "remote-vips"); len(rv) != 1 || rv[0] != vip {
						t.Errorf("gateway remote-vips after rekeys %v, want [%v]", rv, vip)
					}
					if out, err := gw.cli(ctx, "status"); err != nil || !strings.Contains(out, "["+vip.String()+"]") {
						t.Errorf("gateway status after rekeys: %v\n%s", err, out)
					}
				}()
			}
			first := saOf(sas(), "rw")["uniqueid"]
			res, err := lab.TCPThroughput(ctxFor(t, 30*time.Second), s.Left, s.Right, vip, s.RightInner, 10*time.Second)
			if err != nil || !res.Intact {
				t.Fatalf("TCP from the virtual IP across rekeys: %v %v", res, err)
			}
			t.Logf("TCP across rekeys: %v", res)
			waitUntil(t, "one IKE SA, rekeyed", 10*time.Second, func() bool {
				l := sas()
				return len(l) == 1 && saOf(l, "rw") != nil && saOf(l, "rw")["uniqueid"] != first
			})
			if out, err := lab.Ping(ctx, s.Left, vip, s.RightInner, 2); err != nil {
				t.Fatalf("ping after rekeys: %v\n%s", err, out)
			}
		})
	}
}
