package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// poolTemplate: the connection's slot is line 9, the pool's line 18.
const poolTemplate = `connections {
  rw {
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    %s
  }
}
secrets {
  ike-1 {
    secret = x
  }
}
pools {
  p4 {
    %s
  }
}
`

func TestPoolAddrs(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		addrs       string
		first, last netip.Addr
	}{
		// Subnets lose the network and broadcast address, as in
		// strongSwan's mem_pool.
		{"10.3.0.0/24", a("10.3.0.1"), a("10.3.0.254")},
		{"10.3.0.0/30", a("10.3.0.1"), a("10.3.0.2")},
		// A base other than the network address starts the pool there.
		{"10.3.0.100/24", a("10.3.0.100"), a("10.3.0.254")},
		{"10.3.0.4/31", a("10.3.0.4"), a("10.3.0.5")},
		{"10.3.0.5/32", a("10.3.0.5"), a("10.3.0.5")},
		{"10.3.0.10-10.3.0.20", a("10.3.0.10"), a("10.3.0.20")},
		{"10.3.0.10 - 10.3.0.10", a("10.3.0.10"), a("10.3.0.10")},
		{"10.3.0.5", a("10.3.0.5"), a("10.3.0.5")},
	} {
		data := fmt.Sprintf(poolTemplate, "pools = p4", "addrs = "+tc.addrs+"\n    dns = 10.3.0.1, 192.0.2.53")
		c, err := Parse("p.conf", []byte(data))
		if err != nil {
			t.Fatalf("%s: %v", tc.addrs, err)
		}
		p := c.Pool("p4")
		if p == nil || p.First != tc.first || p.Last != tc.last || p.Pos.Line != 18 {
			t.Errorf("%s: got %+v, want %v-%v", tc.addrs, p, tc.first, tc.last)
			continue
		}
		if want := []netip.Addr{a("10.3.0.1"), a("192.0.2.53")}; !reflect.DeepEqual(p.DNS, want) {
			t.Errorf("%s: dns %v", tc.addrs, p.DNS)
		}
		if got := c.Connections[0].Pools; !reflect.DeepEqual(got, []string{"p4"}) {
			t.Errorf("pools = %v", got)
		}
		if d := c.Connections[0].Describe(); !strings.Contains(d, ", pools p4") {
			t.Errorf("Describe: %s", d)
		}
	}
}

// TestPoolAddrs6: IPv6 pools (INTERNAL_IP6_ADDRESS) follow strongSwan's
// mem_pool as IPv4 ones do: a subnet loses its first and last address,
// and a subnet of more than 2^31 addresses (a /64) is limited to its
// first 2^31, as charon limits fd00::/64 to fd00::/97.
func TestPoolAddrs6(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		addrs       string
		first, last netip.Addr
		limited     bool
	}{
		{"fd00:10::/120", a("fd00:10::1"), a("fd00:10::fe"), false},
		{"fd00:10::80/120", a("fd00:10::80"), a("fd00:10::fe"), false},
		{"fd00:10::/126", a("fd00:10::1"), a("fd00:10::2"), false},
		{"fd00:10::4/127", a("fd00:10::4"), a("fd00:10::5"), false},
		{"fd00:10::9/128", a("fd00:10::9"), a("fd00:10::9"), false},
		{"fd00:10::/97", a("fd00:10::1"), a("fd00:10::7fff:fffe"), false},
		{"fd00:10::/64", a("fd00:10::1"), a("fd00:10::7fff:fffe"), true},
		{"fd00:10::5/64", a("fd00:10::5"), a("fd00:10::7fff:fffe"), true},
		{"2001:db8::/32", a("2001:db8::1"), a("2001:db8::7fff:fffe"), true},
		{"fd00:10::a-fd00:10::1:14", a("fd00:10::a"), a("fd00:10::1:14"), false},
		{"fd00:10::a", a("fd00:10::a"), a("fd00:10::a"), false},
		// IPv4 follows the same limit (charon's POOL_LIMIT is for both).
		{"0.0.0.0/0", a("0.0.0.1"), a("127.255.255.254"), true},
		{"::ffff:10.3.0.0/120", a("10.3.0.1"), a("10.3.0.254"), false},
	} {
		data := fmt.Sprintf(poolTemplate, "pools = p4\n    vips = ::", "addrs = "+tc.addrs+"\n    dns = fd00:10::53, 10.3.0.53")
		c, err := Parse("p.conf", []byte(data))
		if err != nil {
			t.Fatalf("%s: %v", tc.addrs, err)
		}
		p := c.Pool("p4")
		if p == nil || p.First != tc.first || p.Last != tc.last || p.Limited != tc.limited || p.Addrs != tc.addrs {
			t.Errorf("%s: got %+v, want %v-%v (limited %v)", tc.addrs, p, tc.first, tc.last, tc.limited)
			continue
		}
		if want := []netip.Addr{a("fd00:10::53"), a("10.3.0.53")}; !reflect.DeepEqual(p.DNS, want) {
			t.Errorf("%s: dns %v", tc.addrs, p.DNS)
		}
	}
}

func TestVIPs(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"vips = 0.0.0.0", "0.0.0.0"},
		{"vips = 10.3.0.7", "10.3.0.7"},
		{"vips = ::ffff:10.3.0.7", "10.3.0.7"},
		{"vips = ::", "::"},
		{"vips = fd00:10::7", "fd00:10::7"},
		{"vips = 0.0.0.0, ::", "0.0.0.0 ::"},
		{"vips = ::, 10.3.0.7", ":: 10.3.0.7"},
	} {
		c, err := Parse("v.conf", []byte(fmt.Sprintf(poolTemplate, tc.line, "addrs = 10.3.0.0/24")))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		var got []string
		for _, a := range c.Connections[0].VIPs {
			got = append(got, a.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: vips %v, want %s", tc.line, got, tc.want)
		}
	}
	c, err := Parse("v.conf", []byte(fmt.Sprintf(poolTemplate, "", "addrs = 10.3.0.0/24")))
	if err != nil || len(c.Connections[0].VIPs) != 0 || len(c.Connections[0].Pools) != 0 {
		t.Errorf("no vips/pools keys: %v, %+v", err, c)
	}
}

func TestPoolErrors(t *testing.T) {
	const file = "/etc/swanctl/swanctl.conf"
	for _, tc := range []struct {
		conn, pool, want string
		kind             error
	}{
		{"pools = p4, other", "addrs = 10.3.0.0/24", `9: connections.rw.pools: unknown pool "other" (no pools.other section)`, nil},
		{"pools = p4, p4", "addrs = 10.3.0.0/24", `9: connections.rw.pools: pool "p4" named twice`, nil},
		{"pools = p4,", "addrs = 10.3.0.0/24", `9: connections.rw.pools: empty list item in "p4,"`, nil},
		{"vips = 0.0.0.0, 10.3.0.1", "addrs = 10.3.0.0/24", "9: connections.rw.vips: one virtual IP per address family at most (a responder assigns one address per family)", nil},
		{"vips = ::, 0.0.0.0, fd00::7", "addrs = 10.3.0.0/24", "9: connections.rw.vips: one virtual IP per address family at most (a responder assigns one address per family)", nil},
		{"vips = any", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "any" (want 0.0.0.0, :: or an address)`, nil},
		{"vips = fd00::1%eth0", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "fd00::1%eth0" (want 0.0.0.0, :: or an address)`, nil},
		{"vips = 224.0.0.1", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "224.0.0.1" (want 0.0.0.0, :: or a unicast address)`, nil},
		{"vips = ff02::1", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "ff02::1" (want 0.0.0.0, :: or a unicast address)`, nil},
		{"vips = ::1", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "::1" (want 0.0.0.0, :: or a unicast address)`, nil},
		{"vips = fe80::1", "addrs = 10.3.0.0/24", `9: connections.rw.vips: invalid virtual IP "fe80::1" (want 0.0.0.0, :: or a unicast address)`, nil},
		{"", "", "18: pools.p4.addrs: missing: a pool needs addrs (a subnet, a range or an address)", nil},
		{"", "addrs = 10.3.0.0/33", `19: pools.p4.addrs: invalid subnet "10.3.0.0/33"`, nil},
		{"", "addrs = 10.3.0.20-10.3.0.10", `19: pools.p4.addrs: invalid address range "10.3.0.20-10.3.0.10"`, nil},
		{"", "addrs = 10.3.0.1-fec0::1", `19: pools.p4.addrs: invalid address range "10.3.0.1-fec0::1"`, nil},
		{"", "addrs = ten", `19: pools.p4.addrs: "ten" is not a subnet, an address range or an address`, nil},
		{"", "addrs = 10.3.0.0/24, 10.4.0.0/24", "19: pools.p4.addrs: takes one subnet, range or address, not a list of 2", nil},
		{"", "addrs = fd00::/129", `19: pools.p4.addrs: invalid subnet "fd00::/129"`, nil},
		{"", "addrs = fd00::9-fd00::1", `19: pools.p4.addrs: invalid address range "fd00::9-fd00::1"`, nil},
		{"", "addrs = fd00::1-fd00::1:0:0", `19: pools.p4.addrs: address range "fd00::1-fd00::1:0:0" too large (IPv6 range ends may differ in their last 32 bits only, as in strongSwan)`, nil},
		{"", "addrs = ::/0", `19: pools.p4.addrs: pool "::/0" holds no assignable addresses`, nil},
		{"", "addrs = ff00::/120", `19: pools.p4.addrs: pool "ff00::/120" holds no assignable addresses`, nil},
		{"", "addrs = fe80::/64", `19: pools.p4.addrs: pool "fe80::/64" holds no assignable addresses`, nil},
		{"", "addrs = ::1", `19: pools.p4.addrs: pool "::1" holds no assignable addresses`, nil},
		{"", "addrs = fd00::/120\n    dns = fd00::zz", `20: pools.p4.dns: invalid name server address "fd00::zz"`, nil},
		{"", "addrs = fd00::/120\n    dns = ::", `20: pools.p4.dns: invalid name server address "::"`, nil},
		{"", "addrs = 0.0.0.0", `19: pools.p4.addrs: pool "0.0.0.0" holds no assignable addresses`, nil},
		{"", "addrs = 10.3.0.0/24\n    dns = 10.3.0.300", `20: pools.p4.dns: invalid name server address "10.3.0.300"`, nil},
		{"", "addrs = 10.3.0.0/24\n    dns = 1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9", "20: pools.p4.dns: too many name servers (9, at most 8)", nil},
		{"", "addrs = 10.3.0.0/24\n    nbns = 10.3.0.2", "20: pools.p4.nbns: key not supported yet", ErrUnsupported},
		{"", "addrs = 10.3.0.0/24\n    split_include = 10.0.0.0/8", "20: pools.p4.split_include: key not supported yet", ErrUnsupported},
		{"", "addrs = 10.3.0.0/24\n    adrs = 10.3.0.0/24", "20: pools.p4.adrs: unknown key", ErrUnknown},
		{"", "addrs = 10.3.0.0/24\n    addrs = 10.4.0.0/24", "20: pools.p4.addrs: duplicate key (first set at /etc/swanctl/swanctl.conf:19)", nil},
		{"", "addrs = 10.3.0.0/24\n    x {\n    }", "20: pools.p4.x: unknown section", ErrUnknown},
	} {
		data := fmt.Sprintf(poolTemplate, tc.conn, tc.pool)
		_, err := Parse(file, []byte(data))
		checkErr(t, tc.conn+"|"+tc.pool, err, file+":"+tc.want, tc.kind)
	}
}

func TestPoolsAcrossSections(t *testing.T) {
	// A pools section after the connections that name it, split over
	// two blocks (as included files do), is fine; a pool defined twice
	// is not.
	data := "connections {\n  a {\n    pools = x, y\n    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n  }\n}\n" +
		"pools {\n  x {\n    addrs = 10.3.0.0/24\n  }\n}\npools {\n  y {\n    addrs = 10.4.0.1-10.4.0.9\n  }\n}\n"
	c, err := Parse("s.conf", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pools) != 2 || c.Pools[1].Name != "y" {
		t.Fatalf("pools: %+v", c.Pools)
	}
	data += "pools {\n  x {\n    addrs = 10.5.0.0/24\n  }\n}\n"
	_, err = Parse("s.conf", []byte(data))
	checkErr(t, "duplicate pool", err, "s.conf:23: pools.x: duplicate pool (first defined at s.conf:13)", nil)
	// A connection from elsewhere (VICI) may name a pool known to the caller.
	tree, err := ParseTree("v.conf", []byte("connections {\n  a {\n    pools = filepool\n    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n  }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromTree(tree); err == nil {
		t.Error("FromTree accepted an unknown pool")
	}
	if _, err := FromTreeWithPools(tree, func(n string) bool { return n == "filepool" }); err != nil {
		t.Errorf("FromTreeWithPools: %v", err)
	}
}
