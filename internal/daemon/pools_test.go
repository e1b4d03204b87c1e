package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/vici"
)

// rwConf has two responder connections leasing from one pool and an
// initiator asking for a virtual IP; %s is the pool's addrs.
const rwConf = `
connections {
    rw1 {
        pools = rw
        local {
            auth = psk
        }
        remote {
            auth = psk
            id = carol@example.org
        }
    }
    rw2 {
        pools = rw
        local {
            auth = psk
        }
        remote {
            auth = psk
            id = dave@example.org
        }
    }
    client {
        remote_addrs = 192.0.2.1
        vips = 0.0.0.0
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
    }
}
secrets {
    ike-1 {
        secret = x
    }
}
pools {
    rw {
        addrs = %s
        dns = 10.3.0.53
    }
}
`

func reloadWith(t *testing.T, d *Daemon, text string) error {
	t.Helper()
	file, err := config.Parse("test.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return d.change(context.Background(), credsSame, func(st *store) error {
		st.setFile(file)
		return nil
	})
}

// TestPoolsSharedAndKeptOnReload: connections naming one pool share its
// *ike.AddressPool; a reload that leaves the pool alone keeps it and its
// leases (and the connections' peers), one that changes it makes a new
// pool and new peers for the connections using it.
func TestPoolsSharedAndKeptOnReload(t *testing.T) {
	d := testDaemon(t, fmt.Sprintf(rwConf, "10.3.0.0/24"))
	rw1, rw2, client := peerNamed(d, "rw1"), peerNamed(d, "rw2"), peerNamed(d, "client")
	if len(rw1.Pools) != 1 || len(rw2.Pools) != 1 || rw1.Pools[0] != rw2.Pools[0] {
		t.Fatalf("pools not shared: %v %v", rw1.Pools, rw2.Pools)
	}
	pool := rw1.Pools[0]
	if pool.Size() != 254 || !pool.Contains(netip.MustParseAddr("10.3.0.1")) || pool.Contains(netip.MustParseAddr("10.3.0.0")) ||
		len(pool.DNS) != 1 || pool.DNS[0] != netip.MustParseAddr("10.3.0.53") {
		t.Fatalf("pool %s: size %d, dns %v", pool.Name(), pool.Size(), pool.DNS)
	}
	if len(client.VIPs) != 1 || !client.VIPs[0].IsUnspecified() || len(client.Pools) != 0 {
		t.Fatalf("client: vips %v, pools %v", client.VIPs, client.Pools)
	}
	lease, err := pool.Acquire("carol@example.org", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}

	// Same pool (the file moved around): same pool, same lease, same peers.
	if err := reloadWith(t, d, "\n\n"+fmt.Sprintf(rwConf, "10.3.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if p := peerNamed(d, "rw1"); p != rw1 || p.Pools[0] != pool {
		t.Fatal("unchanged pool and connection were rebuilt by a reload")
	}
	if got := pool.Stats().OnlineLeases[lease]; got != "carol@example.org" {
		t.Fatalf("lease lost: %v", pool.Stats())
	}

	// New name servers only: the same pool and leases, the new servers.
	if err := reloadWith(t, d, strings.Replace(fmt.Sprintf(rwConf, "10.3.0.0/24"), "10.3.0.53", "10.3.0.54, 10.3.0.55", 1)); err != nil {
		t.Fatal(err)
	}
	if p := peerNamed(d, "rw1"); p != rw1 || p.Pools[0] != pool || pool.Stats().OnlineLeases[lease] == "" {
		t.Fatal("a pool whose addresses did not change was replaced")
	}
	if len(pool.DNS) != 2 || pool.DNS[1] != netip.MustParseAddr("10.3.0.55") {
		t.Fatalf("dns not updated: %v", pool.DNS)
	}

	// Changed pool: new pool for both connections, new peers.
	if err := reloadWith(t, d, fmt.Sprintf(rwConf, "10.4.0.10-10.4.0.20")); err != nil {
		t.Fatal(err)
	}
	n1, n2 := peerNamed(d, "rw1"), peerNamed(d, "rw2")
	if n1 == rw1 || n1.Pools[0] == pool || n1.Pools[0] != n2.Pools[0] || n1.Pools[0].Size() != 11 {
		t.Fatalf("changed pool: peer kept %v, pool kept %v", n1 == rw1, n1.Pools[0] == pool)
	}
	if peerNamed(d, "client") != client {
		t.Fatal("a connection without pools was rebuilt")
	}
}

// TestLoadConnNamesFilePool: a connection loaded over VICI may name a
// pool of the config file, and shares it; an unknown pool is refused.
func TestLoadConnNamesFilePool(t *testing.T) {
	d := testDaemon(t, fmt.Sprintf(rwConf, "10.3.0.0/24"))
	load := func(pool string) *vici.Message {
		m := vici.NewMessage()
		_ = m.Set("vrw", msg("pools", []string{pool},
			"local", msg("auth", "psk"), "remote", msg("auth", "psk", "id", "eve@example.org")))
		resp, _ := call(t, d.viciLoadConn, m)
		return resp
	}
	if resp := load("rw"); resp.GetString("success") != "yes" {
		t.Fatalf("load-conn: %s", resp.GetString("errmsg"))
	}
	if p := peerNamed(d, "vrw"); p == nil || len(p.Pools) != 1 || p.Pools[0] != peerNamed(d, "rw1").Pools[0] {
		t.Fatalf("vrw does not share pool rw: %+v", p)
	}
	resp := load("nope")
	if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), `connections.vrw.pools: unknown pool "nope"`) {
		t.Fatalf("unknown pool: %v %s", resp.GetString("success"), resp.GetString("errmsg"))
	}
	// A reload that drops the pool while a VICI connection names it fails
	// and changes nothing.
	noPool := strings.Replace(strings.Replace(fmt.Sprintf(rwConf, "10.3.0.0/24"), "pools = rw\n", "", 2), "pools {\n    rw {\n        addrs = 10.3.0.0/24\n        dns = 10.3.0.53\n    }\n}\n", "", 1)
	err := reloadWith(t, d, noPool)
	if err == nil || !strings.Contains(err.Error(), `connections.vrw.pools: unknown pool "rw"`) {
		t.Fatalf("reload without the pool: %v", err)
	}
	if peerNamed(d, "vrw").Pools[0] != peerNamed(d, "rw1").Pools[0] {
		t.Fatal("failed reload changed the pools")
	}
}

// TestVICIPools: load-pool, get-pools and unload-pool as swanctl
// --load-pools and --list-pools --leases send them: a loaded pool serves
// connections loaded over VICI, loading it again with the same addresses
// keeps its leases, and a pool with online leases is neither replaced by
// other addresses nor unloaded.
func TestVICIPools(t *testing.T) {
	d := testDaemon(t, "")
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()
	h := d.vici.Handler
	loadPool := func(addrs string, dns ...string) *vici.Message {
		p := msg("addrs", addrs)
		if dns != nil {
			_ = p.Set("dns", dns)
		}
		resp, _ := call(t, h("load-pool"), msg("vp", p))
		return resp
	}
	ok := func(what string, resp *vici.Message) {
		t.Helper()
		if resp.GetString("success") != "yes" {
			t.Fatalf("%s: %s", what, resp.GetString("errmsg"))
		}
	}
	refused := func(what string, resp *vici.Message, want string) {
		t.Helper()
		if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), want) {
			t.Fatalf("%s: want a refusal with %q, got %v %q", what, want, resp.GetString("success"), resp.GetString("errmsg"))
		}
	}
	ok("load-pool", loadPool("10.7.0.0/28", "10.7.0.53"))
	refused("bad addrs", loadPool("10.7.0.0/33"), `pools.vp.addrs: invalid subnet "10.7.0.0/33"`)
	resp, _ := call(t, h("load-pool"), msg("vp", msg("addrs", "10.7.0.0/28", "nbns", []string{"10.7.0.2"})))
	refused("nbns", resp, "pools.vp.nbns: key not supported yet")

	conn := vici.NewMessage()
	_ = conn.Set("vrw", msg("pools", []string{"vp"},
		"local", msg("auth", "psk"), "remote", msg("auth", "psk")))
	resp, _ = call(t, h("load-conn"), conn)
	ok("load-conn naming the VICI pool", resp)
	pool := peerNamed(d, "vrw").Pools[0]
	if pool.Size() != 14 || len(pool.DNS) != 1 {
		t.Fatalf("pool: size %d dns %v", pool.Size(), pool.DNS)
	}
	lease, err := pool.Acquire("carol@example.org", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}

	resp, _ = call(t, h("get-pools"), msg("leases", "yes"))
	vp := resp.GetSection("vp")
	if vp == nil || vp.GetString("base") != "10.7.0.0" || vp.GetString("size") != "14" || vp.GetString("online") != "1" || vp.GetString("offline") != "0" {
		t.Fatalf("get-pools: %v", resp)
	}
	l := vp.GetSection("leases")
	if l == nil || l.GetSection("0") == nil || l.GetSection("0").GetString("address") != lease.String() ||
		l.GetSection("0").GetString("identity") != "carol@example.org" || l.GetSection("0").GetString("status") != "online" {
		t.Fatalf("get-pools leases: %v", vp)
	}
	if resp, _ := call(t, h("get-pools"), msg("name", "other")); resp.Len() != 0 {
		t.Fatalf("get-pools name filter: %v", resp)
	}

	// Same addresses, new attributes: leases and peers stay.
	ok("reload same addrs", loadPool("10.7.0.0/28", "10.7.0.54"))
	if p := peerNamed(d, "vrw"); p.Pools[0] != pool || pool.DNS[0] != netip.MustParseAddr("10.7.0.54") {
		t.Fatalf("pool replaced or dns not updated: %v", pool.DNS)
	}
	refused("replace with online leases", loadPool("10.8.0.0/28"), "vici pool vp has online leases, unable to replace")
	refused("unload with online leases", func() *vici.Message {
		r, _ := call(t, h("unload-pool"), msg("name", "vp"))
		return r
	}(), "vp has online leases, unable to unload")
	pool.Release(lease)
	r, _ := call(t, h("unload-pool"), msg("name", "vp"))
	refused("unload while a connection names it", r, `connections.vrw.pools: unknown pool "vp"`)
	r, _ = call(t, h("unload-conn"), msg("name", "vrw"))
	ok("unload-conn", r)
	r, _ = call(t, h("unload-pool"), msg("name", "vp"))
	ok("unload-pool", r)
	r, _ = call(t, h("unload-pool"), msg("name", "vp"))
	refused("unload again", r, "vp not found")
	if resp, _ := call(t, h("get-pools"), nil); resp.Len() != 0 {
		t.Fatalf("get-pools after unload: %v", resp)
	}
}

// TestExplainVIPs: goipsec check says what a connection asks for and
// leases, and that its match explanation does not model leases.
func TestExplainVIPs(t *testing.T) {
	cfg, err := config.Parse("test.conf", []byte(fmt.Sprintf(rwConf, "10.3.0.0/24")))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Explain(context.Background(), cfg, "", CheckOffer{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteExplanation(&b, r)
	for _, want := range []string{
		"virtual IPs: leases 10.3.0.1-10.3.0.254 from pool rw (addrs 10.3.0.0/24), dns 10.3.0.53",
		"virtual IP: asks for 0.0.0.0 in IKE_AUTH",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("goipsec check output lacks %q:\n%s", want, b.String())
		}
	}

	// An IPv6 /64 and a dual-stack request.
	text := strings.Replace(fmt.Sprintf(rwConf, "fd00:10::/64"), "vips = 0.0.0.0", "vips = 0.0.0.0, ::", 1)
	if cfg, err = config.Parse("test.conf", []byte(text)); err != nil {
		t.Fatal(err)
	}
	if r, err = Explain(context.Background(), cfg, "", CheckOffer{}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	WriteExplanation(&b, r)
	for _, want := range []string{
		"virtual IPs: leases fd00:10::1-fd00:10::7fff:fffe from pool rw (addrs fd00:10::/64) (a subnet of more than 2^31 addresses: its first 2^31 only, as charon limits it)",
		"virtual IP: asks for 0.0.0.0,:: in IKE_AUTH",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("goipsec check output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestVICIPoolsIPv6: an IPv6 pool (INTERNAL_IP6_ADDRESS) loads over VICI
// with name servers of both families, and get-pools reports it as charon
// does: a /120 leases 254 addresses from its network address + 1, and a
// /64 is limited to its first 2^31 addresses (size 2147483646).
func TestVICIPoolsIPv6(t *testing.T) {
	d := testDaemon(t, "")
	var logs bytes.Buffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()
	h := d.vici.Handler
	for name, addrs := range map[string]string{"p6": "fd00:10::/120", "big": "fd00:20::/64"} {
		resp, _ := call(t, h("load-pool"), msg(name, msg("addrs", addrs, "dns", []string{"fd00:10::53", "10.2.0.53"})))
		if resp.GetString("success") != "yes" {
			t.Fatalf("load-pool %s: %s", addrs, resp.GetString("errmsg"))
		}
	}
	conn := vici.NewMessage()
	_ = conn.Set("rw6", msg("pools", []string{"p6", "big"}, "vips", []string{"0.0.0.0", "::"},
		"local", msg("auth", "psk"), "remote", msg("auth", "psk")))
	if resp, _ := call(t, h("load-conn"), conn); resp.GetString("success") != "yes" {
		t.Fatalf("load-conn: %s", resp.GetString("errmsg"))
	}
	p := peerNamed(d, "rw6")
	if len(p.Pools) != 2 || p.Pools[0].Is4() || len(p.VIPs) != 2 || !p.VIPs[1].Is6() {
		t.Fatalf("peer pools %v vips %v", p.Pools, p.VIPs)
	}
	lease, err := p.Pools[0].Acquire("carol@example.org", netip.Addr{})
	if err != nil || lease.String() != "fd00:10::1" {
		t.Fatalf("lease %v %v", lease, err)
	}
	resp, _ := call(t, h("get-pools"), msg("leases", "yes"))
	for name, want := range map[string][2]string{"p6": {"fd00:10::", "254"}, "big": {"fd00:20::", "2147483646"}} {
		s := resp.GetSection(name)
		if s == nil || s.GetString("base") != want[0] || s.GetString("size") != want[1] {
			t.Fatalf("get-pools %s: %v, want base %s size %s", name, s, want[0], want[1])
		}
	}
	l := resp.GetSection("p6").GetSection("leases").GetSection("0")
	if l == nil || l.GetString("address") != "fd00:10::1" || l.GetString("status") != "online" {
		t.Fatalf("get-pools p6 leases: %v", resp.GetSection("p6"))
	}
	// charon's warning, once, for the /64 only.
	if n := strings.Count(logs.String(), "virtual IP pool too large"); n != 1 || !strings.Contains(logs.String(), "pool=big addrs=fd00:20::/64 first=fd00:20::1 last=fd00:20::7fff:fffe") {
		t.Errorf("%d warnings about the /64 pool:\n%s", n, logs.String())
	}
	bad, _ := call(t, h("load-pool"), msg("p7", msg("addrs", "fd00::1-fd00::1:0:0")))
	if bad.GetString("success") != "no" || !strings.Contains(bad.GetString("errmsg"), `pools.p7.addrs: address range "fd00::1-fd00::1:0:0" too large`) {
		t.Fatalf("oversized IPv6 range: %v %q", bad.GetString("success"), bad.GetString("errmsg"))
	}
}
