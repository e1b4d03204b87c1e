package config

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		in   string
		typ  ike.IDType
		data []byte
	}{
		{"192.0.2.1", ike.IDIPv4Addr, []byte{192, 0, 2, 1}},
		{"2001:db8::1", ike.IDIPv6Addr, unhex("20010db8000000000000000000000001")},
		{"moon.strongswan.org", ike.IDFQDN, []byte("moon.strongswan.org")},
		{"@moon.strongswan.org", ike.IDFQDN, []byte("moon.strongswan.org")},
		{"carol@strongswan.org", ike.IDRFC822Addr, []byte("carol@strongswan.org")},
		{"@@carol", ike.IDRFC822Addr, []byte("carol")},
		{"@#0123abCD", ike.IDKeyID, unhex("0123abcd")},
		{"fe80::1%eth0", ike.IDFQDN, []byte("fe80::1%eth0")}, // not an address for an ID payload
		{"ipv4:192.0.2.1", ike.IDIPv4Addr, []byte{192, 0, 2, 1}},
		{"ipv6:2001:db8::1", ike.IDIPv6Addr, unhex("20010db8000000000000000000000001")},
		{"fqdn:192.0.2.1", ike.IDFQDN, []byte("192.0.2.1")},
		{"dns:moon", ike.IDFQDN, []byte("moon")},
		{"email:carol", ike.IDRFC822Addr, []byte("carol")},
		{"rfc822:carol@x", ike.IDRFC822Addr, []byte("carol@x")},
		{"userfqdn:carol@x", ike.IDRFC822Addr, []byte("carol@x")},
		{"keyid:#00ff", ike.IDKeyID, []byte{0x00, 0xff}},
		{"keyid:text", ike.IDKeyID, []byte("text")},
		{"%any", 0, nil},
		{"%any6", 0, nil},
		{"*", 0, nil},
		{"0.0.0.0", 0, nil},
		{"::", 0, nil},
	}
	for _, tt := range tests {
		id, err := ParseIdentity(tt.in)
		if err != nil {
			t.Errorf("ParseIdentity(%q): %v", tt.in, err)
			continue
		}
		if id.Type != tt.typ || !bytes.Equal(id.Data, tt.data) {
			t.Errorf("ParseIdentity(%q) = %d %x, want %d %x", tt.in, id.Type, id.Data, tt.typ, tt.data)
		}
		if id.IsAny() != (tt.typ == 0) {
			t.Errorf("ParseIdentity(%q).IsAny() = %v", tt.in, id.IsAny())
		}
	}
}

// TestParseIdentityDN checks the DER of a distinguished name byte by byte
// (X.690 DER of an X.501 RDNSequence; PrintableString values, as strongSwan
// encodes them).
func TestParseIdentityDN(t *testing.T) {
	want := unhex("3031" +
		"310b" + "3009" + "0603550406" + "1302" + hex.EncodeToString([]byte("CH")) +
		"3113" + "3011" + "060355040a" + "130a" + hex.EncodeToString([]byte("strongSwan")) +
		"310d" + "300b" + "0603550403" + "1304" + hex.EncodeToString([]byte("moon")))
	for _, in := range []string{
		"C=CH, O=strongSwan, CN=moon",
		"c=CH,o=strongSwan,cn=moon",
		"/C=CH/O=strongSwan/CN=moon",
		"asn1dn:C=CH, O=strongSwan, CN=moon",
	} {
		id, err := ParseIdentity(in)
		if err != nil {
			t.Fatalf("ParseIdentity(%q): %v", in, err)
		}
		if id.Type != ike.IDDERASN1DN || !bytes.Equal(id.Data, want) {
			t.Errorf("ParseIdentity(%q) = %d %x, want DN %x", in, id.Type, id.Data, want)
		}
	}

	// Round trip through crypto/x509/pkix, with an email (IA5String), an
	// escaped comma and a non-ASCII value (UTF8String).
	id, err := ParseIdentity(`C=CH, O=Linux strongSwan\, Inc., OU=Zürich, E=moon@strongswan.org, CN=moon.strongswan.org`)
	if err != nil {
		t.Fatal(err)
	}
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(id.Data, &rdns); err != nil || len(rest) != 0 {
		t.Fatalf("DN does not parse back: %v", err)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdns)
	if name.Country[0] != "CH" || name.Organization[0] != "Linux strongSwan, Inc." ||
		name.OrganizationalUnit[0] != "Zürich" || name.CommonName != "moon.strongswan.org" {
		t.Errorf("DN parsed back as %+v", name)
	}
	if !bytes.Contains(id.Data, append([]byte{0x16, 19}, "moon@strongswan.org"...)) {
		t.Errorf("email not IA5String: %x", id.Data)
	}
}

func TestParseIdentityErrors(t *testing.T) {
	for _, in := range []string{
		"", "@", "@@", "@#", "@#xyz", "keyid:#", "ipv4:2001:db8::1", "ipv6:192.0.2.1", "fqdn:",
		"CN=moon, XX=y", "CN=", "=moon", "CN=moon,,O=x", "E=müller@x", "CN=\xff",
	} {
		if id, err := ParseIdentity(in); err == nil {
			t.Errorf("ParseIdentity(%q) = %+v, want error", in, id)
		}
	}
	if _, err := ParseIdentity("CN=moon, XX=y"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown DN attribute: %v does not wrap ErrUnsupported", err)
	}
}
