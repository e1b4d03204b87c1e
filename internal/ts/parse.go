package ts

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IP protocol numbers with names (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoICMP    uint8 = 1
	ProtoTCP     uint8 = 6
	ProtoUDP     uint8 = 17
	ProtoGRE     uint8 = 47
	ProtoESP     uint8 = 50
	ProtoAH      uint8 = 51
	ProtoICMPv6  uint8 = 58
	ProtoSCTP    uint8 = 132
	ProtoUDPLite uint8 = 136
)

// protoNames maps the names Parse accepts (as getprotobyname(3) would with
// a stock /etc/protocols) to protocol numbers; the first name of each number
// in protoOrder is the one String prints.
var protoNames = map[string]uint8{
	"icmp":      ProtoICMP,
	"tcp":       ProtoTCP,
	"udp":       ProtoUDP,
	"gre":       ProtoGRE,
	"esp":       ProtoESP,
	"ah":        ProtoAH,
	"icmpv6":    ProtoICMPv6,
	"ipv6-icmp": ProtoICMPv6,
	"sctp":      ProtoSCTP,
	"udplite":   ProtoUDPLite,
}

var protoPrint = map[uint8]string{
	ProtoICMP:    "icmp",
	ProtoTCP:     "tcp",
	ProtoUDP:     "udp",
	ProtoGRE:     "gre",
	ProtoESP:     "esp",
	ProtoAH:      "ah",
	ProtoICMPv6:  "icmpv6",
	ProtoSCTP:    "sctp",
	ProtoUDPLite: "udplite",
}

// serviceNames is a small getservent(3) stand-in: the well-known service
// names people put in selectors, so that "[tcp/http]" works without cgo.
var serviceNames = map[string]uint16{
	"ftp-data":    20,
	"ftp":         21,
	"ssh":         22,
	"telnet":      23,
	"smtp":        25,
	"domain":      53,
	"bootps":      67,
	"bootpc":      68,
	"tftp":        69,
	"http":        80,
	"kerberos":    88,
	"pop3":        110,
	"ntp":         123,
	"imap":        143,
	"imap2":       143,
	"snmp":        161,
	"snmp-trap":   162,
	"bgp":         179,
	"ldap":        389,
	"https":       443,
	"isakmp":      500,
	"syslog":      514,
	"submission":  587,
	"ldaps":       636,
	"imaps":       993,
	"pop3s":       995,
	"openvpn":     1194,
	"l2tp":        1701,
	"radius":      1812,
	"ipsec-nat-t": 4500,
}

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("ts: invalid traffic selector")

func syntaxErr(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrSyntax, s, fmt.Sprintf(format, args...))
}

// Parse parses a traffic selector in strongSwan's swanctl.conf syntax
// (local_ts/remote_ts):
//
//	10.1.0.0/24                 a CIDR subnet (host bits are masked off)
//	10.1.0.5, fec0::1           a single address
//	10.1.0.5-10.1.0.9           an address range ("10.1.0.5..10.1.0.9" too)
//	%any, %any4, %any6          0.0.0.0/0, 0.0.0.0/0, ::/0
//	dynamic                     no address yet (see Selector.Resolve)
//
// optionally followed by a protocol/port restriction in brackets:
//
//	[tcp]  [17]  [any]          protocol name or number
//	[tcp/443]  [tcp/http]       one port (number or service name)
//	[tcp/1024-2048]             a port range
//	[udp/opaque]                OPAQUE ports (RFC 4301 4.4.1.1)
//	[icmp/8]                    ICMP type 8: for ICMP and ICMPv6 a number
//	                            below 256 is a type and is stored as type<<8
//	                            (RFC 7296 3.13.1), as strongSwan does
//
// An empty address part ("[udp]") means dynamic, like "dynamic[udp]".
func Parse(s string) (Selector, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return Selector{}, syntaxErr(in, "empty")
	}
	sel := Selector{StartPort: anyPortStart, EndPort: anyPortEnd}
	addr := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return Selector{}, syntaxErr(in, "missing closing ']'")
		}
		pp := s[i+1 : len(s)-1]
		if strings.ContainsAny(pp, "[]") {
			return Selector{}, syntaxErr(in, "unbalanced brackets")
		}
		addr = strings.TrimSpace(s[:i])
		if err := parseProtoPort(&sel, in, pp); err != nil {
			return Selector{}, err
		}
	} else if strings.ContainsRune(s, ']') {
		return Selector{}, syntaxErr(in, "unbalanced brackets")
	}
	if err := parseAddrs(&sel, in, addr); err != nil {
		return Selector{}, err
	}
	return sel, nil
}

// ParseList parses a comma-separated list of selectors.
func ParseList(s string) ([]Selector, error) {
	var out []Selector
	for _, f := range strings.Split(s, ",") {
		sel, err := Parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, sel)
	}
	return out, nil
}

func parseAddrs(sel *Selector, in, a string) error {
	switch strings.ToLower(a) {
	case "", "dynamic":
		return nil
	case "%any", "%any4":
		*sel = sel.withPrefix(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		return nil
	case "%any6":
		*sel = sel.withPrefix(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
		return nil
	}
	if lo, hi, ok := cutRange(a); ok {
		start, err := parseAddr(in, lo)
		if err != nil {
			return err
		}
		end, err := parseAddr(in, hi)
		if err != nil {
			return err
		}
		if start.BitLen() != end.BitLen() {
			return syntaxErr(in, "range mixes IPv4 and IPv6")
		}
		if start.Compare(end) > 0 {
			return syntaxErr(in, "range start is above its end")
		}
		sel.Start, sel.End = start, end
		return nil
	}
	if strings.ContainsRune(a, '/') {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return syntaxErr(in, "bad subnet %q", a)
		}
		*sel = sel.withPrefix(p)
		return nil
	}
	ip, err := parseAddr(in, a)
	if err != nil {
		return err
	}
	sel.Start, sel.End = ip, ip
	return nil
}

func (s Selector) withPrefix(p netip.Prefix) Selector {
	p = p.Masked()
	s.Start, s.End = p.Addr(), lastAddr(p)
	return s
}

// cutRange splits "a-b" or "a..b" (IPv6 addresses contain neither).
func cutRange(a string) (lo, hi string, ok bool) {
	if lo, hi, ok := strings.Cut(a, ".."); ok {
		return strings.TrimSpace(lo), strings.TrimSpace(hi), true
	}
	if lo, hi, ok := strings.Cut(a, "-"); ok {
		return strings.TrimSpace(lo), strings.TrimSpace(hi), true
	}
	return "", "", false
}

func parseAddr(in, a string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, syntaxErr(in, "bad address %q", a)
	}
	return ip, nil
}

func parseProtoPort(sel *Selector, in, pp string) error {
	proto, port, hasPort := strings.Cut(pp, "/")
	proto = strings.TrimSpace(proto)
	port = strings.TrimSpace(port)
	switch p := strings.ToLower(proto); {
	case p == "" || p == "any":
		sel.Proto = 0
	case protoNames[p] != 0:
		sel.Proto = protoNames[p]
	default:
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return syntaxErr(in, "unknown protocol %q", proto)
		}
		sel.Proto = uint8(n)
	}
	if !hasPort {
		return nil
	}
	switch p := strings.ToLower(port); {
	case p == "" || p == "any":
		return nil
	case p == "opaque":
		sel.StartPort, sel.EndPort = anyPortEnd, anyPortStart
		return nil
	case serviceNames[p] != 0:
		sel.StartPort, sel.EndPort = serviceNames[p], serviceNames[p]
		return nil
	}
	lo, hi, isRange := strings.Cut(port, "-")
	from, err := parsePort(in, lo)
	if err != nil {
		return err
	}
	to := from
	if isRange {
		if to, err = parsePort(in, hi); err != nil {
			return err
		}
	}
	if sel.Proto == ProtoICMP || sel.Proto == ProtoICMPv6 {
		// A bare ICMP type goes in the high octet (RFC 7296 3.13.1);
		// strongSwan's traffic_selector_create does the same.
		if from < 256 {
			from <<= 8
		}
		if to < 256 {
			to <<= 8
		}
	}
	if from > to {
		return syntaxErr(in, "port range start is above its end")
	}
	sel.StartPort, sel.EndPort = from, to
	return nil
}

func parsePort(in, s string) (uint16, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, syntaxErr(in, "bad port %q", s)
	}
	return uint16(n), nil
}

// String formats the selector in strongSwan's style, in a form Parse reads
// back: "10.1.0.0/24", "10.1.0.5/32", "10.1.0.5..10.1.0.9", "dynamic",
// followed by "[tcp]", "[tcp/443]", "[udp/1024-2048]", "[udp/opaque]" or
// "[any/80]" when the selector restricts protocol or ports.
func (s Selector) String() string {
	var b strings.Builder
	switch {
	case s.IsDynamic():
		b.WriteString("dynamic")
	case !s.validAddrs():
		fmt.Fprintf(&b, "%v..%v", s.Start, s.End)
	default:
		if p, ok := s.Prefix(); ok {
			b.WriteString(p.String())
		} else {
			fmt.Fprintf(&b, "%v..%v", s.Start, s.End)
		}
	}
	if s.Proto == 0 && s.IsAnyPort() {
		return b.String()
	}
	b.WriteByte('[')
	if name, ok := protoPrint[s.Proto]; ok {
		b.WriteString(name)
	} else if s.Proto == 0 {
		b.WriteString("any")
	} else {
		b.WriteString(strconv.Itoa(int(s.Proto)))
	}
	switch {
	case s.IsAnyPort():
	case s.IsOpaque():
		b.WriteString("/opaque")
	default:
		b.WriteByte('/')
		b.WriteString(s.portString(s.StartPort))
		if s.EndPort != s.StartPort {
			b.WriteByte('-')
			b.WriteString(s.portString(s.EndPort))
		}
	}
	b.WriteByte(']')
	return b.String()
}

// portString prints an ICMP type with code 0 as the bare type, which Parse
// shifts back; everything else is the plain number.
func (s Selector) portString(p uint16) string {
	if (s.Proto == ProtoICMP || s.Proto == ProtoICMPv6) && p >= 256 && p&0xff == 0 {
		return strconv.Itoa(int(p >> 8))
	}
	return strconv.Itoa(int(p))
}
