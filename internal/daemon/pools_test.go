package daemon

import (
	"context"
	"fmt"
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
