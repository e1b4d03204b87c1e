package daemon

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/pki"
	"github.com/goipsec/goipsec/internal/pki/pkitest"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// swanctlDir lays out a swanctl directory: a root and an intermediate CA
// in x509ca/, our certificate in x509/, its key in private/, a CRL.
func swanctlDir(t *testing.T) (dir string, root, inter *pkitest.CA, leaf *x509.Certificate) {
	dir = t.TempDir()
	root = pkitest.NewCA(t, "Root CA", pkitest.P384)
	inter = root.Intermediate("Intermediate CA", pkitest.RSA2048)
	key := pkitest.NewKey(t, pkitest.P256)
	leaf = inter.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}}, key)
	pkitest.WriteFile(t, dir, "x509ca/root.pem", pkitest.CertPEM(root.Cert))
	pkitest.WriteFile(t, dir, "x509ca/inter.der", inter.Cert.Raw)
	pkitest.WriteFile(t, dir, "x509/moon.pem", pkitest.CertPEM(leaf))
	pkitest.WriteFile(t, dir, "ecdsa/moon.key", pkitest.KeyPKCS8PEM(t, key))
	pkitest.WriteFile(t, dir, "x509crl/root.crl", pkitest.CRLPEM(root.CRL()))
	return
}

func loadIn(t *testing.T, dir, conf string) ([]*ike.PeerConfig, error) {
	t.Helper()
	path := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
}

func TestPubKeyPeerFromSwanctlDir(t *testing.T) {
	dir, root, inter, leaf := swanctlDir(t)
	peers, err := loadIn(t, dir, `connections {
    gw {
        remote_addrs = 192.0.2.2
        send_cert = always
        local {
            auth = ecdsa-sha384
            certs = moon.pem
        }
        remote {
            id = sun.example.org
        }
    }
    byid {
        local {
            id = moon.example.org
        }
        remote {
            auth = rsa
            cacerts = inter.der
        }
    }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	gw := peers[0]
	la, ra := gw.LocalAuth, gw.RemoteAuth
	if la.Class != ike.AuthClassPubKey || la.Signer == nil || !pki.SamePublicKey(la.Signer.Public(), leaf.PublicKey) {
		t.Fatalf("local auth: %+v", la)
	}
	// Our certificate, then the intermediate (not the root) as CERT payloads.
	if len(la.Certs) != 2 || !la.Certs[0].Equal(leaf) || !la.Certs[1].Equal(inter.Cert) {
		t.Errorf("local certs: %d", len(la.Certs))
	}
	if la.SendCert != ike.SendCertAlways || len(la.Sign.Hashes) != 1 || la.Sign.Hashes[0] != pki.HashSHA384 {
		t.Errorf("send_cert %v, hashes %v", la.SendCert, la.Sign.Hashes)
	}
	// No local id: the certificate's subject DN.
	if gw.LocalID.Type != wire.IDDERASN1DN || string(gw.LocalID.Data) != string(leaf.RawSubject) {
		t.Errorf("local id %v", gw.LocalID)
	}
	if ra.Class != ike.AuthClassPubKey || len(ra.Trust.CAs()) != 2 || !ra.SendCertReq {
		t.Errorf("remote auth: %+v", ra)
	}
	// The whole chain verifies against x509ca/.
	if _, err := ra.Trust.Verify(leaf, nil, leaf.NotBefore.Add(1)); err != nil {
		t.Errorf("verify: %v", err)
	}
	byid := peers[1]
	if !byid.LocalAuth.Certs[0].Equal(leaf) || byid.RemoteAuth.KeyType != "rsa" || len(byid.RemoteAuth.Trust.CAs()) != 1 || !byid.RemoteAuth.Trust.CAs()[0].Equal(inter.Cert) {
		t.Errorf("byid: %+v", byid.RemoteAuth)
	}
	_ = root
}

func TestPubKeyConfigErrors(t *testing.T) {
	dir, _, _, _ := swanctlDir(t)
	for _, tc := range []struct{ name, conf, want string }{
		{"missing cert file", "connections {\n  a {\n    local {\n      certs = nope.pem\n    }\n    remote {\n    }\n  }\n}\n",
			"swanctl.conf:4: connections.a.local.certs: stat " + dir + "/x509/nope.pem: no such file or directory"},
		{"wrong key type", "connections {\n  a {\n    local {\n      auth = rsa\n      certs = moon.pem\n    }\n    remote {\n    }\n  }\n}\n",
			"connections.a.local.auth: auth wants an rsa key, ours is ecdsa"},
		{"no cert for id", "connections {\n  a {\n    local {\n      id = mars.example.org\n    }\n    remote {\n    }\n  }\n}\n",
			"swanctl.conf:2: connections.a.local.certs: auth = pubkey needs certs or pubkeys"},
		{"cacerts not a CA", "connections {\n  a {\n    local {\n      auth = psk\n    }\n    remote {\n      cacerts = ../x509/moon.pem\n    }\n  }\n}\n",
			"swanctl.conf:7: connections.a.remote.cacerts: certificate \"CN=moon,O=goipsec test,C=CH\" is not a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadIn(t, dir, tc.conf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "swanctl.conf:") {
				t.Errorf("%v does not name the file", err)
			}
		})
	}
	// A credential directory goipsec does not read is an error, not ignored.
	pkitest.WriteFile(t, dir, "pkcs12/moon.p12", []byte{0x30})
	if _, err := loadIn(t, dir, "connections {\n  a {\n    local {\n      certs = moon.pem\n    }\n    remote {\n    }\n  }\n}\n"); err == nil || !strings.Contains(err.Error(), "pkcs12/ is not supported yet") {
		t.Fatalf("pkcs12: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, "pkcs12"))
	// A credential file that does not parse is named.
	pkitest.WriteFile(t, dir, "private/broken.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	_, err := loadIn(t, dir, "connections {\n  a {\n    local {\n      certs = moon.pem\n    }\n    remote {\n    }\n  }\n}\n")
	if err == nil || !strings.Contains(err.Error(), "private/broken.key") {
		t.Fatalf("broken key: %v", err)
	}
}

func TestCheckCredentials(t *testing.T) {
	dir, _, _, _ := swanctlDir(t)
	path := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(path, []byte("connections {\n  a {\n    remote_addrs = unresolvable.invalid\n    local {\n      certs = moon.pem\n    }\n    remote {\n    }\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := CheckCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`a: local certificate "C=CH, O=goipsec test, CN=moon" (ecdsa key, 1 intermediate(s)), id "C=CH, O=goipsec test, CN=moon"`,
		"a: remote trusts 2 CA(s), 0 pinned certificate(s), 0 public key(s)",
	}
	if len(lines) != 2 || lines[0] != want[0] || lines[1] != want[1] {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
