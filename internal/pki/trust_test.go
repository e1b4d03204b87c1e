package pki

import (
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/pki/pkitest"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func TestVerifyChain(t *testing.T) {
	root := pkitest.NewCA(t, "Root CA", pkitest.P256)
	inter := root.Intermediate("Intermediate CA", pkitest.RSA2048)
	other := pkitest.NewCA(t, "Other CA", pkitest.P256)
	leafKey := pkitest.NewKey(t, pkitest.Ed25519)
	leaf := inter.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}}, leafKey)
	expired := root.Issue(pkitest.Leaf{CN: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}, leafKey)
	direct := root.Issue(pkitest.Leaf{CN: "sun"}, leafKey)
	revoked := root.Issue(pkitest.Leaf{CN: "revoked"}, leafKey)
	now := time.Now()

	store, err := NewTrustStore([]*x509.Certificate{root.Cert}, []*x509.RevocationList{root.CRL(revoked), other.CRL(direct)})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := store.Verify(leaf, []*x509.Certificate{inter.Cert}, now)
	if err != nil {
		t.Fatalf("leaf via intermediate: %v", err)
	}
	if len(chain) != 3 || chain[2] != root.Cert {
		t.Errorf("chain of %d, want leaf, intermediate, root", len(chain))
	}
	if _, err := store.Verify(direct, nil, now); err != nil {
		t.Errorf("direct leaf (a CRL of another CA lists its serial? it must not count): %v", err)
	}
	for _, tc := range []struct {
		name  string
		leaf  *x509.Certificate
		inter []*x509.Certificate
		want  error
	}{
		{"missing intermediate", leaf, nil, ErrUntrusted},
		{"expired", expired, nil, ErrUntrusted},
		{"unknown CA", other.Issue(pkitest.Leaf{CN: "x"}, leafKey), nil, ErrUntrusted},
		{"revoked", revoked, nil, ErrRevoked},
		{"self-signed CA as leaf of other root", other.Cert, nil, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := store.Verify(tc.leaf, tc.inter, now); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	// A revoked intermediate revokes what it issued.
	store2, _ := NewTrustStore([]*x509.Certificate{root.Cert}, []*x509.RevocationList{root.CRL(inter.Cert)})
	if _, err := store2.Verify(leaf, []*x509.Certificate{inter.Cert}, now); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked intermediate: %v", err)
	}
	// A forged CRL (right issuer name, signed by another key) is ignored.
	forger := pkitest.NewCA(t, "Root CA", pkitest.P256)
	store3, _ := NewTrustStore([]*x509.Certificate{root.Cert}, []*x509.RevocationList{forger.CRL(direct)})
	if _, err := store3.Verify(direct, nil, now); err != nil {
		t.Errorf("forged CRL revoked a certificate: %v", err)
	}
	// A CA certificate must be a CA.
	if _, err := NewTrustStore([]*x509.Certificate{direct}, nil); err == nil {
		t.Error("end-entity certificate accepted as CA")
	}
	var empty *TrustStore
	if _, err := empty.Verify(direct, nil, now); !errors.Is(err, ErrUntrusted) {
		t.Errorf("empty store: %v", err)
	}
}

func TestCertReqData(t *testing.T) {
	a := pkitest.NewCA(t, "A", pkitest.P256)
	b := pkitest.NewCA(t, "B", pkitest.RSA2048)
	store, _ := NewTrustStore([]*x509.Certificate{a.Cert, b.Cert}, nil)
	d := store.CertReqData()
	ha, hb := sha1.Sum(a.Cert.RawSubjectPublicKeyInfo), sha1.Sum(b.Cert.RawSubjectPublicKeyInfo)
	if string(d) != string(ha[:])+string(hb[:]) {
		t.Errorf("CERTREQ data %x, want SHA-1(SPKI) of both CAs", d)
	}
}

func TestMatchIdentity(t *testing.T) {
	ca := pkitest.NewCA(t, "CA", pkitest.P256)
	key := pkitest.NewKey(t, pkitest.P256)
	c := ca.Issue(pkitest.Leaf{
		CN:     "moon.example.org",
		DNS:    []string{"moon.example.org"},
		IPs:    []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
		Emails: []string{"moon@example.org"},
	}, key)
	spk, _ := subjectPublicKey(c.RawSubjectPublicKeyInfo)
	keyHash := sha1.Sum(spk)
	ok := []struct {
		t wire.IDType
		d []byte
	}{
		{wire.IDIPv4Addr, net.ParseIP("192.0.2.1").To4()},
		{wire.IDIPv6Addr, net.ParseIP("2001:db8::1")},
		{wire.IDFQDN, []byte("MOON.example.org")},
		{wire.IDRFC822Addr, []byte("moon@example.org")},
		{wire.IDDERASN1DN, c.RawSubject},
		{wire.IDKeyID, c.SubjectKeyId},
		{wire.IDKeyID, keyHash[:]},
	}
	for _, tc := range ok {
		if len(tc.d) == 0 {
			continue // Go sets no subjectKeyIdentifier on end-entity certificates
		}
		if err := MatchIdentity(c, tc.t, tc.d); err != nil {
			t.Errorf("%v %x: %v", tc.t, tc.d, err)
		}
	}
	other := ca.Issue(pkitest.Leaf{CN: "sun"}, key)
	bad := []struct {
		t wire.IDType
		d []byte
	}{
		{wire.IDIPv4Addr, net.ParseIP("192.0.2.2").To4()},
		{wire.IDIPv6Addr, net.ParseIP("::ffff:192.0.2.1")}, // v4-mapped is not the IPv6 identity
		{wire.IDFQDN, []byte("sun.example.org")},
		{wire.IDFQDN, []byte("example.org")},
		{wire.IDRFC822Addr, []byte("sun@example.org")},
		{wire.IDDERASN1DN, other.RawSubject},
		{wire.IDDERASN1DN, []byte{0x30, 0x03, 0x01}},
		{wire.IDKeyID, []byte("nope")},
		{wire.IDDERASN1GN, []byte{1}},
	}
	for _, tc := range bad {
		if err := MatchIdentity(c, tc.t, tc.d); !errors.Is(err, ErrIDNotBound) {
			t.Errorf("%v %x: %v, want ErrIDNotBound", tc.t, tc.d, err)
		}
	}
	// The CN alone does not bind a name (RFC 6125 style): sun has no SAN.
	if err := MatchIdentity(other, wire.IDFQDN, []byte("sun")); err == nil {
		t.Error("subject CN matched an FQDN identity")
	}
}
