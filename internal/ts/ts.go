// Package ts implements IKEv2 traffic selectors (RFC 7296 3.13.1, RFC 4301
// 4.4.1): an address range, an IP protocol and a port range, with the set
// operations that IKE narrowing (RFC 7296 2.9) and the data plane's policy
// checks need.
//
// The package is a leaf: it imports net/netip and the standard library only.
package ts

import (
	"net/netip"
)

// Port range bounds. RFC 7296 3.13.1: 0-65535 means any port; a start port
// of 65535 with an end port of 0 means OPAQUE (RFC 4301 4.4.1.1: the port is
// not available, e.g. in a non-initial fragment).
const (
	anyPortStart uint16 = 0
	anyPortEnd   uint16 = 65535
)

// Selector is an IKEv2 traffic selector (RFC 7296 3.13.1): an address range,
// an IP protocol (0 = any) and a port range (0-65535 = any).
//
// For ICMP and ICMPv6 the port fields hold the message type in the high octet
// and the code in the low octet (RFC 7296 3.13.1, RFC 4301 4.4.1.3).
//
// A Selector whose Start is the zero netip.Addr is "dynamic" (strongSwan's
// local_ts/remote_ts = dynamic): its address range is filled in later with
// the IKE or virtual address, see Resolve. Dynamic and otherwise invalid
// selectors (mixed families, Start > End, zoned addresses) contain, match and
// intersect nothing.
type Selector struct {
	Proto              uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

// FromPrefix returns the selector covering every address in p, for any
// protocol and all ports.
func FromPrefix(p netip.Prefix) Selector {
	p = p.Masked()
	return Selector{
		StartPort: anyPortStart,
		EndPort:   anyPortEnd,
		Start:     p.Addr(),
		End:       lastAddr(p),
	}
}

// FromRange returns the selector covering start..end inclusive, for any
// protocol and all ports. It does not validate its arguments; an invalid
// range gives a selector that matches nothing.
func FromRange(start, end netip.Addr) Selector {
	return Selector{StartPort: anyPortStart, EndPort: anyPortEnd, Start: start, End: end}
}

// Is4 reports whether the selector is an IPv4 address range
// (TS_IPV4_ADDR_RANGE, RFC 7296 3.13.1).
func (s Selector) Is4() bool { return s.Start.Is4() }

// Is6 reports whether the selector is an IPv6 address range
// (TS_IPV6_ADDR_RANGE, RFC 7296 3.13.1).
func (s Selector) Is6() bool { return s.Start.Is6() }

// IsDynamic reports whether the selector has no address range yet
// (strongSwan's "dynamic"); Resolve fills it in.
func (s Selector) IsDynamic() bool { return !s.Start.IsValid() && !s.End.IsValid() }

// Resolve returns s with a dynamic address range replaced by the single
// address addr; a selector that already has addresses is returned unchanged.
func (s Selector) Resolve(addr netip.Addr) Selector {
	if s.IsDynamic() {
		s.Start, s.End = addr, addr
	}
	return s
}

// IsAnyPort reports whether the selector covers all ports (0-65535).
func (s Selector) IsAnyPort() bool { return s.StartPort == anyPortStart && s.EndPort == anyPortEnd }

// IsOpaque reports whether the port range is OPAQUE (start 65535, end 0;
// RFC 7296 3.13.1, RFC 4301 4.4.1.1).
func (s Selector) IsOpaque() bool { return s.StartPort == anyPortEnd && s.EndPort == anyPortStart }

// IsHost reports whether the address range holds exactly one address.
func (s Selector) IsHost() bool { return s.validAddrs() && s.Start == s.End }

// Prefix returns the range as a single CIDR prefix if it is exactly one.
func (s Selector) Prefix() (netip.Prefix, bool) {
	if !s.validAddrs() {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= s.Start.BitLen(); bits++ {
		p := netip.PrefixFrom(s.Start, bits).Masked()
		if p.Addr() == s.Start && lastAddr(p) == s.End {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// validAddrs reports whether Start..End is a non-empty range in one family.
func (s Selector) validAddrs() bool {
	if !s.Start.IsValid() || !s.End.IsValid() {
		return false
	}
	if s.Start.BitLen() != s.End.BitLen() || s.Start.Zone() != "" || s.End.Zone() != "" {
		return false
	}
	return s.Start.Compare(s.End) <= 0
}

// validPorts reports whether the port range is non-empty or OPAQUE.
func (s Selector) validPorts() bool { return s.StartPort <= s.EndPort || s.IsOpaque() }

// Valid reports whether the selector has a usable address range in one
// family and a non-empty (or OPAQUE) port range.
func (s Selector) Valid() bool { return s.validAddrs() && s.validPorts() }

// Contains reports whether every packet that o selects is also selected by s.
// Protocol 0 in s includes every protocol; the port range 0-65535 includes
// every port and OPAQUE (RFC 4301 4.4.1.1: "ANY includes OPAQUE").
func (s Selector) Contains(o Selector) bool {
	if !s.Valid() || !o.Valid() || s.Start.BitLen() != o.Start.BitLen() {
		return false
	}
	if s.Proto != 0 && s.Proto != o.Proto {
		return false
	}
	if s.Start.Compare(o.Start) > 0 || s.End.Compare(o.End) < 0 {
		return false
	}
	switch {
	case s.IsAnyPort():
		return true
	case s.IsOpaque() || o.IsOpaque():
		return s.IsOpaque() && o.IsOpaque()
	default:
		return s.StartPort <= o.StartPort && o.EndPort <= s.EndPort
	}
}

// Intersect returns the selector that selects exactly the packets selected by
// both s and o, and false if there are none (different families, protocols,
// or disjoint address or port ranges).
func (s Selector) Intersect(o Selector) (Selector, bool) {
	r, m := s.IntersectWhy(o)
	return r, m == Overlap
}

// IntersectWhy is Intersect that says why two selectors have nothing in
// common: the first of family, protocol, addresses and ports that
// differs (Overlap if they intersect).
func (s Selector) IntersectWhy(o Selector) (Selector, Mismatch) {
	switch {
	case !s.Valid() || !o.Valid():
		return Selector{}, MismatchInvalid
	case s.Start.BitLen() != o.Start.BitLen():
		return Selector{}, MismatchFamily
	}
	var r Selector
	switch {
	case s.Proto == 0:
		r.Proto = o.Proto
	case o.Proto == 0 || o.Proto == s.Proto:
		r.Proto = s.Proto
	default:
		return Selector{}, MismatchProtocol
	}
	r.Start = maxAddr(s.Start, o.Start)
	r.End = minAddr(s.End, o.End)
	if r.Start.Compare(r.End) > 0 {
		return Selector{}, MismatchAddresses
	}
	switch {
	case s.IsAnyPort():
		r.StartPort, r.EndPort = o.StartPort, o.EndPort
	case o.IsAnyPort():
		r.StartPort, r.EndPort = s.StartPort, s.EndPort
	case s.IsOpaque() || o.IsOpaque():
		if !s.IsOpaque() || !o.IsOpaque() {
			return Selector{}, MismatchPorts
		}
		r.StartPort, r.EndPort = s.StartPort, s.EndPort
	default:
		r.StartPort = max(s.StartPort, o.StartPort)
		r.EndPort = min(s.EndPort, o.EndPort)
		if r.StartPort > r.EndPort {
			return Selector{}, MismatchPorts
		}
	}
	return r, Overlap
}

// Mismatch says why two selectors do not intersect.
type Mismatch uint8

// The reasons IntersectWhy reports, in the order it checks them.
const (
	Overlap           Mismatch = iota // they intersect
	MismatchInvalid                   // one is dynamic or otherwise invalid
	MismatchFamily                    // IPv4 against IPv6
	MismatchProtocol                  // different IP protocols
	MismatchAddresses                 // disjoint address ranges
	MismatchPorts                     // disjoint port ranges (or OPAQUE against ports)
)

func (m Mismatch) String() string {
	switch m {
	case Overlap:
		return "overlap"
	case MismatchInvalid:
		return "invalid or unresolved selector"
	case MismatchFamily:
		return "different address families"
	case MismatchProtocol:
		return "different IP protocols"
	case MismatchAddresses:
		return "disjoint address ranges"
	case MismatchPorts:
		return "disjoint port ranges"
	}
	return "Mismatch(?)"
}

// Match reports whether a packet with the given address, IP protocol and
// port (the source or destination side, as appropriate) is selected by s.
// The port is ignored if s covers all ports. For ICMP the port is
// type<<8 | code. An OPAQUE selector matches no packet here: it selects only
// packets whose ports are not available (RFC 4301 4.4.1.1), such as
// non-initial fragments, and Match is always given a port.
func (s Selector) Match(addr netip.Addr, proto uint8, port uint16) bool {
	if !s.Valid() || !addr.IsValid() || addr.BitLen() != s.Start.BitLen() || addr.Zone() != "" {
		return false
	}
	if s.Proto != 0 && s.Proto != proto {
		return false
	}
	if s.Start.Compare(addr) > 0 || s.End.Compare(addr) < 0 {
		return false
	}
	switch {
	case s.IsAnyPort():
		return true
	case s.IsOpaque():
		return false
	default:
		return s.StartPort <= port && port <= s.EndPort
	}
}

// MatchAny reports whether any selector in list matches (see Match).
func MatchAny(list []Selector, addr netip.Addr, proto uint8, port uint16) bool {
	for _, s := range list {
		if s.Match(addr, proto, port) {
			return true
		}
	}
	return false
}

// Narrow implements the responder's narrowing of RFC 7296 2.9: the
// intersections of each offered selector with each configured one, in
// offered order (then configured order), without duplicates. The result is
// empty if nothing overlaps, in which case the responder answers
// TS_UNACCEPTABLE. Dynamic configured selectors must be resolved first; they
// intersect nothing.
func Narrow(offered, configured []Selector) []Selector {
	var out []Selector
	for _, o := range offered {
		for _, c := range configured {
			r, ok := o.Intersect(c)
			if !ok || contains(out, r) {
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

func contains(list []Selector, s Selector) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Prefixes returns the minimal list of CIDR prefixes that together cover
// exactly the address range Start..End, in ascending order (for routes and
// for kernels that only take subnets). It returns nil for a dynamic or
// invalid selector.
func (s Selector) Prefixes() []netip.Prefix {
	if !s.validAddrs() {
		return nil
	}
	var out []netip.Prefix
	cur := s.Start
	for {
		// The largest aligned block that starts at cur and ends at or
		// before End: the greedy choice gives the minimal cover.
		var p netip.Prefix
		for bits := 0; bits <= cur.BitLen(); bits++ {
			p = netip.PrefixFrom(cur, bits).Masked()
			if p.Addr() == cur && lastAddr(p).Compare(s.End) <= 0 {
				break
			}
		}
		out = append(out, p)
		last := lastAddr(p)
		if last == s.End {
			return out
		}
		cur = last.Next()
	}
}

// lastAddr returns the highest address in p (host bits all ones).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	bits := p.Bits()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], bits)
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], bits)
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] |= 0xff >> bits
			bits = 0
		default:
			b[i] = 0xff
		}
	}
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}
