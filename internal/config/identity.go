package config

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// Identity is an IKE identity as carried in an IDi/IDr payload (RFC 7296
// 3.5). A zero Type means "any" (%any): it matches every peer identity and
// is never sent.
type Identity struct {
	Type ike.IDType
	Data []byte
}

// IsAny reports whether id is the wildcard identity (%any).
func (id Identity) IsAny() bool { return id.Type == 0 }

// ParseIdentity converts strongSwan's identity syntax (swanctl.conf id,
// secrets id) into an ID payload type and data, the way strongSwan's
// identification_create_from_string does:
//
//	C=CH, O=strongSwan, CN=moon    contains '=': ID_DER_ASN1_DN (DER of the RDN
//	                               sequence, attributes in the order written)
//	192.0.2.1, 2001:db8::1         ID_IPV4_ADDR, ID_IPV6_ADDR
//	moon@strongswan.org            contains '@': ID_RFC822_ADDR
//	@moon.strongswan.org           leading '@': ID_FQDN without the '@'
//	@@moon                         ID_RFC822_ADDR "moon"
//	@#0123abcd                     ID_KEY_ID with the hex-decoded bytes
//	moon.strongswan.org            anything else: ID_FQDN
//	%any, %any6, *, 0.0.0.0, ::    any (zero Type)
//
// Explicit type prefixes are accepted too: ipv4:, ipv6:, fqdn:, dns:,
// email:, rfc822:, userfqdn:, asn1dn:, keyid: (followed by text, or by #hex).
func ParseIdentity(s string) (Identity, error) {
	if s == "" {
		return Identity{}, errors.New("empty identity")
	}
	if id, ok, err := parsePrefixedIdentity(s); ok {
		return id, err
	}
	if strings.ContainsRune(s, '=') {
		der, err := encodeDN(s)
		if err != nil {
			return Identity{}, err
		}
		return Identity{Type: ike.IDDERASN1DN, Data: der}, nil
	}
	if !strings.ContainsRune(s, '@') {
		switch s {
		case "%any", "%any6", "*", "0.0.0.0", "::", "0::0":
			return Identity{}, nil
		}
		if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
			if ip.Is4() {
				b := ip.As4()
				return Identity{Type: ike.IDIPv4Addr, Data: b[:]}, nil
			}
			b := ip.As16()
			return Identity{Type: ike.IDIPv6Addr, Data: b[:]}, nil
		}
		return Identity{Type: ike.IDFQDN, Data: []byte(s)}, nil
	}
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		switch {
		case strings.HasPrefix(rest, "#"):
			return keyID(rest[1:])
		case strings.HasPrefix(rest, "@"):
			return nonEmpty(ike.IDRFC822Addr, rest[1:])
		default:
			return nonEmpty(ike.IDFQDN, rest)
		}
	}
	return Identity{Type: ike.IDRFC822Addr, Data: []byte(s)}, nil
}

func nonEmpty(t ike.IDType, s string) (Identity, error) {
	if s == "" {
		return Identity{}, errors.New("empty identity")
	}
	return Identity{Type: t, Data: []byte(s)}, nil
}

func keyID(h string) (Identity, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(h, "0x"))
	if err != nil || len(b) == 0 {
		return Identity{}, fmt.Errorf("key ID %q is not hex", h)
	}
	return Identity{Type: ike.IDKeyID, Data: b}, nil
}

func parsePrefixedIdentity(s string) (Identity, bool, error) {
	prefix, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Identity{}, false, nil
	}
	switch strings.ToLower(prefix) {
	case "ipv4":
		ip, err := netip.ParseAddr(rest)
		if err != nil || !ip.Is4() {
			return Identity{}, true, fmt.Errorf("%q is not an IPv4 address", rest)
		}
		b := ip.As4()
		return Identity{Type: ike.IDIPv4Addr, Data: b[:]}, true, nil
	case "ipv6":
		ip, err := netip.ParseAddr(rest)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return Identity{}, true, fmt.Errorf("%q is not an IPv6 address", rest)
		}
		b := ip.As16()
		return Identity{Type: ike.IDIPv6Addr, Data: b[:]}, true, nil
	case "fqdn", "dns":
		id, err := nonEmpty(ike.IDFQDN, rest)
		return id, true, err
	case "email", "rfc822", "userfqdn":
		id, err := nonEmpty(ike.IDRFC822Addr, rest)
		return id, true, err
	case "asn1dn":
		der, err := encodeDN(rest)
		return Identity{Type: ike.IDDERASN1DN, Data: der}, true, err
	case "keyid":
		if h, ok := strings.CutPrefix(rest, "#"); ok {
			id, err := keyID(h)
			return id, true, err
		}
		id, err := nonEmpty(ike.IDKeyID, rest)
		return id, true, err
	}
	return Identity{}, false, nil
}

// dnAttributes maps the attribute names strongSwan's atodn knows (case
// insensitive) to their OIDs (RFC 4519, RFC 2985, RFC 4524).
var dnAttributes = map[string]asn1.ObjectIdentifier{
	"cn":           {2, 5, 4, 3},
	"s":            {2, 5, 4, 4},
	"sn":           {2, 5, 4, 4},
	"surname":      {2, 5, 4, 4},
	"serialnumber": {2, 5, 4, 5},
	"c":            {2, 5, 4, 6},
	"l":            {2, 5, 4, 7},
	"st":           {2, 5, 4, 8},
	"street":       {2, 5, 4, 9},
	"o":            {2, 5, 4, 10},
	"ou":           {2, 5, 4, 11},
	"t":            {2, 5, 4, 12},
	"title":        {2, 5, 4, 12},
	"d":            {2, 5, 4, 13},
	"postalcode":   {2, 5, 4, 17},
	"n":            {2, 5, 4, 41},
	"name":         {2, 5, 4, 41},
	"g":            {2, 5, 4, 42},
	"gn":           {2, 5, 4, 42},
	"givenname":    {2, 5, 4, 42},
	"i":            {2, 5, 4, 43},
	"initials":     {2, 5, 4, 43},
	"dnq":          {2, 5, 4, 46},
	"dnqualifier":  {2, 5, 4, 46},
	"pseudonym":    {2, 5, 4, 65},
	"e":            {1, 2, 840, 113549, 1, 9, 1},
	"email":        {1, 2, 840, 113549, 1, 9, 1},
	"emailaddress": {1, 2, 840, 113549, 1, 9, 1},
	"uid":          {0, 9, 2342, 19200300, 100, 1, 1},
	"dc":           {0, 9, 2342, 19200300, 100, 1, 25},
}

// ia5Attributes are encoded as IA5String (PKCS #9 emailAddress, RFC 4519
// domainComponent), like strongSwan does; the others as PrintableString
// when possible, else UTF8String (encoding/asn1's choice for a Go string).
var ia5Attributes = map[string]bool{"e": true, "email": true, "emailaddress": true, "dc": true}

// encodeDN encodes an LDAP-style ("C=CH, O=strongSwan, CN=moon") or
// OpenSSL-style ("/C=CH/O=strongSwan/CN=moon") distinguished name as the
// DER of an X.501 RDNSequence, one attribute per RDN, in the order written.
// A separator inside a value is escaped with a backslash.
func encodeDN(s string) ([]byte, error) {
	sep := byte(',')
	if strings.HasPrefix(s, "/") {
		sep = '/'
		s = s[1:]
	}
	var rdns pkix.RDNSequence
	for _, part := range splitEscaped(s, sep) {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("distinguished name %q has an empty component", s)
		}
		name, val, ok := strings.Cut(part, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("distinguished name component %q is not TYPE=VALUE", part)
		}
		oid, ok := dnAttributes[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("distinguished name attribute %q: %w", name, ErrUnsupported)
		}
		var v any = val
		if ia5Attributes[strings.ToLower(name)] {
			for i := 0; i < len(val); i++ {
				if val[i] >= 0x80 {
					return nil, fmt.Errorf("distinguished name attribute %s=%q: not ASCII", name, val)
				}
			}
			v = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(val)}
		}
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}})
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, fmt.Errorf("distinguished name %q: %v", s, err)
	}
	return der, nil
}

// splitEscaped splits s at sep, except where sep is preceded by a backslash;
// "\\" stands for a backslash.
func splitEscaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == sep || s[i+1] == '\\'):
			cur.WriteByte(s[i+1])
			i++
		case c == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}
