package suite

import (
	"crypto/mlkem"
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ML-KEM (FIPS 203) as an IKEv2 key exchange method: ML-KEM-512 (35),
// ML-KEM-768 (36) and ML-KEM-1024 (37) of the IANA Transform Type 4
// registry, meant as
// additional key exchanges (RFC 9370) in IKE_INTERMEDIATE exchanges or
// CREATE_CHILD_SA. The initiator's Key Exchange Data is its encapsulation
// key, the responder's the ciphertext, and the shared secret is the
// 32-octet ML-KEM shared key (draft-ietf-ipsecme-ikev2-mlkem 3).
//
// ML-KEM-768 and -1024 come from Go's crypto/mlkem; ML-KEM-512, which the
// standard library lacks, from Cloudflare's CIRCL (whose ML-KEM-768 gives
// the same keys, ciphertexts and secrets as crypto/mlkem's, see
// TestCIRCLMatchesStdlib).

// kemDecapsulator is what crypto/mlkem's two decapsulation key types share.
type kemDecapsulator interface {
	Decapsulate(ciphertext []byte) ([]byte, error)
}

// circlDecapsulator adapts CIRCL's ML-KEM-512 private key. The caller
// has checked the ciphertext length (DecapsulateTo panics otherwise).
type circlDecapsulator struct{ sk *mlkem512.PrivateKey }

func (d circlDecapsulator) Decapsulate(ct []byte) ([]byte, error) {
	ss := make([]byte, mlkem512.SharedKeySize)
	d.sk.DecapsulateTo(ss, ct)
	return ss, nil
}

// mlkemKE is the initiator's side: a decapsulation key.
type mlkemKE struct {
	group  uint16
	dk     kemDecapsulator
	pub    []byte
	ctSize int
}

func newMLKEM(group uint16, r io.Reader) (*mlkemKE, error) {
	// The 64-octet seed d || z of FIPS 203 7.1 (ML-KEM.KeyGen) is read
	// from r, so that a deterministic reader gives reproducible keys.
	seed := make([]byte, mlkem.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("suite: key exchange: %w", err)
	}
	k := &mlkemKE{group: group}
	switch group {
	case ike.GroupMLKEM512:
		pk, sk := mlkem512.NewKeyFromSeed(seed)
		k.pub = make([]byte, mlkem512.PublicKeySize)
		pk.Pack(k.pub)
		k.dk, k.ctSize = circlDecapsulator{sk}, mlkem512.CiphertextSize
	case ike.GroupMLKEM768:
		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			return nil, err
		}
		k.dk, k.pub, k.ctSize = dk, dk.EncapsulationKey().Bytes(), mlkem.CiphertextSize768
	case ike.GroupMLKEM1024:
		dk, err := mlkem.NewDecapsulationKey1024(seed)
		if err != nil {
			return nil, err
		}
		k.dk, k.pub, k.ctSize = dk, dk.EncapsulationKey().Bytes(), mlkem.CiphertextSize1024
	}
	return k, nil
}

func (k *mlkemKE) Group() uint16       { return k.group }
func (k *mlkemKE) PublicValue() []byte { return k.pub }

// SharedSecret decapsulates the responder's ciphertext. Only its length
// can be wrong: ML-KEM answers a forged ciphertext of the right length with
// an unrelated key (implicit rejection, FIPS 203 6.3), which then fails
// the AUTH exchange.
func (k *mlkemKE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != k.ctSize {
		return nil, fmt.Errorf("%w: %s ciphertext is %d bytes, want %d",
			ErrInvalidPublicValue, transformName(ike.TransformKE, k.group), len(peer), k.ctSize)
	}
	ss, err := k.dk.Decapsulate(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublicValue, transformName(ike.TransformKE, k.group), err)
	}
	return ss, nil
}

// encapsulate is the responder's side: it checks the initiator's
// encapsulation key (length and the modulus check of FIPS 203 7.2, done by
// crypto/mlkem or CIRCL) and encapsulates a fresh shared key to it. Both
// draw the randomness themselves from crypto/rand.
func encapsulate(group uint16, peer []byte) (ciphertext, secret []byte, err error) {
	name := transformName(ike.TransformKE, group)
	switch group {
	case ike.GroupMLKEM512:
		if len(peer) != mlkem512.PublicKeySize {
			return nil, nil, fmt.Errorf("%w: %s encapsulation key is %d bytes, want %d", ErrInvalidPublicValue, name, len(peer), mlkem512.PublicKeySize)
		}
		var ek mlkem512.PublicKey
		if err := ek.Unpack(peer); err != nil { // length and modulus check (FIPS 203 7.2)
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublicValue, name, err)
		}
		ciphertext = make([]byte, mlkem512.CiphertextSize)
		secret = make([]byte, mlkem512.SharedKeySize)
		ek.EncapsulateTo(ciphertext, secret, nil) // nil: randomness from crypto/rand
	case ike.GroupMLKEM768:
		if len(peer) != mlkem.EncapsulationKeySize768 {
			return nil, nil, fmt.Errorf("%w: %s encapsulation key is %d bytes, want %d", ErrInvalidPublicValue, name, len(peer), mlkem.EncapsulationKeySize768)
		}
		ek, err := mlkem.NewEncapsulationKey768(peer)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublicValue, name, err)
		}
		secret, ciphertext = ek.Encapsulate()
	case ike.GroupMLKEM1024:
		if len(peer) != mlkem.EncapsulationKeySize1024 {
			return nil, nil, fmt.Errorf("%w: %s encapsulation key is %d bytes, want %d", ErrInvalidPublicValue, name, len(peer), mlkem.EncapsulationKeySize1024)
		}
		ek, err := mlkem.NewEncapsulationKey1024(peer)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublicValue, name, err)
		}
		secret, ciphertext = ek.Encapsulate()
	default:
		return nil, nil, fmt.Errorf("%w: key exchange method %d is not a KEM", ErrUnsupported, group)
	}
	return ciphertext, secret, nil
}
