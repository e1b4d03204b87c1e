package ike

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/pki"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// AuthClass is how one side of an IKE SA authenticates (swanctl's local
// and remote auth).
type AuthClass int

// Authentication classes.
const (
	AuthClassPSK    AuthClass = iota // pre-shared key (the zero value)
	AuthClassPubKey                  // signature with a certificate or raw public key
)

func (c AuthClass) String() string {
	if c == AuthClassPubKey {
		return "pubkey"
	}
	return "psk"
}

// SendCertPolicy says when we send our certificate (swanctl send_cert).
type SendCertPolicy int

// Certificate sending policies.
const (
	SendCertIfAsked SendCertPolicy = iota // when the peer sent a CERTREQ (the default)
	SendCertAlways
	SendCertNever
)

// LocalAuth is how we authenticate ourselves.
type LocalAuth struct {
	Class AuthClass
	// Signer is our private key (AuthClassPubKey).
	Signer crypto.Signer
	// Certs is our certificate first, then intermediates to send along;
	// empty for a raw public key.
	Certs    []*x509.Certificate
	SendCert SendCertPolicy
	// Sign restricts hashes and picks RSASSA-PSS or method 1; PeerHashes
	// is filled in per IKE SA.
	Sign pki.SignOptions
}

// RemoteAuth is what the peer must prove.
type RemoteAuth struct {
	Class AuthClass
	// Trust holds the CAs (and CRLs) the peer's certificate must chain to.
	Trust *pki.TrustStore
	// Certs pins the peer's end-entity certificate (swanctl remote.certs):
	// if set, the peer must use one of these; they are trusted as they are.
	Certs []*x509.Certificate
	// PubKeys are raw public keys the peer may sign with (swanctl pubkeys).
	PubKeys []crypto.PublicKey
	// SendCertReq sends CERTREQ payloads naming Trust's CAs (send_certreq).
	SendCertReq bool
	// Verify restricts the accepted signature hashes.
	Verify pki.VerifyOptions
	// KeyType restricts the peer's key (swanctl auth = rsa|ecdsa|ed25519):
	// "" for any, else what pki.KeyType returns.
	KeyType string
}

// authState is what IKE_SA_INIT tells us about the peer's authentication.
type authState struct {
	peerHashes []pki.HashAlgorithm // SIGNATURE_HASH_ALGORITHMS, nil if not sent
	certReq    bool                // the peer sent a CERTREQ
}

// signedOctets is what AUTH covers (RFC 7296 2.15):
// RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload), followed by
// IntAuth after IKE_INTERMEDIATE exchanges (RFC 9242 3.3).
func (k *ikeKeys) signedOctets(realMessage, peerNonce, skP, idBody, intAuth []byte) []byte {
	return concat(realMessage, peerNonce, k.prf.Compute(skP, idBody), intAuth)
}

// initAuthNotifies are our IKE_SA_INIT payloads for signature
// authentication: SIGNATURE_HASH_ALGORITHMS (RFC 7427 4), always, as
// strongSwan does; and, in the response, CERTREQ (RFC 7296 3.7) naming the
// CAs of candidate connections.
func (sa *ikeSA) initAuthPayloads(candidates []*PeerConfig) []wire.Payload {
	ps := []wire.Payload{&wire.Notify{NotifyType: wire.NotifySignatureHashAlgorithms, Data: pki.EncodeHashAlgorithms(pki.SupportedHashes)}}
	if req := certReqFor(candidates); req != nil {
		ps = append(ps, req)
	}
	return ps
}

// respondInitAuth notes the initiator's IKE_SA_INIT payloads for
// authentication and returns ours: the CERTREQ names the CAs of every
// connection whose addresses match, since which one applies is only known
// in IKE_AUTH.
func (sa *ikeSA) respondInitAuth(ps []wire.Payload, ev packetEvent) []wire.Payload {
	sa.noteAuthPayloads(ps)
	var candidates []*PeerConfig
	for _, p := range sa.e.Peers() {
		if prefixesMatch(p.LocalAddrs, ev.local.Addr()) && prefixesMatch(p.RemoteAddrs, ev.remote.Addr()) {
			candidates = append(candidates, p)
		}
	}
	return sa.initAuthPayloads(candidates)
}

// certReqFor builds one CERTREQ naming every CA of the given connections
// that authenticate their peer with certificates and send CERTREQs.
func certReqFor(peers []*PeerConfig) *wire.CertReq {
	var data []byte
	seen := map[string]bool{}
	for _, p := range peers {
		ra := p.RemoteAuth
		if ra.Class != AuthClassPubKey || !ra.SendCertReq || ra.Trust == nil {
			continue
		}
		for _, ca := range ra.Trust.CAs() {
			h := pki.CAKeyHash(ca)
			if !seen[string(h[:])] {
				seen[string(h[:])] = true
				data = append(data, h[:]...)
			}
		}
	}
	if data == nil {
		return nil
	}
	return &wire.CertReq{Encoding: wire.CertX509Signature, Data: data}
}

// noteAuthPayloads records the peer's SIGNATURE_HASH_ALGORITHMS and
// CERTREQ from IKE_SA_INIT (or CERTREQ from IKE_AUTH).
func (sa *ikeSA) noteAuthPayloads(ps []wire.Payload) {
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.Notify:
			if p.NotifyType == wire.NotifySignatureHashAlgorithms {
				hs, err := pki.ParseHashAlgorithms(p.Data)
				if err != nil {
					sa.log.Info("ignoring malformed SIGNATURE_HASH_ALGORITHMS", "err", err)
					continue
				}
				sa.auth.peerHashes = hs
			}
		case *wire.CertReq:
			if p.Encoding == wire.CertX509Signature {
				sa.auth.certReq = true
			}
		}
	}
}

// localAuthPayloads builds [CERT...] and AUTH for our ID payload id
// (RFC 7296 2.15): a PSK MAC or a signature. realMessage and peerNonce
// are our IKE_SA_INIT message and the peer's nonce, skP our SK_p.
func (sa *ikeSA) localAuthPayloads(id *wire.ID, realMessage, peerNonce, skP []byte) (certs []wire.Payload, auth *wire.Auth, err error) {
	la := sa.peer.LocalAuth
	if la.Class == AuthClassPSK {
		remote := sa.remoteID
		if remote.IsZero() {
			remote = sa.peer.RemoteID
		}
		psk, ok := sa.e.cfg.SharedKey(sa.localID, remote)
		if !ok {
			return nil, nil, fmt.Errorf("no pre-shared key for %v - %v", sa.localID, remote)
		}
		return nil, &wire.Auth{Method: wire.AuthPSK, Data: sa.keys.pskAuth(psk, realMessage, peerNonce, skP, id.Body(), sa.intAuth())}, nil
	}
	if la.Signer == nil {
		return nil, nil, errors.New("no private key for our certificate or public key")
	}
	opt := la.Sign
	opt.PeerHashes = sa.auth.peerHashes
	method, data, err := pki.Sign(la.Signer, sa.keys.signedOctets(realMessage, peerNonce, skP, id.Body(), sa.intAuth()), opt, sa.e.cfg.Rand)
	if err != nil {
		return nil, nil, fmt.Errorf("signing AUTH: %w", err)
	}
	send := la.SendCert == SendCertAlways || (la.SendCert == SendCertIfAsked && sa.auth.certReq)
	if send {
		for _, c := range la.Certs {
			certs = append(certs, &wire.Cert{Encoding: wire.CertX509Signature, Data: c.Raw})
		}
	}
	return certs, &wire.Auth{Method: method, Data: data}, nil
}

// localCertReq is the CERTREQ the initiator sends in IKE_AUTH (RFC 7296 1.2).
func (sa *ikeSA) localCertReq() []wire.Payload {
	if req := certReqFor([]*PeerConfig{sa.peer}); req != nil {
		return []wire.Payload{req}
	}
	return nil
}

// verifyPeerAuth checks the peer's AUTH payload for its ID payload id
// (RFC 7296 2.15): the PSK MAC, or a signature by a key bound to id — a
// certificate from the CERT payloads that chains to a trusted CA (or a
// pinned certificate or raw public key) and carries the identity. It
// returns a reason for the log when authentication fails.
func (sa *ikeSA) verifyPeerAuth(p *PeerConfig, localID Identity, ps []wire.Payload, id *wire.ID, auth *wire.Auth, realMessage, ourNonce, skP []byte) error {
	ra := p.RemoteAuth
	if ra.Class == AuthClassPSK {
		if auth.Method != wire.AuthPSK {
			return fmt.Errorf("peer used %v, but the connection expects a pre-shared key", auth.Method)
		}
		psk, ok := sa.e.cfg.SharedKey(localID, sa.remoteID)
		if !ok {
			return fmt.Errorf("no pre-shared key for %v - %v", localID, sa.remoteID)
		}
		want := sa.keys.pskAuth(psk, realMessage, ourNonce, skP, id.Body(), sa.intAuth())
		if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
			return errors.New("AUTH does not verify (wrong pre-shared key?)")
		}
		return nil
	}
	if auth.Method == wire.AuthPSK {
		return errors.New("peer used a pre-shared key, but the connection expects a signature")
	}
	keys, subject, err := peerKeys(p, ps, id)
	if err != nil {
		return err
	}
	octets := sa.keys.signedOctets(realMessage, ourNonce, skP, id.Body(), sa.intAuth())
	var lastErr error
	for _, k := range keys {
		if ra.KeyType != "" && pki.KeyType(k) != ra.KeyType {
			lastErr = fmt.Errorf("peer's key is %s, the connection wants %s", pki.KeyType(k), ra.KeyType)
			continue
		}
		scheme, err := pki.Verify(k, auth.Method, auth.Data, octets, ra.Verify)
		if err == nil {
			sa.log.Info("peer authenticated with a signature", "scheme", scheme, "method", auth.Method, "key", subject)
			return nil
		}
		lastErr = err
	}
	return fmt.Errorf("signature of %s: %w", subject, lastErr)
}

// peerKeys finds the public keys that may have signed the peer's AUTH,
// each bound to the identity id.
func peerKeys(p *PeerConfig, ps []wire.Payload, id *wire.ID) ([]crypto.PublicKey, string, error) {
	ra := p.RemoteAuth
	var sent []*x509.Certificate
	for _, pl := range ps {
		c, ok := pl.(*wire.Cert)
		if !ok || c.Encoding != wire.CertX509Signature {
			continue // other encodings (hash and URL, CRLs) are not used
		}
		if len(sent) >= pki.MaxPeerCerts {
			break
		}
		cert, err := x509.ParseCertificate(c.Data)
		if err != nil {
			return nil, "", fmt.Errorf("CERT payload %d: %v", len(sent)+1, err)
		}
		sent = append(sent, cert)
	}
	if len(sent) > 0 {
		// The first certificate holds the key of AUTH (RFC 7296 3.6).
		leaf := sent[0]
		subject := fmt.Sprintf("%q", leaf.Subject.String())
		if len(ra.Certs) > 0 {
			if !slices.ContainsFunc(ra.Certs, leaf.Equal) {
				return nil, "", fmt.Errorf("certificate %s is not one of the connection's remote certs", subject)
			}
		} else if _, err := ra.Trust.Verify(leaf, sent[1:], time.Now()); err != nil {
			return nil, "", fmt.Errorf("certificate %s: %w", subject, err)
		}
		if err := pki.MatchIdentity(leaf, id.IDType, id.Data); err != nil {
			return nil, "", err
		}
		return []crypto.PublicKey{leaf.PublicKey}, subject, nil
	}
	// No CERT: a pinned certificate carrying the identity, or a raw key.
	var keys []crypto.PublicKey
	for _, c := range ra.Certs {
		if pki.MatchIdentity(c, id.IDType, id.Data) == nil && time.Now().Before(c.NotAfter) && time.Now().After(c.NotBefore) {
			keys = append(keys, c.PublicKey)
		}
	}
	for _, k := range ra.PubKeys {
		if rawKeyBound(k, id, p.RemoteID) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		if len(ra.Certs) == 0 && len(ra.PubKeys) == 0 {
			return nil, "", errors.New("peer sent no certificate (CERT payload)")
		}
		return nil, "", fmt.Errorf("peer sent no certificate and no configured certificate or public key is bound to %v", Identity{Type: id.IDType, Data: id.Data})
	}
	return keys, "configured key", nil
}

// rawKeyBound reports whether a raw public key stands for the identity
// id: the connection names that identity (remote.id), or id is the key's
// ID_KEY_ID (the SHA-1 of its subjectPublicKey, RFC 5280 4.2.1.2).
func rawKeyBound(k crypto.PublicKey, id *wire.ID, configured Identity) bool {
	if !configured.IsZero() && configured.Equal(Identity{Type: id.IDType, Data: id.Data}) {
		return true
	}
	if id.IDType != wire.IDKeyID {
		return false
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return false
	}
	var spki struct {
		Algorithm asn1.RawValue
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return false
	}
	h := sha1.Sum(spki.Key.Bytes)
	return bytes.Equal(h[:], id.Data)
}

// authenticateInitiator tries the connections that match the initiator's
// identities, in order, those whose remote authentication class fits the
// AUTH method first (strongSwan likewise moves on to the next candidate
// config): the first whose check passes wins. If none does, it returns
// the first candidate with its reason; nil if there is no candidate.
func (sa *ikeSA) authenticateInitiator(ps []wire.Payload, idi *wire.ID, auth *wire.Auth, peers []*PeerConfig) (*PeerConfig, error) {
	fits := func(p *PeerConfig) bool { return (auth.Method == wire.AuthPSK) == (p.RemoteAuth.Class == AuthClassPSK) }
	ordered := slices.Concat(slices.DeleteFunc(slices.Clone(peers), func(p *PeerConfig) bool { return !fits(p) }),
		slices.DeleteFunc(slices.Clone(peers), fits))
	if len(ordered) == 0 {
		return nil, nil
	}
	var firstErr error
	for _, p := range ordered {
		err := sa.verifyPeerAuth(p, localIDOf(p, sa.local.Addr()), ps, idi, auth, sa.msg1, sa.nonceR, sa.keys.skPi)
		if err == nil {
			return p, nil
		}
		if firstErr == nil {
			firstErr = err
		} else {
			sa.log.Debug("candidate connection refused the initiator", "conn", p.Name, "err", err)
		}
	}
	return ordered[0], firstErr
}

// localIDOf is our identity on a connection: configured, or our address.
func localIDOf(p *PeerConfig, local netip.Addr) Identity {
	if p.LocalID.IsZero() {
		return IdentityFromAddr(local)
	}
	return p.LocalID
}

// dnNames are the attribute names strongSwan prints in distinguished names.
var dnNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
	"2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.12": "T", "2.5.4.42": "G", "2.5.4.43": "I",
	"1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.1": "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// formatDN renders a DER distinguished name the way strongSwan prints it
// ("C=CH, O=strongSwan, CN=moon", in encoding order), which is also the
// syntax swanctl.conf ids and secrets use.
func formatDN(der []byte) (string, bool) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) != 0 {
		return "", false
	}
	var parts []string
	for _, rdn := range rdns {
		for _, atv := range rdn {
			name, ok := dnNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			parts = append(parts, fmt.Sprintf("%s=%v", name, atv.Value))
		}
	}
	return strings.Join(parts, ", "), true
}
