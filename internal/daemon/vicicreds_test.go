package daemon

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/pki"
	"github.com/goipsec/goipsec/internal/pki/pkitest"
	"github.com/goipsec/goipsec/internal/vici"
)

// pubkeyConn is the load-conn request of a connection authenticated by
// certificates found by identity (no certs or cacerts keys).
func pubkeyConn(t *testing.T) *vici.Message {
	t.Helper()
	m := vici.NewMessage()
	if err := m.Set("gw", msg(
		"remote_addrs", []string{"192.0.2.2"},
		"local", msg("auth", "pubkey", "id", "moon.example.org"),
		"remote", msg("auth", "pubkey", "id", "sun.example.org"),
		"children", msg("net", msg("local_ts", []string{"10.1.0.0/24"}, "remote_ts", []string{"10.2.0.0/24"})),
	)); err != nil {
		t.Fatal(err)
	}
	return m
}

func ok(t *testing.T, d *Daemon, cmd string, req *vici.Message) (*vici.Message, []*vici.Message) {
	t.Helper()
	resp, ev := call(t, d.vici.Handler(cmd), req)
	if s := resp.GetString("success"); s != "" && s != "yes" {
		t.Fatalf("%s: %v", cmd, resp)
	}
	return resp, ev
}

func refused(t *testing.T, d *Daemon, cmd string, req *vici.Message, want string) {
	t.Helper()
	resp, _ := call(t, d.vici.Handler(cmd), req)
	if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), want) {
		t.Errorf("%s: want a refusal with %q, got %v", cmd, want, resp)
	}
}

func peerNamed(d *Daemon, name string) *ike.PeerConfig {
	for _, p := range d.engine.Peers() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// TestVICICredentials: load-cert, load-key and load-authority as swanctl
// --load-creds / --load-authorities send them (DER), used by a pubkey
// connection loaded after them; get-keys, list-certs, unload-key,
// get-authorities, unload-authority and clear-creds.
func TestVICICredentials(t *testing.T) {
	d := testDaemon(t, "")
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()
	root := pkitest.NewCA(t, "Root CA", pkitest.P256)
	other := pkitest.NewCA(t, "Other CA", pkitest.RSA2048)
	key := pkitest.NewKey(t, pkitest.P256)
	leaf := root.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}}, key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	// Without credentials the connection cannot be built.
	refused(t, d, "load-conn", pubkeyConn(t), "auth = pubkey")

	ok(t, d, "load-cert", msg("type", "X509", "flag", "CA", "data", string(root.Cert.Raw)))
	ok(t, d, "load-cert", msg("type", "X509", "flag", "NONE", "data", string(leaf.Raw)))
	ok(t, d, "load-cert", msg("type", "X509", "flag", "NONE", "data", string(leaf.Raw))) // again: no duplicate
	refused(t, d, "load-key", msg("type", "rsa", "data", string(keyDER)), "not rsa")
	refused(t, d, "load-cert", msg("type", "X509", "flag", "CA", "data", string(leaf.Raw)), "not a CA certificate")
	refused(t, d, "load-authority", msg("moon", msg("cacert", string(leaf.Raw))), "not a CA certificate")
	resp, _ := ok(t, d, "load-key", msg("type", "ecdsa", "data", string(keyDER)))
	want := keyID(t, key.Public())
	if id := resp.GetString("id"); id != hex.EncodeToString(want[:]) {
		t.Errorf("load-key id %s, want %x", id, want)
	}
	resp, _ = ok(t, d, "get-keys", nil)
	if keys := resp.GetList("keys"); len(keys) != 1 || keys[0] != hex.EncodeToString(want[:]) {
		t.Errorf("get-keys: %v", resp)
	}

	_, events := ok(t, d, "list-certs", msg("type", "X509"))
	if len(events) != 2 {
		t.Fatalf("list-certs: %d events, want 2", len(events))
	}
	if e := events[0]; e.GetString("flag") != "NONE" || e.GetString("has_privkey") != "yes" || e.GetString("data") != string(leaf.Raw) {
		t.Errorf("list-cert of the leaf: %v", e)
	}
	if e := events[1]; e.GetString("flag") != "CA" || e.GetString("has_privkey") != "no" || e.GetString("data") != string(root.Cert.Raw) {
		t.Errorf("list-cert of the CA: %v", e)
	}
	if _, ev := ok(t, d, "list-certs", msg("flag", "CA")); len(ev) != 1 {
		t.Errorf("list-certs flag=CA: %d events", len(ev))
	}
	for subject, n := range map[string]int{"C=CH, O=goipsec test, CN=moon": 1, "moon.example.org": 1, "sun.example.org": 0, "CN=Root CA": 0} {
		if _, ev := ok(t, d, "list-certs", msg("subject", subject)); len(ev) != n {
			t.Errorf("list-certs subject=%s: %d events, want %d", subject, len(ev), n)
		}
	}

	ok(t, d, "load-conn", pubkeyConn(t))
	p := peerNamed(d, "gw")
	if p == nil || p.LocalAuth.Signer == nil || len(p.LocalAuth.Certs) == 0 || !p.LocalAuth.Certs[0].Equal(leaf) {
		t.Fatalf("gw's local auth: %+v", p)
	}
	if cas := p.RemoteAuth.Trust.CAs(); len(cas) != 1 || !cas[0].Equal(root.Cert) {
		t.Errorf("gw trusts %d CAs, want the loaded root", len(cas))
	}

	// An authority is trusted too; the connection gets a new peer with
	// the new trust store, and is not restarted (same configuration).
	ok(t, d, "load-authority", msg("other", msg("cacert", string(other.Cert.Raw))))
	resp, _ = ok(t, d, "get-authorities", nil)
	if a := resp.GetList("authorities"); len(a) != 1 || a[0] != "other" {
		t.Errorf("get-authorities: %v", resp)
	}
	_, events = ok(t, d, "list-authorities", nil)
	if len(events) != 1 || events[0].GetSection("other") == nil {
		t.Errorf("list-authorities: %v", events)
	}
	p2 := peerNamed(d, "gw")
	if p2 == p || len(p2.RemoteAuth.Trust.CAs()) != 2 {
		t.Errorf("after load-authority gw trusts %d CAs, want 2", len(p2.RemoteAuth.Trust.CAs()))
	}
	refused(t, d, "load-authority", msg("x", msg("cacert", string(other.Cert.Raw), "crl_uris", []string{"http://crl"})), "not supported yet")
	ok(t, d, "unload-authority", msg("name", "other"))
	refused(t, d, "unload-authority", msg("name", "other"), "not found")
	if n := len(peerNamed(d, "gw").RemoteAuth.Trust.CAs()); n != 1 {
		t.Errorf("after unload-authority gw trusts %d CAs", n)
	}

	// A CRL loaded over VICI revokes for the connection's trust store.
	if _, err := peerNamed(d, "gw").RemoteAuth.Trust.Verify(leaf, nil, time.Now()); err != nil {
		t.Fatalf("leaf does not verify before the CRL: %v", err)
	}
	crl := root.CRL(leaf)
	ok(t, d, "load-cert", msg("type", "X509_CRL", "data", string(crl.Raw)))
	ok(t, d, "load-cert", msg("type", "X509_CRL", "data", string(crl.Raw))) // again: no duplicate
	if _, err := peerNamed(d, "gw").RemoteAuth.Trust.Verify(leaf, nil, time.Now()); err == nil {
		t.Errorf("leaf verifies after the CRL revoking it was loaded")
	}
	if n := len(d.viciCredsNow().crls); n != 1 {
		t.Errorf("%d CRLs loaded, want 1", n)
	}
	refused(t, d, "load-cert", msg("type", "X509_AC", "data", "x"), "not supported yet")

	// gw signs with the key: unloading it would leave gw without one.
	refused(t, d, "unload-key", msg("id", hex.EncodeToString(want[:])), "with its private key")
	refused(t, d, "unload-key", msg("id", "00"), "not found")

	// clear-creds drops what VICI loaded; gw keeps its credentials until
	// swanctl loads them again.
	ok(t, d, "clear-creds", nil)
	if resp, _ = ok(t, d, "get-keys", nil); len(resp.GetList("keys")) != 0 {
		t.Errorf("get-keys after clear-creds: %v", resp)
	}
	if _, ev := ok(t, d, "list-certs", nil); len(ev) != 0 {
		t.Errorf("list-certs after clear-creds: %d events", len(ev))
	}
	if g := peerNamed(d, "gw"); g == nil || g.LocalAuth.Signer == nil {
		t.Errorf("gw lost its credentials on clear-creds")
	}
}

// keyID computes strongSwan's KEYID_PUBKEY_SHA1 the way its plugins do,
// from the key's own encoding: PKCS #1 RSAPublicKey for RSA (gmp,
// openssl), the uncompressed point for ECDSA, the raw key for Ed25519.
func keyID(t *testing.T, pub crypto.PublicKey) [sha1.Size]byte {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return sha1.Sum(x509.MarshalPKCS1PublicKey(k))
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		return sha1.Sum(e.Bytes())
	case ed25519.PublicKey:
		return sha1.Sum(k)
	}
	t.Fatalf("key %T", pub)
	return [sha1.Size]byte{}
}

func TestPublicKeyID(t *testing.T) {
	for _, kt := range []pkitest.KeyType{pkitest.RSA2048, pkitest.P384, pkitest.Ed25519} {
		k := pkitest.NewKey(t, kt)
		id, err := publicKeyID(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		want := keyID(t, k.Public())
		if id != hex.EncodeToString(want[:]) {
			t.Errorf("%v: id %s, want %x", kt, id, want)
		}
	}
}

// TestLoadConnInlineCredentials: swanctl sends the contents of the files
// named by certs, cacerts and pubkeys, DER or PEM; both are used as the
// credentials they are, not as file names.
func TestLoadConnInlineCredentials(t *testing.T) {
	d := testDaemon(t, "")
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()
	root := pkitest.NewCA(t, "Root CA", pkitest.RSA2048)
	other := pkitest.NewCA(t, "Other CA", pkitest.P256)
	key := pkitest.NewKey(t, pkitest.Ed25519)
	leaf := root.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}}, key)
	peerKey := pkitest.NewKey(t, pkitest.P256)
	peerPub, err := x509.MarshalPKIXPublicKey(peerKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ok(t, d, "load-key", msg("type", "any", "data", string(keyDER)))
	for _, form := range []string{"der", "pem"} {
		leafData, caData := string(leaf.Raw), string(other.Cert.Raw)
		if form == "pem" {
			leafData, caData = string(pkitest.CertPEM(leaf)), string(pkitest.CertPEM(other.Cert))
		}
		m := vici.NewMessage()
		if err := m.Set("gw", msg(
			"remote_addrs", []string{"192.0.2.2"},
			"local", msg("auth", "pubkey", "certs", []string{leafData}),
			"remote", msg("auth", "pubkey", "id", "sun.example.org", "cacerts", []string{caData}, "pubkeys", []string{string(peerPub)}),
			"children", msg("net", msg("local_ts", []string{"10.1.0.0/24"}, "remote_ts", []string{"10.2.0.0/24"})),
		)); err != nil {
			t.Fatal(err)
		}
		ok(t, d, "load-conn", m)
		p := peerNamed(d, "gw")
		if len(p.LocalAuth.Certs) == 0 || !p.LocalAuth.Certs[0].Equal(leaf) || p.LocalAuth.Signer == nil {
			t.Errorf("%s: local auth %+v", form, p.LocalAuth)
		}
		if cas := p.RemoteAuth.Trust.CAs(); len(cas) != 1 || !cas[0].Equal(other.Cert) {
			t.Errorf("%s: remote trusts %d CAs, want the inline one", form, len(cas))
		}
		if len(p.RemoteAuth.PubKeys) != 1 || !pki.SamePublicKey(p.RemoteAuth.PubKeys[0], peerKey.Public()) {
			t.Errorf("%s: remote public keys %v", form, p.RemoteAuth.PubKeys)
		}
	}
}

// TestVICICredentialsSurviveReload: credentials loaded over VICI layer
// over the swanctl directories beside the config file; a reload re-reads
// the directories and keeps the VICI layer.
func TestVICICredentialsSurviveReload(t *testing.T) {
	dir := t.TempDir()
	path := pkitest.WriteFile(t, dir, "swanctl.conf", []byte(siteConf))
	file, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := testDaemon(t, siteConf)
	d.store = newStore(file)
	d.opts.ConfigPath = path
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()

	root := pkitest.NewCA(t, "Root CA", pkitest.P256)
	key := pkitest.NewKey(t, pkitest.P256)
	leaf := root.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}}, key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ok(t, d, "load-cert", msg("type", "X509", "flag", "CA", "data", string(root.Cert.Raw)))
	ok(t, d, "load-cert", msg("type", "X509", "flag", "NONE", "data", string(leaf.Raw)))
	ok(t, d, "load-key", msg("type", "ecdsa", "data", string(keyDER)))
	ok(t, d, "load-conn", pubkeyConn(t))

	// A CA appears in x509ca/: after the reload gw trusts it and the one
	// loaded over VICI, and still signs with the VICI key.
	dirCA := pkitest.NewCA(t, "Directory CA", pkitest.RSA2048)
	pkitest.WriteFile(t, dir, "x509ca/dir.pem", pkitest.CertPEM(dirCA.Cert))
	if err := d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := peerNamed(d, "gw")
	if p == nil || p.LocalAuth.Signer == nil || !p.LocalAuth.Certs[0].Equal(leaf) {
		t.Fatalf("gw after reload: %+v", p)
	}
	if cas := p.RemoteAuth.Trust.CAs(); len(cas) != 2 || !cas[0].Equal(dirCA.Cert) || !cas[1].Equal(root.Cert) {
		t.Errorf("gw after reload trusts %d CAs, want the directory's and the VICI one", len(cas))
	}
	if peerNamed(d, "site") == nil {
		t.Errorf("the file's connection is gone")
	}
	// A file in a credential directory that does not parse fails the
	// reload, and nothing changes.
	pkitest.WriteFile(t, dir, "x509ca/broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	if err := d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "broken.pem") {
		t.Errorf("reload with a broken CA file: %v", err)
	}
	if peerNamed(d, "gw") != p {
		t.Errorf("a failed reload replaced gw's peer")
	}
}
