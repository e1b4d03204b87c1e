package suite

import (
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/cloudflare/circl/dh/x448"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// x448KE is Curve448 (IKE group 32, RFC 8031) with the X448 function of
// RFC 7748 5, from Cloudflare's CIRCL (Go's standard library has only
// X25519). The Key Exchange Data and the shared secret are the 56-octet
// little-endian u-coordinates (RFC 8031 2, 3).
type x448KE struct {
	priv x448.Key
	pub  []byte
}

func newX448(r io.Reader) (*x448KE, error) {
	k := new(x448KE)
	// Any 56 octets are a private key: X448 clamps them (RFC 7748 5).
	if _, err := io.ReadFull(r, k.priv[:]); err != nil {
		return nil, fmt.Errorf("suite: key exchange: %w", err)
	}
	var pub x448.Key
	x448.KeyGen(&pub, &k.priv)
	k.pub = pub[:]
	return k, nil
}

func (k *x448KE) Group() uint16       { return ike.GroupCurve448 }
func (k *x448KE) PublicValue() []byte { return k.pub }

// SharedSecret checks the length (RFC 8031 2: exactly 56 octets) and
// refuses low-order points, whose shared secret is all zeros (RFC 8031 2,
// RFC 7748 6.2).
func (k *x448KE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != x448.Size {
		return nil, fmt.Errorf("%w: Curve448 value is %d bytes, want %d", ErrInvalidPublicValue, len(peer), x448.Size)
	}
	var pub, shared x448.Key
	copy(pub[:], peer)
	ok := x448.Shared(&shared, &k.priv, &pub)
	var zero x448.Key
	if !ok || subtle.ConstantTimeCompare(shared[:], zero[:]) == 1 {
		return nil, fmt.Errorf("%w: Curve448 low-order point (all-zero shared secret)", ErrInvalidPublicValue)
	}
	return shared[:], nil
}
