package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"strings"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// MatchIdentity checks that the identity a peer asserts in IDi/IDr is bound
// to its certificate (RFC 7296 3.5 leaves the binding to policy; RFC 4945
// 3.1 and strongSwan's rules): addresses, names and e-mail addresses must
// appear as subjectAltName entries of the matching kind, a DN must be the
// certificate's subject, a key ID its subjectKeyIdentifier or the SHA-1 of
// its public key. A certificate's subject CN never stands in for a name.
func MatchIdentity(c *x509.Certificate, t wire.IDType, data []byte) error {
	ok := false
	switch t {
	case wire.IDIPv4Addr, wire.IDIPv6Addr:
		ip := net.IP(data)
		for _, a := range c.IPAddresses {
			if a.Equal(ip) && (len(data) == 4) == (a.To4() != nil) {
				ok = true
			}
		}
	case wire.IDFQDN:
		name := strings.TrimSuffix(string(data), ".")
		for _, d := range c.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(d, "."), name) {
				ok = true
			}
		}
	case wire.IDRFC822Addr:
		for _, e := range c.EmailAddresses {
			if strings.EqualFold(e, string(data)) {
				ok = true
			}
		}
	case wire.IDDERASN1DN:
		ok = SameDN(c.RawSubject, data)
	case wire.IDKeyID:
		if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, data) {
			ok = true
		} else if pk, err := subjectPublicKey(c.RawSubjectPublicKeyInfo); err == nil {
			h := sha1.Sum(pk)
			ok = bytes.Equal(h[:], data)
		}
	default:
		return fmt.Errorf("%w: %v cannot be checked against a certificate", ErrIDNotBound, t)
	}
	if !ok {
		return fmt.Errorf("%w: %v %s not in certificate %q", ErrIDNotBound, t, describeID(t, data), c.Subject)
	}
	return nil
}

// SameDN compares two DER distinguished names: equal octets, or the same
// attributes in the same order with values equal as strings (the string
// type, PrintableString or UTF8String, may differ; RFC 5280 7.1 is more
// lenient still, strongSwan about this strict).
func SameDN(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) != 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		for j := range ra[i] {
			x, y := ra[i][j], rb[i][j]
			if !x.Type.Equal(y.Type) || fmt.Sprint(x.Value) != fmt.Sprint(y.Value) {
				return false
			}
		}
	}
	return true
}

func describeID(t wire.IDType, data []byte) string {
	switch t {
	case wire.IDIPv4Addr, wire.IDIPv6Addr:
		return net.IP(data).String()
	case wire.IDFQDN, wire.IDRFC822Addr:
		return fmt.Sprintf("%q", data)
	case wire.IDDERASN1DN:
		var r pkix.RDNSequence
		if _, err := asn1.Unmarshal(data, &r); err == nil {
			var n pkix.Name
			n.FillFromRDNSequence(&r)
			return fmt.Sprintf("%q", n.String())
		}
	}
	return fmt.Sprintf("%x", data)
}
