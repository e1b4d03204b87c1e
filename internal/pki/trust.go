package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// Errors callers tell apart (all mean AUTHENTICATION_FAILED on the wire).
var (
	ErrUntrusted  = errors.New("certificate does not chain to a trusted CA")
	ErrRevoked    = errors.New("certificate revoked")
	ErrIDNotBound = errors.New("identity not bound to the certificate")
)

// MaxPeerCerts bounds the intermediate certificates taken from one peer's
// CERT payloads; more are ignored (a real chain is a handful long).
const MaxPeerCerts = 8

// TrustStore holds the CA certificates a peer's chain must end in and the
// CRLs its certificates are checked against. The zero value trusts nobody.
// A TrustStore is immutable once built and safe for concurrent use.
type TrustStore struct {
	roots *x509.CertPool
	cas   []*x509.Certificate
	crls  []*x509.RevocationList
}

// NewTrustStore builds a trust store from CA certificates and CRLs. A CRL is
// kept only if a CA (or an intermediate seen later) can vouch for it: its
// signature is checked when it is used, against the issuer found in the
// verified chain.
func NewTrustStore(cas []*x509.Certificate, crls []*x509.RevocationList) (*TrustStore, error) {
	s := &TrustStore{roots: x509.NewCertPool()}
	for _, c := range cas {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("certificate %q is not a CA (basicConstraints cA is not set)", c.Subject)
		}
		s.roots.AddCert(c)
		s.cas = append(s.cas, c)
	}
	s.crls = append(s.crls, crls...)
	return s, nil
}

// CAs returns the trusted CA certificates.
func (s *TrustStore) CAs() []*x509.Certificate { return s.cas }

// Verify validates the peer's end-entity certificate leaf, with the
// intermediates it sent, at time now (RFC 5280 6 via crypto/x509): the
// chain must end in one of the store's CAs, every certificate must be in
// its validity period, and none may be revoked by a CRL of its issuer. It
// returns the verified chain, leaf first.
func (s *TrustStore) Verify(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	if s == nil || len(s.cas) == 0 {
		return nil, fmt.Errorf("%w: no CA certificates configured", ErrUntrusted)
	}
	inter := x509.NewCertPool()
	for i, c := range intermediates {
		if i >= MaxPeerCerts {
			break
		}
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.roots,
		Intermediates: inter,
		CurrentTime:   now,
		// IKE has no EKU requirement (RFC 4945 5.1.3.12): any is fine.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	var lastErr error
	for _, chain := range chains {
		if lastErr = s.checkRevocation(chain, now); lastErr == nil {
			return chain, nil
		}
	}
	return nil, lastErr
}

// checkRevocation checks every certificate of a chain (but the root)
// against the CRLs issued by its issuer (RFC 5280 6.3). A CRL whose
// signature does not verify with the issuer's key is not used; a CRL that
// is out of date still revokes what it lists (strongSwan does the same).
func (s *TrustStore) checkRevocation(chain []*x509.Certificate, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		c, issuer := chain[i], chain[i+1]
		for _, crl := range s.crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
				continue
			}
			if err := crl.CheckSignatureFrom(issuer); err != nil {
				continue
			}
			for _, r := range crl.RevokedCertificateEntries {
				if r.SerialNumber != nil && r.SerialNumber.Cmp(c.SerialNumber) == 0 && !r.RevocationTime.After(now) {
					return fmt.Errorf("%w: %q (serial %x) on %s", ErrRevoked, c.Subject, c.SerialNumber, r.RevocationTime.UTC().Format(time.RFC3339))
				}
			}
		}
	}
	return nil
}

// CertReqData is the Certification Authority field of a CERTREQ payload for
// X.509 (RFC 7296 3.7): the concatenated SHA-1 hashes of the CAs' public
// keys (the DER of the SubjectPublicKeyInfo).
func (s *TrustStore) CertReqData() []byte {
	if s == nil {
		return nil
	}
	var out []byte
	for _, c := range s.cas {
		h := CAKeyHash(c)
		out = append(out, h[:]...)
	}
	return out
}

// CAKeyHash is the CERTREQ hash of a CA certificate (RFC 7296 3.7: "the
// SHA-1 hash of the Subject Public Key Info element").
func CAKeyHash(c *x509.Certificate) [sha1.Size]byte {
	return sha1.Sum(c.RawSubjectPublicKeyInfo)
}

// subjectPublicKey returns the BIT STRING contents of an SPKI, the input
// of the RFC 5280 4.2.1.2 key identifier.
func subjectPublicKey(spki []byte) ([]byte, error) {
	var v struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(spki, &v); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed SubjectPublicKeyInfo")
	}
	return v.PublicKey.Bytes, nil
}
