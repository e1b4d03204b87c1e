package config

import (
	"encoding/binary"
	"net/netip"
	"strings"
)

// Virtual IP pools and requests (RFC 7296 2.19, 3.15): the top-level
// pools section and the connection keys vips and pools, with the
// semantics of swanctl.conf(5).

// Pool is one pools.<name> section: the addresses a responder leases to
// remote-access peers (INTERNAL_IP4_ADDRESS or INTERNAL_IP6_ADDRESS, by
// the pool's family) and the attributes it sends with them.
type Pool struct {
	Name string
	Pos  Pos
	// Addrs is addrs as written; First and Last the addresses handed
	// out. For a subnet, as in strongSwan, the network and broadcast
	// addresses are left out (unless the subnet has only one or two
	// addresses); a subnet given by another address than its network
	// starts at that address.
	Addrs       string
	First, Last netip.Addr
	// Limited is set for a subnet larger than strongSwan's pools go
	// (more than 31 host bits, such as an IPv6 /64): Last is then the
	// end of its first 2^31 addresses, as in charon.
	Limited bool
	// DNS are the name servers sent with a lease, as INTERNAL_IP4_DNS
	// or INTERNAL_IP6_DNS by each server's family.
	DNS []netip.Addr
}

// Pool returns the pool with the given name, or nil.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// The swanctl.conf(5) pool attributes this build does not send yet.
var poolUnsupportedKeys = set(`nbns dhcp netmask server subnet split_include split_exclude`)

func (c *Config) addPools(s *Section) error {
	if len(s.Values) > 0 {
		v := s.Values[0]
		return invalid(v.Pos, join2("pools", v.Key), "unknown key: a pool must be a section (name { ... })")
	}
	for _, ps := range s.Sections {
		if first := c.Pool(ps.Name); first != nil {
			return invalid(ps.Pos, join2("pools", ps.Name), "duplicate pool (first defined at %s)", first.Pos)
		}
		p, err := parsePool(ps, join2("pools", ps.Name))
		if err != nil {
			return err
		}
		c.Pools = append(c.Pools, p)
	}
	return nil
}

func parsePool(s *Section, path string) (*Pool, error) {
	if err := checkDuplicates(s, path); err != nil {
		return nil, err
	}
	p := &Pool{Name: s.Name, Pos: s.Pos}
	for _, v := range s.Values {
		key := join2(path, v.Key)
		var err error
		switch v.Key {
		case "addrs":
			err = parsePoolAddrs(v, key, p)
		case "dns":
			p.DNS, err = parseDNS(v, key)
		default:
			err = otherKey(v, key, poolUnsupportedKeys)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(s.Sections) > 0 {
		sub := s.Sections[0]
		return nil, unknownSection(sub.Pos, join2(path, sub.Name))
	}
	if !p.First.IsValid() {
		return nil, &Error{Pos: s.Pos, Key: join2(path, "addrs"), Msg: "missing: a pool needs addrs (a subnet, a range or an address)"}
	}
	return p, nil
}

// parsePoolAddrs reads addrs: a subnet (10.3.0.0/24, fd00:10::/120), a
// range (10.3.0.10-10.3.0.20) or one address, of either family: an IPv4
// pool answers INTERNAL_IP4_ADDRESS, an IPv6 pool INTERNAL_IP6_ADDRESS
// (RFC 7296 3.15.1).
func parsePoolAddrs(v *Value, key string, p *Pool) error {
	items, err := list(v, key)
	if err != nil {
		return err
	}
	if len(items) != 1 {
		return invalid(v.Pos, key, "takes one subnet, range or address, not a list of %d", len(items))
	}
	s := items[0]
	p.Addrs = s
	var first, last netip.Addr
	switch lo, hi, isRange := strings.Cut(s, "-"); {
	case strings.Contains(s, "/"):
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			return invalid(v.Pos, key, "invalid subnet %q", s)
		}
		if pr.Addr().Is4In6() {
			pr = netip.PrefixFrom(pr.Addr().Unmap(), max(pr.Bits()-96, 0))
		}
		first, last, p.Limited = subnetPool(pr)
	case isRange:
		a, errA := netip.ParseAddr(strings.TrimSpace(lo))
		b, errB := netip.ParseAddr(strings.TrimSpace(hi))
		a, b = a.Unmap(), b.Unmap()
		if errA != nil || errB != nil || a.Is4() != b.Is4() || b.Less(a) || a.Zone() != "" || b.Zone() != "" {
			return invalid(v.Pos, key, "invalid address range %q", s)
		}
		if ha, hb := a.As16(), b.As16(); a.Is6() && [12]byte(ha[:12]) != [12]byte(hb[:12]) {
			// strongSwan's mem_pool_create_range counts a range in 32
			// bits: the addresses may differ in their last 32 bits only.
			return invalid(v.Pos, key, "address range %q too large (IPv6 range ends may differ in their last 32 bits only, as in strongSwan)", s)
		}
		first, last = a, b
	default:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return invalid(v.Pos, key, "%q is not a subnet, an address range or an address", s)
		}
		first, last = a.Unmap(), a.Unmap()
	}
	if first.IsUnspecified() || first.IsMulticast() || last.IsMulticast() || first.IsLoopback() ||
		(first.Is6() && (first.IsLinkLocalUnicast() || last.IsLinkLocalUnicast())) {
		return invalid(v.Pos, key, "pool %q holds no assignable addresses", s)
	}
	p.First, p.Last = first, last
	return nil
}

// poolLimit is the most host bits of a subnet pool strongSwan uses
// (mem_pool.c POOL_LIMIT): a larger subnet, such as an IPv6 /64, is
// limited to its first 2^31 addresses (fd00::/64 leases from fd00::/97),
// so leases and pool sizes are the same as charon's.
const poolLimit = 31

// subnetPool is the part of a subnet that strongSwan's mem_pool hands
// out: from the given address (the network address itself is skipped) to
// the one before the last of the subnet (IPv4's broadcast address; for
// IPv6, as in strongSwan, the all-ones host too); a subnet of one or two
// addresses is used whole. Past poolLimit host bits only the first 2^31
// addresses count (limited reports that).
func subnetPool(pr netip.Prefix) (first, last netip.Addr, limited bool) {
	base := pr.Addr()
	hostBits := base.BitLen() - pr.Bits()
	if hostBits > poolLimit {
		hostBits, limited = poolLimit, true
	}
	net := netip.PrefixFrom(base, base.BitLen()-hostBits).Masked().Addr()
	// The host part is at most 31 bits: only the last four octets change.
	b := net.AsSlice()
	n := len(b)
	low := binary.BigEndian.Uint32(b[n-4:]) | (uint32(1)<<hostBits - 1)
	binary.BigEndian.PutUint32(b[n-4:], low)
	end, _ := netip.AddrFromSlice(b)
	if hostBits <= 1 {
		return base, end, limited
	}
	first = base
	if first == net {
		first = net.Next()
	}
	return first, end.Prev(), limited
}

// parseDNS reads a pool's dns list: name servers of either family, sent
// with the lease as INTERNAL_IP4_DNS or INTERNAL_IP6_DNS (RFC 7296
// 3.15.1) by their own family, as strongSwan's vici attributes do.
func parseDNS(v *Value, key string) ([]netip.Addr, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, it := range items {
		a, err := netip.ParseAddr(it)
		if err != nil || a.Zone() != "" {
			return nil, invalid(v.Pos, key, "invalid name server address %q", it)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, invalid(v.Pos, key, "invalid name server address %q", it)
		}
		out = append(out, a)
	}
	if len(out) > 8 {
		// The receiving side keeps a bounded few (strongSwan and ours).
		return nil, invalid(v.Pos, key, "too many name servers (%d, at most 8)", len(out))
	}
	return out, nil
}

// parseVIPs reads connections.<conn>.vips: the virtual IPs to ask the
// responder for, 0.0.0.0 or :: for any address of that family or a
// specific address as a hint (the responder may assign another). One per
// family at most: vips = 0.0.0.0, :: asks for an address of each
// (INTERNAL_IP4_ADDRESS and INTERNAL_IP6_ADDRESS, RFC 7296 3.15.1).
func parseVIPs(v *Value, key string) ([]netip.Addr, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, it := range items {
		a, err := netip.ParseAddr(it)
		if err != nil || a.Zone() != "" {
			return nil, invalid(v.Pos, key, "invalid virtual IP %q (want 0.0.0.0, :: or an address)", it)
		}
		a = a.Unmap()
		if a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return nil, invalid(v.Pos, key, "invalid virtual IP %q (want 0.0.0.0, :: or a unicast address)", it)
		}
		for _, prev := range out {
			if prev.Is4() == a.Is4() {
				return nil, invalid(v.Pos, key, "one virtual IP per address family at most (a responder assigns one address per family)")
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// parsePoolRefs reads connections.<conn>.pools; the names are checked
// against the pools section once the whole file is read (checkPoolRefs).
func parsePoolRefs(v *Value, key string, conn *Connection) error {
	items, err := list(v, key)
	if err != nil {
		return err
	}
	for i, it := range items {
		for _, prev := range items[:i] {
			if prev == it {
				return invalid(v.Pos, key, "pool %q named twice", it)
			}
		}
	}
	conn.Pools, conn.PoolsPos = items, v.Pos
	return nil
}

// checkPoolRefs makes sure every pool a connection names exists (known
// reports the pools defined elsewhere, such as the config file's for a
// connection loaded over VICI).
func (c *Config) checkPoolRefs(known func(string) bool) error {
	for _, conn := range c.Connections {
		for _, name := range conn.Pools {
			if c.Pool(name) == nil && (known == nil || !known(name)) {
				return invalid(conn.PoolsPos, join2(join2("connections", conn.Name), "pools"), "unknown pool %q (no pools.%s section)", name, name)
			}
		}
	}
	return nil
}
