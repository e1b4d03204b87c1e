package suite

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ErrInvalidPublicValue is wrapped by SharedSecret when the peer's public
// value is rejected (RFC 6989, RFC 5903 7, RFC 8031 2): wrong length, out
// of range, not on the curve, or a result that is all zeros.
var ErrInvalidPublicValue = errors.New("suite: invalid key exchange public value")

// KeyExchange is one side of an IKEv2 key exchange (RFC 7296 2.10, 3.4):
// the data of our KE payload and, given the peer's, the shared secret g^ir.
// Implementations are safe for concurrent use once made.
type KeyExchange interface {
	// Group returns the transform type 4 ID (RFC 7296 3.3.2).
	Group() uint16
	// PublicValue returns the Key Exchange Data of our KE payload. The
	// caller must not modify it.
	PublicValue() []byte
	// SharedSecret validates the peer's Key Exchange Data and returns
	// g^ir in the representation RFC 7296 2.14 feeds to the PRF.
	SharedSecret(peer []byte) ([]byte, error)
}

// SupportedGroup reports whether NewKeyExchange and Respond implement
// group.
func SupportedGroup(group uint16) bool {
	switch group {
	case ike.GroupMODP2048, ike.GroupMODP3072, ike.GroupMODP4096, ike.GroupMODP6144, ike.GroupMODP8192,
		ike.GroupECP256, ike.GroupECP384, ike.GroupECP521, ike.GroupCurve25519, ike.GroupCurve448:
		return true
	}
	return IsKEM(group)
}

// IsKEM reports whether group is a key encapsulation mechanism (ML-KEM,
// RFC 9370 2.2.2, draft-ietf-ipsecme-ikev2-mlkem) rather than a
// Diffie-Hellman group: the two sides then send different things (the
// initiator an encapsulation key, the responder a ciphertext), and the
// responder must use Respond.
func IsKEM(group uint16) bool {
	return group == ike.GroupMLKEM512 || group == ike.GroupMLKEM768 || group == ike.GroupMLKEM1024
}

// NewKeyExchange makes the initiator's side of a key exchange for group:
// a fresh key pair for MODP-2048 to -8192 (14 to 18, RFC 3526), the random
// ECP groups of 256, 384 and 521 bits (19, 20, 21; RFC 5903),
// Curve25519 or Curve448 (31, 32; RFC 8031); for ML-KEM-512, -768 and
// -1024 (35, 36, 37; FIPS 203) a decapsulation key whose encapsulation key
// is the public value. The
// private key is drawn from r (nil means crypto/rand.Reader); unlike
// crypto/ecdh.GenerateKey, r is really used, so a deterministic reader
// gives reproducible keys in tests and simulations.
//
// For a Diffie-Hellman group the responder may use NewKeyExchange too;
// Respond works for every group.
func NewKeyExchange(group uint16, r io.Reader) (KeyExchange, error) {
	if r == nil {
		r = rand.Reader
	}
	switch group {
	case ike.GroupMODP2048:
		return newMODP(group, modp2048, 512, r)
	case ike.GroupMODP3072:
		return newMODP(group, modp3072, 512, r)
	case ike.GroupMODP4096:
		return newMODP(group, modp4096, 512, r)
	case ike.GroupMODP6144:
		return newMODP(group, modp6144, 640, r)
	case ike.GroupMODP8192:
		return newMODP(group, modp8192, 640, r)
	case ike.GroupECP256:
		return newECDH(group, ecdh.P256(), 32, r)
	case ike.GroupECP384:
		return newECDH(group, ecdh.P384(), 48, r)
	case ike.GroupECP521:
		return newECDH(group, ecdh.P521(), 66, r)
	case ike.GroupCurve25519:
		return newECDH(group, ecdh.X25519(), 32, r)
	case ike.GroupCurve448:
		return newX448(r)
	case ike.GroupMLKEM512, ike.GroupMLKEM768, ike.GroupMLKEM1024:
		return newMLKEM(group, r)
	}
	return nil, fmt.Errorf("%w: key exchange method %d", ErrUnsupported, group)
}

// Respond is the responder's side of a key exchange for group, given the
// initiator's Key Exchange Data peer: it returns the Key Exchange Data of
// our reply and the shared secret. For a Diffie-Hellman group that is a
// fresh key pair and the secret it shares with peer; for ML-KEM peer is
// the encapsulation key, which is checked (FIPS 203 7.2), and our data is
// the ciphertext encapsulating a fresh secret to it (RFC 9370 2.2.2).
// Errors for peer values wrap ErrInvalidPublicValue.
func Respond(group uint16, peer []byte, r io.Reader) (public, secret []byte, err error) {
	if IsKEM(group) {
		return encapsulate(group, peer)
	}
	ke, err := NewKeyExchange(group, r)
	if err != nil {
		return nil, nil, err
	}
	secret, err = ke.SharedSecret(peer)
	if err != nil {
		return nil, nil, err
	}
	return ke.PublicValue(), secret, nil
}

// modp2048 is the 2048-bit MODP group of RFC 3526 3 (IKE group 14):
// p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }, g = 2.
var modp2048 = mustHexInt("" +
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1" +
	"29024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
	"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245" +
	"E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D" +
	"C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
	"83655D23DCA3AD961C62F356208552BB9ED529077096966D" +
	"670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
	"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9" +
	"DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
	"15728E5A8AACAA68FFFFFFFFFFFFFFFF")

func mustHexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("suite: bad constant")
	}
	return n
}

// maxKeyTries bounds the rejection sampling of private keys: a random
// 256-bit string is >= the P-256 order with probability about 2^-32, so a
// reader that fails this many times is broken.
const maxKeyTries = 64

var errBadRandom = errors.New("suite: key exchange: random source keeps giving invalid private keys")

// modpKE is a MODP group on math/big. big.Int.Exp does not run in constant
// time; the exponent is ephemeral (one exchange), which limits what a
// timing observer can learn, but the ECP groups and Curve25519 (constant
// time in crypto/ecdh) are preferred in DefaultIKEProposals.
type modpKE struct {
	group uint16
	p     *big.Int
	x     *big.Int
	pub   []byte
}

// newMODP makes a key pair with a private exponent of expBits bits. RFC
// 3526 8 estimates the strength of each group (110-160 bits for 2048,
// 130-210 for 3072, 150-240 for 4096, 170-270 for 6144, 190-310 for 8192)
// and asks for an exponent of at least twice that: 512 bits up to 4096,
// 640 above, is at or above the upper estimates of 2048 to 4096 and the
// lower ones of 6144 and 8192, and much cheaper than a full-size exponent.
func newMODP(group uint16, p *big.Int, expBits int, r io.Reader) (*modpKE, error) {
	buf := make([]byte, expBits/8)
	defer clear(buf)
	x := new(big.Int)
	for try := 0; x.Cmp(big.NewInt(2)) < 0; try++ { // x in [2, 2^expBits): never 0 or 1
		if try == maxKeyTries {
			return nil, errBadRandom
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("suite: key exchange: %w", err)
		}
		x.SetBytes(buf)
	}
	y := new(big.Int).Exp(big.NewInt(2), x, p)
	size := (p.BitLen() + 7) / 8
	return &modpKE{group: group, p: p, x: x, pub: y.FillBytes(make([]byte, size))}, nil
}

func (m *modpKE) Group() uint16       { return m.group }
func (m *modpKE) PublicValue() []byte { return m.pub }

// SharedSecret checks the peer's value y as RFC 6989 2.1 requires for a
// MODP group with a safe prime: exactly the length of p (RFC 7296 3.4
// pads it with zeros), and 1 < y < p-1. The result g^ir is left-padded to
// the length of p (RFC 7296 2.14).
func (m *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	size := len(m.pub)
	if len(peer) != size {
		return nil, fmt.Errorf("%w: MODP group %d value is %d bytes, want %d", ErrInvalidPublicValue, m.group, len(peer), size)
	}
	y := new(big.Int).SetBytes(peer)
	pMinus1 := new(big.Int).Sub(m.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: MODP group %d value outside 1 < y < p-1 (RFC 6989 2.1)", ErrInvalidPublicValue, m.group)
	}
	z := new(big.Int).Exp(y, m.x, m.p)
	if z.Cmp(big.NewInt(1)) <= 0 || z.Cmp(pMinus1) == 0 { // unreachable for a valid y; belt and braces
		return nil, fmt.Errorf("%w: MODP group %d degenerate shared secret", ErrInvalidPublicValue, m.group)
	}
	return z.FillBytes(make([]byte, size)), nil
}

// ecdhKE is an ECP group in the RFC 5903 encoding or Curve25519 in the RFC
// 8031 one, both on crypto/ecdh.
type ecdhKE struct {
	group    uint16
	curve    ecdh.Curve
	coordLen int // bytes per coordinate (x25519: the u-coordinate)
	priv     *ecdh.PrivateKey
	pub      []byte
}

func (e *ecdhKE) isX25519() bool { return e.group == ike.GroupCurve25519 }

func newECDH(group uint16, curve ecdh.Curve, coordLen int, r io.Reader) (*ecdhKE, error) {
	e := &ecdhKE{group: group, curve: curve, coordLen: coordLen}
	buf := make([]byte, coordLen)
	defer clear(buf)
	for try := 0; e.priv == nil; try++ {
		if try == maxKeyTries {
			return nil, errBadRandom
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("suite: key exchange: %w", err)
		}
		if group == ike.GroupECP521 {
			// 66 octets hold 528 bits; the order has 521. Without the
			// top 7 bits most draws would be refused.
			buf[0] &= 0x01
		}
		// X25519 takes any 32 bytes (clamped, RFC 7748 5); NIST scalars
		// must be in [1, n-1] and are otherwise drawn again.
		e.priv, _ = curve.NewPrivateKey(buf)
	}
	pub := e.priv.PublicKey().Bytes()
	if !e.isX25519() {
		pub = pub[1:] // RFC 5903 7: x || y, without SEC1's 0x04 prefix
	}
	e.pub = pub
	return e, nil
}

func (e *ecdhKE) Group() uint16       { return e.group }
func (e *ecdhKE) PublicValue() []byte { return e.pub }

// SharedSecret validates the peer's value and returns the shared secret:
// for ECP groups the peer sends x || y (RFC 5903 7), which must be a point
// on the curve (RFC 6989 2.3; crypto/ecdh checks it), and the secret is the
// x coordinate of the product (RFC 5903 7). For Curve25519 the peer sends 32
// octets and an all-zero result is rejected (RFC 8031 2).
func (e *ecdhKE) SharedSecret(peer []byte) ([]byte, error) {
	want := 2 * e.coordLen
	if e.isX25519() {
		want = e.coordLen
	}
	if len(peer) != want {
		return nil, fmt.Errorf("%w: group %d value is %d bytes, want %d", ErrInvalidPublicValue, e.group, len(peer), want)
	}
	enc := peer
	if !e.isX25519() {
		enc = make([]byte, 1+len(peer))
		enc[0] = 4 // SEC1 uncompressed point
		copy(enc[1:], peer)
	}
	pub, err := e.curve.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: group %d: %v", ErrInvalidPublicValue, e.group, err)
	}
	secret, err := e.priv.ECDH(pub)
	if err != nil { // X25519 low-order point: all-zero output
		return nil, fmt.Errorf("%w: group %d: %v", ErrInvalidPublicValue, e.group, err)
	}
	return secret, nil
}
