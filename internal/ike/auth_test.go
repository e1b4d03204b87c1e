package ike

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/pki"
	"github.com/goipsec/goipsec/internal/pki/pkitest"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// certSide is one peer's credentials in a certificate test.
type certSide struct {
	id    Identity
	rid   Identity
	local LocalAuth
	rauth RemoteAuth
}

// newAuthPair builds two engines like newPair, with the given
// authentication; PSK lookups answer "psk" for anyone.
func newAuthPair(t *testing.T, left, right certSide) (*testPeer, *testPeer) {
	t.Helper()
	n := &testNet{engines: map[netip.Addr]*Engine{}}
	mk := func(local, remote netip.Addr, s certSide, lnet, rnet string) *testPeer {
		inst := &fakeInstaller{}
		pc := &PeerConfig{
			Name:        "site",
			RemoteAddrs: []netip.Prefix{netip.PrefixFrom(remote, 32)},
			RemoteHost:  remote,
			LocalPort:   500,
			RemotePort:  500,
			Proposals:   []wire.Proposal{mustProposal(t, "aes256gcm16-prfsha256-x25519", false)},
			LocalID:     s.id,
			RemoteID:    s.rid,
			LocalAuth:   s.local,
			RemoteAuth:  s.rauth,
			Children: []*ChildConfig{{
				Name:         "net",
				LocalTS:      []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(lnet))},
				RemoteTS:     []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(rnet))},
				ESPProposals: []wire.Proposal{mustProposal(t, "aes256gcm16", true)},
			}},
		}
		e := New(Config{
			Peers:             []*PeerConfig{pc},
			Send:              n.sender(t),
			Installer:         inst,
			SharedKey:         func(Identity, Identity) ([]byte, bool) { return []byte("psk"), true },
			LocalAddr:         func(netip.Addr) (netip.Addr, error) { return local, nil },
			RetransmitTimeout: 200 * time.Millisecond,
			Logger:            testLogger(t),
		})
		n.engines[local] = e
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			e.Close(ctx)
		})
		return &testPeer{e: e, inst: inst, addr: local}
	}
	return mk(leftAddr, rightAddr, left, "10.1.0.0/24", "10.2.0.0/24"),
		mk(rightAddr, leftAddr, right, "10.2.0.0/24", "10.1.0.0/24")
}

func fqdn(s string) Identity { return Identity{Type: wire.IDFQDN, Data: []byte(s)} }

// pkiWorld is a CA with a certificate for each side.
type pkiWorld struct {
	ca                  *pkitest.CA
	leftKey, rightKey   crypto.Signer
	leftCert, rightCert *x509.Certificate
	trust               *pki.TrustStore
}

func newWorld(t *testing.T, caKey, leftKey, rightKey pkitest.KeyType) *pkiWorld {
	w := &pkiWorld{ca: pkitest.NewCA(t, "goipsec Test CA", caKey)}
	w.leftKey, w.rightKey = pkitest.NewKey(t, leftKey), pkitest.NewKey(t, rightKey)
	w.leftCert = w.ca.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"}, IPs: []net.IP{leftAddr.AsSlice()}}, w.leftKey)
	w.rightCert = w.ca.Issue(pkitest.Leaf{CN: "sun", DNS: []string{"sun.example.org"}}, w.rightKey)
	var err error
	if w.trust, err = pki.NewTrustStore([]*x509.Certificate{w.ca.Cert}, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *pkiWorld) sides() (certSide, certSide) {
	l := certSide{
		id:    fqdn("moon.example.org"),
		rid:   fqdn("sun.example.org"),
		local: LocalAuth{Class: AuthClassPubKey, Signer: w.leftKey, Certs: []*x509.Certificate{w.leftCert}},
		rauth: RemoteAuth{Class: AuthClassPubKey, Trust: w.trust, SendCertReq: true},
	}
	r := certSide{
		id:    fqdn("sun.example.org"),
		local: LocalAuth{Class: AuthClassPubKey, Signer: w.rightKey, Certs: []*x509.Certificate{w.rightCert}},
		rauth: RemoteAuth{Class: AuthClassPubKey, Trust: w.trust, SendCertReq: true},
	}
	return l, r
}

func TestCertificateAuth(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ca, left, right pkitest.KeyType
		tweak           func(l, r *certSide)
	}{
		{"rsa", pkitest.RSA2048, pkitest.RSA2048, pkitest.RSA2048, nil},
		{"rsa-pss", pkitest.RSA2048, pkitest.RSA2048, pkitest.RSA3072, func(l, r *certSide) {
			l.local.Sign.RSAPSS, r.local.Sign.RSAPSS = true, true
		}},
		{"ecdsa p256 p384", pkitest.P384, pkitest.P256, pkitest.P384, nil},
		{"ecdsa p521 sha512 only", pkitest.P521, pkitest.P521, pkitest.P521, func(l, r *certSide) {
			l.local.Sign.Hashes = []pki.HashAlgorithm{pki.HashSHA512}
			r.rauth.Verify.Hashes = []pki.HashAlgorithm{pki.HashSHA512}
		}},
		{"ed25519", pkitest.Ed25519, pkitest.Ed25519, pkitest.Ed25519, nil},
		{"mixed rsa ecdsa ed25519", pkitest.RSA2048, pkitest.P256, pkitest.Ed25519, nil},
		{"send_cert always, no certreq", pkitest.P256, pkitest.P256, pkitest.P256, func(l, r *certSide) {
			l.rauth.SendCertReq, r.rauth.SendCertReq = false, false
			l.local.SendCert, r.local.SendCert = SendCertAlways, SendCertAlways
		}},
		{"remote id open, bound to cert", pkitest.P256, pkitest.P256, pkitest.P256, func(l, r *certSide) {
			l.rid = Identity{}
		}},
		{"id is an IP address SAN", pkitest.P256, pkitest.P256, pkitest.P256, func(l, r *certSide) {
			l.id = IdentityFromAddr(leftAddr)
		}},
		{"id is the DN", pkitest.P256, pkitest.P256, pkitest.P256, nil},
		{"pinned certs, no CA, no CERT payloads", pkitest.P256, pkitest.P256, pkitest.P256, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.ca, tc.left, tc.right)
			l, r := w.sides()
			if tc.name == "id is the DN" {
				l.id = Identity{Type: wire.IDDERASN1DN, Data: w.leftCert.RawSubject}
				r.id = Identity{Type: wire.IDDERASN1DN, Data: w.rightCert.RawSubject}
				l.rid = r.id
			}
			if strings.HasPrefix(tc.name, "pinned") {
				l.rauth = RemoteAuth{Class: AuthClassPubKey, Certs: []*x509.Certificate{w.rightCert}}
				r.rauth = RemoteAuth{Class: AuthClassPubKey, Certs: []*x509.Certificate{w.leftCert}}
				l.local.SendCert, r.local.SendCert = SendCertNever, SendCertNever
			}
			if tc.tweak != nil {
				tc.tweak(&l, &r)
			}
			lp, rp := newAuthPair(t, l, r)
			if err := lp.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			checkChildPair(t, lp, rp)
			waitFor(t, "responder established", func() bool {
				s := rp.e.SAs()
				return len(s) == 1 && s[0].State == StateEstablished
			})
		})
	}
}

// TestCertificateAuthFailures: every failure ends in AUTHENTICATION_FAILED
// and leaves no SA, whichever side finds the problem.
func TestCertificateAuthFailures(t *testing.T) {
	w := newWorld(t, pkitest.P256, pkitest.P256, pkitest.RSA2048)
	otherCA := pkitest.NewCA(t, "Other CA", pkitest.P256)
	otherTrust, _ := pki.NewTrustStore([]*x509.Certificate{otherCA.Cert}, nil)
	expired := w.ca.Issue(pkitest.Leaf{CN: "moon", DNS: []string{"moon.example.org"},
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, w.leftKey)
	revokedTrust, _ := pki.NewTrustStore([]*x509.Certificate{w.ca.Cert}, []*x509.RevocationList{w.ca.CRL(w.leftCert)})
	strangerKey := pkitest.NewKey(t, pkitest.P256)
	strangerRSA := pkitest.NewKey(t, pkitest.RSA2048)
	for _, tc := range []struct {
		name     string
		tweak    func(l, r *certSide)
		sentByUs bool // the initiator detects it (the responder's credentials are bad)
		reason   string
	}{
		{"initiator asserts an ID not in its cert", func(l, r *certSide) { l.id = fqdn("mars.example.org") }, false, ""},
		{"responder asserts an ID not in its cert", func(l, r *certSide) { r.id = fqdn("moon.example.org"); l.rid = Identity{} }, true, "not in certificate"},
		{"initiator cert from unknown CA", func(l, r *certSide) { r.rauth.Trust = otherTrust }, false, ""},
		{"responder cert from unknown CA", func(l, r *certSide) { l.rauth.Trust = otherTrust }, true, "trusted CA"},
		{"expired initiator cert", func(l, r *certSide) { l.local.Certs = []*x509.Certificate{expired} }, false, ""},
		{"revoked initiator cert", func(l, r *certSide) { r.rauth.Trust = revokedTrust }, false, ""},
		{"initiator signs with another key", func(l, r *certSide) { l.local.Signer = strangerKey }, false, ""},
		{"responder signs with another key", func(l, r *certSide) { r.local.Signer = strangerRSA }, true, "does not verify"},
		{"no cert sent", func(l, r *certSide) { l.local.SendCert = SendCertNever }, false, ""},
		{"psk offered to a pubkey peer", func(l, r *certSide) { l.local = LocalAuth{} }, false, ""},
		{"pubkey answered to a psk peer", func(l, r *certSide) { l.rauth = RemoteAuth{} }, true, "expects a pre-shared key"},
		{"hash not allowed", func(l, r *certSide) { r.rauth.Verify.Hashes = []pki.HashAlgorithm{pki.HashSHA512} }, false, ""},
		{"key type constraint", func(l, r *certSide) { r.rauth.KeyType = "rsa" }, false, ""},
		{"pinned remote cert differs", func(l, r *certSide) { r.rauth.Certs = []*x509.Certificate{w.rightCert} }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, r := w.sides()
			tc.tweak(&l, &r)
			lp, rp := newAuthPair(t, l, r)
			err := lp.e.Initiate(ctxT(t), "site", "net")
			var ne *NotifyError
			if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed || ne.Sent != tc.sentByUs {
				t.Fatalf("initiate: %v, want AUTHENTICATION_FAILED (sent by us: %v)", err, tc.sentByUs)
			}
			if tc.reason != "" && !strings.Contains(ne.Detail, tc.reason) {
				t.Errorf("detail %q does not say %q", ne.Detail, tc.reason)
			}
			waitFor(t, "no SA left", func() bool {
				return len(lp.e.SAs()) == 0 && len(rp.e.SAs()) == 0 && len(lp.inst.all()) == 0 && len(rp.inst.all()) == 0
			})
		})
	}
}

// TestRawPublicKeys: swanctl pubkeys, no certificates; the key is bound to
// the configured remote id.
func TestRawPublicKeys(t *testing.T) {
	lk, rk := pkitest.NewKey(t, pkitest.Ed25519), pkitest.NewKey(t, pkitest.P384)
	l := certSide{id: fqdn("moon"), rid: fqdn("sun"),
		local: LocalAuth{Class: AuthClassPubKey, Signer: lk},
		rauth: RemoteAuth{Class: AuthClassPubKey, PubKeys: []crypto.PublicKey{rk.Public()}}}
	r := certSide{id: fqdn("sun"), rid: fqdn("moon"),
		local: LocalAuth{Class: AuthClassPubKey, Signer: rk},
		rauth: RemoteAuth{Class: AuthClassPubKey, PubKeys: []crypto.PublicKey{lk.Public()}}}
	lp, rp := newAuthPair(t, l, r)
	if err := lp.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, lp, rp)

	// Without a configured remote id the raw key binds no identity.
	r.rid = Identity{}
	lp, _ = newAuthPair(t, l, r)
	var ne *NotifyError
	if err := lp.e.Initiate(ctxT(t), "site", "net"); !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Fatalf("raw key without remote id: %v", err)
	}
}

// TestPSKStillWorksBesidePubKey: the responder has a pubkey and a psk
// connection for the same address; the AUTH method picks the psk one.
func TestAuthClassPicksConnection(t *testing.T) {
	w := newWorld(t, pkitest.P256, pkitest.P256, pkitest.P256)
	l, r := w.sides()
	l.local, l.rauth = LocalAuth{}, RemoteAuth{}
	lp, rp := newAuthPair(t, l, r)
	psk := *rp.e.Peers()[0]
	psk.Name = "psk"
	psk.LocalAuth, psk.RemoteAuth = LocalAuth{}, RemoteAuth{}
	rp.e.SetPeers(append(rp.e.Peers(), &psk))
	if err := lp.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder used the psk connection", func() bool {
		s := rp.e.SAs()
		return len(s) == 1 && s[0].Name == "psk"
	})
}

func TestIdentityStringDN(t *testing.T) {
	ca := pkitest.NewCA(t, "CA", pkitest.P256)
	c := ca.Issue(pkitest.Leaf{CN: "moon"}, pkitest.NewKey(t, pkitest.P256))
	id := Identity{Type: wire.IDDERASN1DN, Data: c.RawSubject}
	if got, want := id.String(), "C=CH, O=goipsec test, CN=moon"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestResponderTriesCandidates: the responder has two pubkey connections
// for the same address, trusting different CAs; the initiator's
// certificate verifies only under the second, which is chosen.
func TestResponderTriesCandidates(t *testing.T) {
	w := newWorld(t, pkitest.P256, pkitest.P256, pkitest.P256)
	l, r := w.sides()
	other := pkitest.NewCA(t, "Other CA", pkitest.P256)
	otherTrust, _ := pki.NewTrustStore([]*x509.Certificate{other.Cert}, nil)
	r.rauth.Trust = otherTrust
	lp, rp := newAuthPair(t, l, r)
	good := *rp.e.Peers()[0]
	good.Name = "good"
	good.RemoteAuth.Trust = w.trust
	rp.e.SetPeers(append(rp.e.Peers(), &good))
	if err := lp.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder used the second connection", func() bool {
		s := rp.e.SAs()
		return len(s) == 1 && s[0].Name == "good" && s[0].State == StateEstablished
	})
}
