package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Virtual IP pools and requests (RFC 7296 2.19, 3.15): the top-level
// pools section and the connection keys vips and pools, with the
// semantics of swanctl.conf(5).

// Pool is one pools.<name> section: the addresses a responder leases to
// remote-access peers (INTERNAL_IP4_ADDRESS) and the attributes it sends
// with them.
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
	// DNS are the name servers sent as INTERNAL_IP4_DNS with a lease.
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

// parsePoolAddrs reads addrs: a subnet (10.3.0.0/24), a range
// (10.3.0.10-10.3.0.20) or one address, IPv4 only for now (IPv6 virtual
// IPs, INTERNAL_IP6_ADDRESS, are not wired or tested yet).
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
		if !pr.Addr().Is4() {
			return ipv6Pool(v, key, s)
		}
		first, last = subnetPool(pr)
	case isRange:
		a, errA := netip.ParseAddr(strings.TrimSpace(lo))
		b, errB := netip.ParseAddr(strings.TrimSpace(hi))
		if errA != nil || errB != nil || a.Is4() != b.Is4() || b.Less(a) || a.Zone() != "" || b.Zone() != "" {
			return invalid(v.Pos, key, "invalid address range %q", s)
		}
		first, last = a, b
	default:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return invalid(v.Pos, key, "%q is not a subnet, an address range or an address", s)
		}
		first, last = a, a
	}
	if !first.Unmap().Is4() {
		return ipv6Pool(v, key, s)
	}
	if first.IsUnspecified() || first.IsMulticast() || last.IsMulticast() || first.IsLoopback() {
		return invalid(v.Pos, key, "pool %q holds no assignable addresses", s)
	}
	p.First, p.Last = first.Unmap(), last.Unmap()
	return nil
}

func ipv6Pool(v *Value, key, s string) error {
	return &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("IPv6 pool %q not supported yet (IPv4 only)", s), Err: ErrUnsupported}
}

// subnetPool is the part of a subnet that strongSwan's mem_pool hands
// out: from the given address (the network address itself is skipped) to
// the one before the broadcast address; /31 and /32 are used whole.
func subnetPool(pr netip.Prefix) (first, last netip.Addr) {
	base := pr.Addr().Unmap()
	net := pr.Masked().Addr().Unmap()
	b := net.As4()
	host := uint32(1)<<(32-pr.Bits()) - 1
	if pr.Bits() == 0 {
		host = ^uint32(0)
	}
	bc := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	bcast := netip.AddrFrom4([4]byte{byte(bc >> 24), byte(bc >> 16), byte(bc >> 8), byte(bc)})
	if pr.Bits() >= 31 {
		return base, bcast
	}
	first = base
	if first == net {
		first = net.Next()
	}
	return first, bcast.Prev()
}

// parseDNS reads a pool's dns list: IPv4 name servers, sent as
// INTERNAL_IP4_DNS (RFC 7296 3.15.1) with the lease.
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
		if !a.Unmap().Is4() {
			return nil, &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("IPv6 name server %q not supported yet (INTERNAL_IP4_DNS only)", it), Err: ErrUnsupported}
		}
		out = append(out, a.Unmap())
	}
	if len(out) > 8 {
		// The receiving side keeps a bounded few (strongSwan and ours).
		return nil, invalid(v.Pos, key, "too many name servers (%d, at most 8)", len(out))
	}
	return out, nil
}

// parseVIPs reads connections.<conn>.vips: the virtual IPs to ask the
// responder for, 0.0.0.0 for any address or a specific address as a hint
// (the responder may assign another). One IPv4 address at most: IPv6
// virtual IPs are not wired or tested yet.
func parseVIPs(v *Value, key string) ([]netip.Addr, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, it := range items {
		a, err := netip.ParseAddr(it)
		if err != nil || a.Zone() != "" {
			return nil, invalid(v.Pos, key, "invalid virtual IP %q (want 0.0.0.0 or an IPv4 address)", it)
		}
		a = a.Unmap()
		if !a.Is4() {
			return nil, &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("IPv6 virtual IP %q not supported yet (IPv4 only)", it), Err: ErrUnsupported}
		}
		if a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return nil, invalid(v.Pos, key, "invalid virtual IP %q (want 0.0.0.0 or a unicast IPv4 address)", it)
		}
		if len(out) > 0 {
			return nil, invalid(v.Pos, key, "one IPv4 virtual IP at most (a responder assigns one address per family)")
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
