// Package suite maps IKEv2 transform IDs to implementations: the PRFs and
// prf+ (RFC 7296 2.13; HMAC-SHA1/SHA2, AES-XCBC, AES-CMAC), the ESP
// transforms (ESPTransform, RFC 8221), the IKE SK payload protection
// (SKTransform, RFC 7296 3.14, RFC 5282, RFC 5930), the key exchanges (RFC
// 7296 2.10 with the groups of RFC 3526, RFC 5903 and RFC 8031, and ML-KEM
// for RFC 9370), and strongSwan's proposal keywords (swanctl.conf
// proposals / esp_proposals).
//
// Everything that takes peer input (the Open methods, SharedSecret,
// Respond) checks lengths first and returns an error; it never panics.
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

// PRF is an IKEv2 pseudorandom function (RFC 7296 2.13, 3.3.2):
// PRF_HMAC_SHA1 (2, RFC 2104), PRF_HMAC_SHA2_256/384/512 (5/6/7, RFC
// 4868), PRF_AES128_XCBC (4, RFC 4434) and PRF_AES128_CMAC (8, RFC 4615).
// A PRF is immutable and safe for concurrent use.
type PRF struct {
	id     uint16
	newMAC func(key []byte) hash.Hash
	size   int
	fixed  bool // the AES PRFs: a 128-bit key (RFC 7296 2.14)
}

// NewPRF returns the PRF with IANA transform type 2 ID id.
func NewPRF(id uint16) (*PRF, error) {
	hmacOf := func(h func() hash.Hash, size int) *PRF {
		return &PRF{id: id, size: size, newMAC: func(key []byte) hash.Hash { return hmac.New(h, key) }}
	}
	switch id {
	case ike.PRFHMACSHA1:
		return hmacOf(sha1.New, sha1.Size), nil
	case ike.PRFHMACSHA256:
		return hmacOf(sha256.New, sha256.Size), nil
	case ike.PRFHMACSHA384:
		return hmacOf(sha512.New384, sha512.Size384), nil
	case ike.PRFHMACSHA512:
		return hmacOf(sha512.New, sha512.Size), nil
	case ike.PRFAES128XCBC:
		return &PRF{id: id, size: 16, fixed: true, newMAC: newXCBCPRF}, nil
	case ike.PRFAES128CMAC:
		return &PRF{id: id, size: 16, fixed: true, newMAC: newCMACPRF}, nil
	}
	return nil, fmt.Errorf("%w: PRF %d", ErrUnsupported, id)
}

// newXCBCPRF keys AES-XCBC-PRF-128 with a key of any length (RFC 4434 2):
// a 128-bit key is used as is, a shorter one is padded on the right with
// zero bits, and a longer one is replaced by AES-XCBC-MAC(0^128, key).
func newXCBCPRF(key []byte) hash.Hash {
	var k [16]byte
	defer clear(k[:])
	if len(key) <= 16 {
		copy(k[:], key)
	} else {
		m := mustBlockMAC(newXCBC(k[:]))
		m.Write(key)
		m.Sum(k[:0])
	}
	return mustBlockMAC(newXCBC(k[:]))
}

// newCMACPRF keys AES-CMAC-PRF-128 with a key of any length (RFC 4615 3):
// a 128-bit key is used as is, any other is replaced by AES-CMAC(0^128,
// key).
func newCMACPRF(key []byte) hash.Hash {
	var k [16]byte
	defer clear(k[:])
	if len(key) == 16 {
		copy(k[:], key)
	} else {
		m := mustBlockMAC(newCMAC(k[:]))
		m.Write(key)
		m.Sum(k[:0])
	}
	return mustBlockMAC(newCMAC(k[:]))
}

// mustBlockMAC unwraps newXCBC or newCMAC, which fail only for a key that
// is not 16 bytes: the callers above always pass 16.
func mustBlockMAC(m *blockMAC, err error) *blockMAC {
	if err != nil {
		panic("suite: " + err.Error())
	}
	return m
}

// ID returns the IANA transform ID (RFC 7296 3.3.2, transform type 2).
func (p *PRF) ID() uint16 { return p.id }

// Size returns the output length in bytes, which is also the preferred key
// length (RFC 7296 2.13, RFC 4868 2.3, RFC 4434 2, RFC 4615 3: the key for
// SK_d, SK_pi and SK_pr).
func (p *PRF) Size() int { return p.size }

// FixedKeyLen returns the key length of a PRF that takes keys of one
// length only, 16 for the AES PRFs, or 0 for the HMACs. RFC 7296 2.14 then
// builds the SKEYSEED key from the first half of each nonce; strongSwan
// and RFC 4434 treat AES-XCBC this way although it pads or shortens other
// keys, and we do the same for AES-CMAC.
func (p *PRF) FixedKeyLen() int {
	if p.fixed {
		return p.size
	}
	return 0
}

// String returns strongSwan's name for the PRF, e.g. "PRF_HMAC_SHA2_256".
func (p *PRF) String() string { return transformName(ike.TransformPRF, p.id) }

// Compute returns prf(key, data[0] | data[1] | ...). HMAC takes keys of any
// length (RFC 2104 2), and the AES PRFs bring keys of any length to 128
// bits (RFC 4434 2, RFC 4615 3), so key need not be Size bytes (RFC 7296
// 2.15: the pre-shared secret is the key of the "Key Pad" PRF).
func (p *PRF) Compute(key []byte, data ...[]byte) []byte {
	m := p.newMAC(key)
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
	m := p.newMAC(key)
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
