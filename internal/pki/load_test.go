package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/pki/pkitest"
)

func TestParsePrivateKeyForms(t *testing.T) {
	rsaKey := pkitest.NewKey(t, pkitest.RSA2048).(*rsa.PrivateKey)
	ecKey := pkitest.NewKey(t, pkitest.P384).(*ecdsa.PrivateKey)
	edKey := pkitest.NewKey(t, pkitest.Ed25519).(ed25519.PrivateKey)
	pkcs8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	for name, data := range map[string][]byte{
		"rsa pkcs1 der":    x509.MarshalPKCS1PrivateKey(rsaKey),
		"rsa pkcs1 pem":    pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
		"rsa pkcs8 pem":    pemOf("PRIVATE KEY", pkcs8(rsaKey)),
		"ec sec1 der":      sec1,
		"ec sec1 pem":      append(pemOf("EC PARAMETERS", []byte{6, 5, 0x2b, 0x81, 4, 0, 0x22}), pemOf("EC PRIVATE KEY", sec1)...),
		"ec pkcs8 der":     pkcs8(ecKey),
		"ed25519 pkcs8":    pemOf("PRIVATE KEY", pkcs8(edKey)),
		"ed25519 pkcs8der": pkcs8(edKey),
	} {
		k, err := ParsePrivateKey(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var want any
		switch {
		case strings.HasPrefix(name, "rsa"):
			want = rsaKey.Public()
		case strings.HasPrefix(name, "ec"):
			want = ecKey.Public()
		default:
			want = edKey.Public()
		}
		if !SamePublicKey(k.Public(), want) {
			t.Errorf("%s: other key", name)
		}
	}
	for name, data := range map[string][]byte{
		"garbage":   []byte("hello"),
		"encrypted": pemOf("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}),
		"cert":      pemOf("CERTIFICATE", []byte{1}),
	} {
		if _, err := ParsePrivateKey(data); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestOpenSSLFiles parses what the openssl CLI writes, the way users make
// their keys: RSA (PKCS #8 and traditional), EC with parameters, Ed25519,
// a DER certificate and a CRL.
func TestOpenSSLFiles(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p("rsa8.pem"))
	run("pkey", "-in", p("rsa8.pem"), "-traditional", "-out", p("rsa1.pem"))
	run("ecparam", "-name", "prime256v1", "-genkey", "-out", p("ec.pem"))
	run("genpkey", "-algorithm", "ED25519", "-out", p("ed.pem"))
	run("pkey", "-in", p("ed.pem"), "-outform", "DER", "-out", p("ed.der"))
	run("pkey", "-in", p("ec.pem"), "-pubout", "-out", p("ecpub.pem"))
	run("rsa", "-in", p("rsa8.pem"), "-RSAPublicKey_out", "-out", p("rsapub.pem"))
	for _, n := range []string{"rsa8.pem", "rsa1.pem", "ec.pem", "ed.pem", "ed.der"} {
		if _, err := LoadPrivateKey(p(n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, n := range []string{"ecpub.pem", "rsapub.pem"} {
		if _, err := LoadPublicKey(p(n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	run("req", "-x509", "-key", p("ec.pem"), "-subj", "/CN=ca", "-days", "1", "-outform", "DER", "-out", p("ca.der"))
	if cs, err := LoadCertificates(p("ca.der")); err != nil || len(cs) != 1 {
		t.Errorf("ca.der: %v", err)
	}
	run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", p("rsa1024.pem"))
	if _, err := LoadPrivateKey(p("rsa1024.pem")); err == nil {
		t.Error("1024-bit RSA key accepted (RFC 8247)")
	}
}

func TestParseCertificatesAndCRL(t *testing.T) {
	ca := pkitest.NewCA(t, "CA", pkitest.P256)
	leaf := ca.Issue(pkitest.Leaf{CN: "x"}, pkitest.NewKey(t, pkitest.P256))
	bundle := append(pkitest.CertPEM(leaf), pkitest.CertPEM(ca.Cert)...)
	cs, err := ParseCertificates(bundle)
	if err != nil || len(cs) != 2 || !cs[1].Equal(ca.Cert) {
		t.Fatalf("bundle: %d certs, %v", len(cs), err)
	}
	if cs, err := ParseCertificates(leaf.Raw); err != nil || !cs[0].Equal(leaf) {
		t.Errorf("DER: %v", err)
	}
	crl := ca.CRL(leaf)
	for _, d := range [][]byte{crl.Raw, pkitest.CRLPEM(crl)} {
		got, err := ParseCRL(d)
		if err != nil || len(got.RevokedCertificateEntries) != 1 {
			t.Errorf("CRL: %v", err)
		}
	}
	if _, err := ParseCertificates([]byte("-----BEGIN FOO-----\n-----END FOO-----\n")); err == nil {
		t.Error("no certificate accepted")
	}
}
