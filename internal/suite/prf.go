// Package suite maps IKEv2 transform IDs to implementations: the PRFs and
// prf+ (RFC 7296 2.13), the salted AEADs used by ESP (RFC 4106, RFC 7634)
// and by the IKE SK payload (RFC 5282, RFC 7634), the key exchanges (RFC 7296
// 2.10 with the groups of RFC 3526, RFC 5903 and RFC 8031), and strongSwan's
// proposal keywords (swanctl.conf proposals / esp_proposals).
//
// Everything that takes peer input (AEAD.Open, KeyExchange.SharedSecret)
// checks lengths first and returns an error; it never panics.
package suite

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ErrUnsupported is wrapped by the errors of NewPRF, NewAEAD, AEADKeymatLen
// and NewKeyExchange for transform IDs (or key sizes) this build cannot do.
var ErrUnsupported = errors.New("suite: unsupported transform")

// PRF is an HMAC-based IKEv2 pseudorandom function (RFC 7296 2.13, 3.3.2):
// PRF_HMAC_SHA1 (2, RFC 2104), PRF_HMAC_SHA2_256/384/512 (5/6/7, RFC 4868).
// A PRF is immutable and safe for concurrent use.
type PRF struct {
	id   uint16
	hash func() hash.Hash
	size int
}

// NewPRF returns the PRF with IANA transform type 2 ID id.
func NewPRF(id uint16) (*PRF, error) {
	switch id {
	case ike.PRFHMACSHA1:
		return &PRF{id: id, hash: sha1.New, size: sha1.Size}, nil
	case ike.PRFHMACSHA256:
		return &PRF{id: id, hash: sha256.New, size: sha256.Size}, nil
	case ike.PRFHMACSHA384:
		return &PRF{id: id, hash: sha512.New384, size: sha512.Size384}, nil
	case ike.PRFHMACSHA512:
		return &PRF{id: id, hash: sha512.New, size: sha512.Size}, nil
	}
	return nil, fmt.Errorf("%w: PRF %d", ErrUnsupported, id)
}

// ID returns the IANA transform ID (RFC 7296 3.3.2, transform type 2).
func (p *PRF) ID() uint16 { return p.id }

// Size returns the output length in bytes, which is also the preferred key
// length (RFC 7296 2.13, RFC 4868 2.3: the key for SK_d, SK_pi and SK_pr).
func (p *PRF) Size() int { return p.size }

// String returns strongSwan's name for the PRF, e.g. "PRF_HMAC_SHA2_256".
func (p *PRF) String() string { return transformName(ike.TransformPRF, p.id) }

// Compute returns prf(key, data[0] | data[1] | ...). HMAC takes keys of any
// length (RFC 2104 2), so key need not be Size bytes (RFC 7296 2.13: the
// nonces used as the SKEYSEED key are of variable length).
func (p *PRF) Compute(key []byte, data ...[]byte) []byte {
	m := hmac.New(p.hash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(make([]byte, 0, p.size))
}

// MaxPlus is the longest output of prf+ in blocks of the PRF's Size: the
// counter octet may not wrap (RFC 7296 2.13).
const MaxPlus = 255

// Plus returns the first n bytes of prf+(key, seed) (RFC 7296 2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02)
//	Tn = prf (K, T(n-1) | S | n)
//
// The counter is a single octet, so n may not exceed 255*Size().
func (p *PRF) Plus(key, seed []byte, n int) ([]byte, error) {
	if n < 0 || n > MaxPlus*p.size {
		return nil, fmt.Errorf("suite: prf+ of %d bytes: must be between 0 and %d (RFC 7296 2.13)", n, MaxPlus*p.size)
	}
	out := make([]byte, 0, (n+p.size-1)/p.size*p.size)
	m := hmac.New(p.hash, key)
	var prev []byte
	for i := 1; len(out) < n; i++ {
		m.Reset()
		m.Write(prev)
		m.Write(seed)
		m.Write([]byte{byte(i)})
		out = m.Sum(out)
		prev = out[len(out)-p.size:]
	}
	// The bytes past n are key material too: do not leave them behind the
	// returned slice's capacity.
	clear(out[n:])
	return out[:n:n], nil
}
