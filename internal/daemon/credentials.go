package daemon

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/pki"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// credentials are the certificates and keys of swanctl's credential
// directories under the swanctl.conf directory, loaded the way
// `swanctl --load-creds` does: every file of x509/ (end-entity
// certificates), x509ca/ (CA certificates, all trusted), x509crl/,
// private/, rsa/, ecdsa/, pkcs8/ (private keys) and pubkey/.
type credentials struct {
	dir     string
	certs   []*x509.Certificate // x509/
	cas     []*x509.Certificate // x509ca/
	crls    []*x509.RevocationList
	signers []crypto.Signer

	// Built once per credentials value and shared by the connections
	// converted with it (thousands on a credential change): the chains
	// found above our certificates and the trust store of all CAs.
	chains     map[*x509.Certificate][]*x509.Certificate
	trust      *pki.TrustStore
	trustErr   error
	trustBuilt bool
}

// loadCredentials reads the credential directories under dir. A missing
// directory is empty; a file that does not parse is an error naming it
// (swanctl would warn and go on; a daemon had better not start half-armed).
func loadCredentials(dir string) (*credentials, error) {
	c := &credentials{dir: dir}
	// swanctl directories goipsec does not read: files there would be
	// credentials silently left out.
	for _, sub := range []string{"x509aa", "x509ac", "x509ocsp", "bliss", "pkcs12"} {
		if err := eachFile(dir, sub, func(p string) error {
			return fmt.Errorf("%s: %s/ is not supported yet", p, sub)
		}); err != nil {
			return nil, err
		}
	}
	err := eachFile(dir, config.CredentialDirs.X509, func(p string) error {
		cs, err := pki.LoadCertificates(p)
		c.certs = append(c.certs, cs...)
		return err
	})
	if err == nil {
		err = eachFile(dir, config.CredentialDirs.X509CA, func(p string) error {
			cs, err := pki.LoadCertificates(p)
			c.cas = append(c.cas, cs...)
			return err
		})
	}
	if err == nil {
		err = eachFile(dir, config.CredentialDirs.X509CRL, func(p string) error {
			crl, err := pki.LoadCRL(p)
			c.crls = append(c.crls, crl)
			return err
		})
	}
	for _, sub := range config.CredentialDirs.Private {
		if err == nil {
			err = eachFile(dir, sub, func(p string) error {
				k, err := pki.LoadPrivateKey(p)
				c.signers = append(c.signers, k)
				return err
			})
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// eachFile calls fn for every regular file of dir/sub in name order.
func eachFile(dir, sub string, fn func(path string) error) error {
	d := filepath.Join(dir, sub)
	ents, err := os.ReadDir(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := fn(filepath.Join(d, e.Name())); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
	}
	return nil
}

// signerFor finds the loaded private key of a public key.
func (c *credentials) signerFor(pub crypto.PublicKey) crypto.Signer {
	for _, s := range c.signers {
		if pki.SamePublicKey(s.Public(), pub) {
			return s
		}
	}
	return nil
}

// chainOf returns the intermediate CAs (from x509ca/) above leaf, up to
// but not including a self-signed root, to send along in CERT payloads.
func (c *credentials) chainOf(leaf *x509.Certificate) []*x509.Certificate {
	if out, ok := c.chains[leaf]; ok {
		return out
	}
	out := c.findChain(leaf)
	if c.chains == nil {
		c.chains = map[*x509.Certificate][]*x509.Certificate{}
	}
	c.chains[leaf] = out
	return out
}

func (c *credentials) findChain(leaf *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	cur := leaf
	for len(out) < pki.MaxPeerCerts {
		var issuer *x509.Certificate
		for _, ca := range c.cas {
			if bytes.Equal(ca.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(ca) == nil {
				issuer = ca
				break
			}
		}
		if issuer == nil || bytes.Equal(issuer.RawSubject, issuer.RawIssuer) || slices.Contains(out, issuer) {
			break
		}
		out = append(out, issuer)
		cur = issuer
	}
	return out
}

// inlinePEM reports whether a certs, cacerts or pubkeys item is the
// contents of a PEM file rather than its name: swanctl reads the files
// itself and sends their contents in load-conn.
func inlinePEM(item string) bool { return strings.Contains(item, "-----BEGIN ") }

func certsItem(dir, sub, item string) ([]*x509.Certificate, error) {
	if inlinePEM(item) {
		return pki.ParseCertificates([]byte(item))
	}
	return pki.LoadCertificates(config.ResolveCredential(dir, sub, item))
}

func pubKeyItem(dir, item string) (crypto.PublicKey, error) {
	if inlinePEM(item) {
		return pki.ParsePublicKey([]byte(item))
	}
	return pki.LoadPublicKey(config.ResolveCredential(dir, config.CredentialDirs.PubKey, item))
}

// keyErr is an error about one key of an auth round, named by file and line.
type keyErr struct {
	pos config.Pos
	key string
	err error
}

func (e *keyErr) Error() string {
	if e.pos == (config.Pos{}) { // loaded over VICI
		return fmt.Sprintf("%s: %v", e.key, e.err)
	}
	return fmt.Sprintf("%v: %s: %v", e.pos, e.key, e.err)
}
func (e *keyErr) Unwrap() error { return e.err }

// authFromConfig fills in the engine's LocalAuth, RemoteAuth and default
// local identity for a connection.
func (c *credentials) authFromConfig(conn *config.Connection, p *ike.PeerConfig) error {
	path := "connections." + conn.Name
	if conn.Local.Auth == "pubkey" {
		if err := c.localPubKey(conn, p, path+".local"); err != nil {
			return err
		}
	}
	if conn.Remote.Auth == "pubkey" {
		if err := c.remotePubKey(conn, p, path+".remote"); err != nil {
			return err
		}
	}
	return nil
}

func (c *credentials) localPubKey(conn *config.Connection, p *ike.PeerConfig, path string) error {
	a := conn.Local
	fail := func(key string, err error) error {
		pos, ok := a.KeyPos[key]
		if !ok {
			pos = conn.Pos
		}
		return &keyErr{pos: pos, key: path + "." + key, err: err}
	}
	la := ike.LocalAuth{Class: ike.AuthClassPubKey}
	var pub crypto.PublicKey
	switch {
	case len(a.Certs) > 0:
		cs, err := certsItem(c.dir, config.CredentialDirs.X509, a.Certs[0])
		if err != nil {
			return fail("certs", err)
		}
		la.Certs = append(cs, c.chainOf(cs[len(cs)-1])...)
		pub = cs[0].PublicKey
	case len(a.PubKeys) > 0:
		k, err := pubKeyItem(c.dir, a.PubKeys[0])
		if err != nil {
			return fail("pubkeys", err)
		}
		pub = k
	default:
		// No certs: the certificate of x509/ that carries our identity.
		if !p.LocalID.IsZero() {
			for _, cert := range c.certs {
				if pki.MatchIdentity(cert, p.LocalID.Type, p.LocalID.Data) == nil && c.signerFor(cert.PublicKey) != nil {
					la.Certs = append([]*x509.Certificate{cert}, c.chainOf(cert)...)
					pub = cert.PublicKey
					break
				}
			}
		}
		if pub == nil {
			return fail("certs", fmt.Errorf("auth = pubkey needs certs or pubkeys, or an id that a certificate in %s with its private key carries",
				filepath.Join(c.dir, config.CredentialDirs.X509)))
		}
	}
	la.Signer = c.signerFor(pub)
	if la.Signer == nil {
		return fail("certs", fmt.Errorf("no private key for it in %s/{private,rsa,ecdsa,pkcs8}", c.dir))
	}
	if a.KeyType != "" && pki.KeyType(pub) != a.KeyType {
		return fail("auth", fmt.Errorf("auth wants an %s key, ours is %s", a.KeyType, pki.KeyType(pub)))
	}
	hashes, err := hashList(a.Hashes)
	if err != nil {
		return fail("auth", err)
	}
	la.Sign = pki.SignOptions{Hashes: hashes, RSAPSS: a.RSAPSS, AllowRSASHA1: slices.Contains(a.Hashes, "sha1")}
	la.SendCert = map[string]ike.SendCertPolicy{"always": ike.SendCertAlways, "never": ike.SendCertNever}[conn.SendCert]
	// With a certificate and no id, we are the certificate's subject
	// (strongSwan's default).
	if a.ID == "" && len(la.Certs) > 0 {
		p.LocalID = ike.Identity{Type: wire.IDDERASN1DN, Data: la.Certs[0].RawSubject}
	}
	p.LocalAuth = la
	return nil
}

func (c *credentials) remotePubKey(conn *config.Connection, p *ike.PeerConfig, path string) error {
	a := conn.Remote
	fail := func(key string, err error) error {
		pos, ok := a.KeyPos[key]
		if !ok {
			pos = conn.Pos
		}
		return &keyErr{pos: pos, key: path + "." + key, err: err}
	}
	ra := ike.RemoteAuth{Class: ike.AuthClassPubKey, KeyType: a.KeyType, SendCertReq: conn.SendCertReq}
	cas := c.cas
	if len(a.CACerts) > 0 {
		cas = nil
		for _, n := range a.CACerts {
			cs, err := certsItem(c.dir, config.CredentialDirs.X509CA, n)
			if err != nil {
				return fail("cacerts", err)
			}
			cas = append(cas, cs...)
		}
	}
	var err error
	if len(a.CACerts) > 0 {
		ra.Trust, err = pki.NewTrustStore(cas, c.crls)
	} else {
		ra.Trust, err = c.defaultTrust()
	}
	if err != nil {
		key := "cacerts"
		if len(a.CACerts) == 0 {
			err = fmt.Errorf("%s: %w", filepath.Join(c.dir, config.CredentialDirs.X509CA), err)
		}
		return fail(key, err)
	}
	for _, n := range a.Certs {
		cs, err := certsItem(c.dir, config.CredentialDirs.X509, n)
		if err != nil {
			return fail("certs", err)
		}
		ra.Certs = append(ra.Certs, cs[0])
	}
	for _, n := range a.PubKeys {
		k, err := pubKeyItem(c.dir, n)
		if err != nil {
			return fail("pubkeys", err)
		}
		ra.PubKeys = append(ra.PubKeys, k)
	}
	if len(cas) == 0 && len(ra.Certs) == 0 && len(ra.PubKeys) == 0 {
		return fail("auth", fmt.Errorf("auth = pubkey needs a CA certificate (in %s or cacerts), certs or pubkeys to trust",
			filepath.Join(c.dir, config.CredentialDirs.X509CA)))
	}
	hashes, err := hashList(a.Hashes)
	if err != nil {
		return fail("auth", err)
	}
	ra.Verify = pki.VerifyOptions{Hashes: hashes}
	p.RemoteAuth = ra
	return nil
}

// defaultTrust is the trust store of every CA (x509ca/ and loaded ones),
// for connections without cacerts.
func (c *credentials) defaultTrust() (*pki.TrustStore, error) {
	if !c.trustBuilt {
		c.trust, c.trustErr = pki.NewTrustStore(c.cas, c.crls)
		c.trustBuilt = true
	}
	return c.trust, c.trustErr
}

// hashList maps strongSwan hash names; nil stays nil (the defaults).
func hashList(names []string) ([]pki.HashAlgorithm, error) {
	var out []pki.HashAlgorithm
	for _, n := range names {
		h, ok := pki.ParseHashName(n)
		if !ok {
			return nil, fmt.Errorf("unknown hash %q", n)
		}
		out = append(out, h)
	}
	return out, nil
}

// CheckCredentials loads what the configuration's pubkey connections need
// from the swanctl directories, as the daemon does at start-up (without
// resolving DNS names), and describes it, one line per connection side.
func CheckCredentials(cfg *config.Config) ([]string, error) {
	var creds *credentials
	var out []string
	for _, c := range cfg.Connections {
		if c.Local.Auth != "pubkey" && c.Remote.Auth != "pubkey" {
			continue
		}
		if creds == nil {
			var err error
			if creds, err = loadCredentials(cfg.Dir); err != nil {
				return nil, err
			}
		}
		p := &ike.PeerConfig{Name: c.Name}
		var err error
		if p.LocalID, err = identity(c.Local.ID); err != nil {
			return nil, fmt.Errorf("%v: connections.%s.local.id: %w", c.Pos, c.Name, err)
		}
		if p.RemoteID, err = identity(c.Remote.ID); err != nil {
			return nil, fmt.Errorf("%v: connections.%s.remote.id: %w", c.Pos, c.Name, err)
		}
		if err := creds.authFromConfig(c, p); err != nil {
			return nil, err
		}
		if la := p.LocalAuth; la.Class == ike.AuthClassPubKey {
			what := "raw " + pki.KeyType(la.Signer.Public()) + " public key"
			if len(la.Certs) > 0 {
				subject := ike.Identity{Type: wire.IDDERASN1DN, Data: la.Certs[0].RawSubject}
				what = fmt.Sprintf("certificate %q (%s key, %d intermediate(s))", subject, pki.KeyType(la.Signer.Public()), len(la.Certs)-1)
			}
			out = append(out, fmt.Sprintf("%s: local %s, id %q", c.Name, what, p.LocalID))
		}
		if ra := p.RemoteAuth; ra.Class == ike.AuthClassPubKey {
			out = append(out, fmt.Sprintf("%s: remote trusts %d CA(s), %d pinned certificate(s), %d public key(s)",
				c.Name, len(ra.Trust.CAs()), len(ra.Certs), len(ra.PubKeys)))
		}
	}
	return out, nil
}
