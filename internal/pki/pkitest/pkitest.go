// Package pkitest makes throw-away CAs, certificates and CRLs for tests,
// with crypto/x509 and freshly generated keys.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// KeyType names a key algorithm for NewKey.
type KeyType string

// Key types.
const (
	RSA2048 KeyType = "rsa2048"
	RSA3072 KeyType = "rsa3072"
	P256    KeyType = "p256"
	P384    KeyType = "p384"
	P521    KeyType = "p521"
	Ed25519 KeyType = "ed25519"
)

// NewKey generates a private key.
func NewKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kt {
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case P256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("pkitest: unknown key type %q", kt)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// CA is a certificate authority that can issue certificates and CRLs.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	t    testing.TB
}

var serial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(1000 + serial.Add(1)) }

// NewCA makes a self-signed root CA with the given common name.
func NewCA(t testing.TB, cn string, kt KeyType) *CA {
	t.Helper()
	key := NewKey(t, kt)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"goipsec test"}, CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: key, t: t}
}

// Leaf describes an end-entity (or intermediate) certificate to issue.
type Leaf struct {
	CN        string
	DNS       []string
	IPs       []net.IP
	Emails    []string
	NotBefore time.Time // zero: an hour ago
	NotAfter  time.Time // zero: in a day
	IsCA      bool      // an intermediate CA
}

// Issue signs a certificate for key.
func (ca *CA) Issue(l Leaf, key crypto.Signer) *x509.Certificate {
	ca.t.Helper()
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   nextSerial(),
		Subject:        pkix.Name{Country: []string{"CH"}, Organization: []string{"goipsec test"}, CommonName: l.CN},
		NotBefore:      l.NotBefore,
		NotAfter:       l.NotAfter,
		DNSNames:       l.DNS,
		IPAddresses:    l.IPs,
		EmailAddresses: l.Emails,
		KeyUsage:       x509.KeyUsageDigitalSignature,
	}
	if l.IsCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		ca.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return c
}

// Intermediate issues an intermediate CA below ca.
func (ca *CA) Intermediate(cn string, kt KeyType) *CA {
	key := NewKey(ca.t, kt)
	return &CA{Cert: ca.Issue(Leaf{CN: cn, IsCA: true}, key), Key: key, t: ca.t}
}

// CRL issues a CRL revoking the given certificates now.
func (ca *CA) CRL(revoked ...*x509.Certificate) *x509.RevocationList {
	ca.t.Helper()
	tmpl := &x509.RevocationList{
		Number:     nextSerial(),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour),
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		ca.t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return crl
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPKCS8PEM encodes a private key as a PKCS #8 PEM block.
func KeyPKCS8PEM(t testing.TB, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CRLPEM encodes a CRL as PEM.
func CRLPEM(crl *x509.RevocationList) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
}

// WriteFile writes data to dir/name (creating dir), mode 0600.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// PubKeyPEM encodes a public key as a SubjectPublicKeyInfo PEM block.
func PubKeyPEM(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
