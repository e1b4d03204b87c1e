package suite

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

var testGroups = []struct {
	group  uint16
	pubLen int
	secLen int
}{
	{ike.GroupMODP2048, 256, 256},
	{ike.GroupECP256, 64, 32},
	{ike.GroupECP384, 96, 48},
	{ike.GroupCurve25519, 32, 32},
	{ike.GroupMODP3072, 384, 384},
	{ike.GroupMODP4096, 512, 512},
	{ike.GroupMODP6144, 768, 768},
	{ike.GroupMODP8192, 1024, 1024},
	{ike.GroupECP521, 132, 66}, // RFC 5903 7: 66 octets per coordinate
	{ike.GroupCurve448, 56, 56},
}

func isECP(g uint16) bool {
	return g == ike.GroupECP256 || g == ike.GroupECP384 || g == ike.GroupECP521
}

// seeded is a deterministic random source for reproducible tests.
func seeded(seed uint64) io.Reader {
	return mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0x42})
}

func TestKeyExchangeAgreement(t *testing.T) {
	for _, g := range testGroups {
		if !SupportedGroup(g.group) {
			t.Errorf("SupportedGroup(%d) = false", g.group)
		}
		for round := range 3 {
			a, err := NewKeyExchange(g.group, nil) // crypto/rand
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g.group, seeded(uint64(round)))
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g.group || len(a.PublicValue()) != g.pubLen || len(b.PublicValue()) != g.pubLen {
				t.Fatalf("group %d: Group() %d, public value lengths %d and %d, want %d",
					g.group, a.Group(), len(a.PublicValue()), len(b.PublicValue()), g.pubLen)
			}
			s1, err1 := a.SharedSecret(b.PublicValue())
			s2, err2 := b.SharedSecret(a.PublicValue())
			if err1 != nil || err2 != nil {
				t.Fatalf("group %d: %v, %v", g.group, err1, err2)
			}
			if !bytes.Equal(s1, s2) || len(s1) != g.secLen {
				t.Fatalf("group %d: secrets differ or have the wrong length (%d)", g.group, len(s1))
			}
		}
	}
}

// The random source given to NewKeyExchange is really used, so simulations
// with a seeded reader are reproducible.
func TestKeyExchangeDeterministic(t *testing.T) {
	for _, g := range testGroups {
		a, _ := NewKeyExchange(g.group, seeded(7))
		b, _ := NewKeyExchange(g.group, seeded(7))
		c, _ := NewKeyExchange(g.group, seeded(8))
		if !bytes.Equal(a.PublicValue(), b.PublicValue()) || bytes.Equal(a.PublicValue(), c.PublicValue()) {
			t.Errorf("group %d: the random source does not determine the key", g.group)
		}
	}
}

// The MODP public value is left-padded to the length of p (RFC 7296 3.4),
// and the shared secret too (RFC 7296 2.14), even when they are small.
func TestMODPPadding(t *testing.T) {
	// x = 2 gives y = 4: a public value of 255 zero octets and a 4.
	ke := fixedKE(t, ike.GroupMODP2048, append(make([]byte, 63), 2))
	want := append(make([]byte, 255), 4)
	if !bytes.Equal(ke.PublicValue(), want) {
		t.Fatalf("public value %x", ke.PublicValue())
	}
	// Peer y = 2: the secret 2^2 = 4 must come back as 256 octets too.
	got, err := ke.SharedSecret(append(make([]byte, 255), 2))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("SharedSecret = %x, %v", got, err)
	}
}

// TestMODPRejectsRFC6989 checks the MODP groups' public value tests of
// RFC 6989 2.1 (1 < y < p-1) and the exact length of RFC 7296 3.4.
func TestMODPRejectsRFC6989(t *testing.T) {
	for _, g := range []struct {
		group uint16
		p     *big.Int
	}{{ike.GroupMODP2048, modp2048}, {ike.GroupMODP3072, modp3072}, {ike.GroupMODP4096, modp4096}, {ike.GroupMODP6144, modp6144}, {ike.GroupMODP8192, modp8192}} {
		ke, err := NewKeyExchange(g.group, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, size := g.p, len(ke.PublicValue())
		if size != p.BitLen()/8 {
			t.Fatalf("group %d: public value of %d bytes", g.group, size)
		}
		enc := func(n *big.Int) []byte { return n.FillBytes(make([]byte, size)) }
		one := big.NewInt(1)
		bad := map[string][]byte{
			"0":             enc(big.NewInt(0)),
			"1":             enc(one),
			"p-1":           enc(new(big.Int).Sub(p, one)),
			"p":             enc(p),
			"p+1":           enc(new(big.Int).Add(p, one)),
			"p+2":           enc(new(big.Int).Add(p, big.NewInt(2))),
			"2^n-1":         bytes.Repeat([]byte{0xff}, size),
			"empty":         nil,
			"one short":     make([]byte, size-1),
			"one long":      append([]byte{0}, enc(big.NewInt(5))...),
			"unpadded 2":    {2},
			"1 MiB garbage": bytes.Repeat([]byte{0x17}, 1<<20),
		}
		for name, y := range bad {
			if s, err := ke.SharedSecret(y); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d, %s: SharedSecret = %x, %v; want ErrInvalidPublicValue", g.group, name, s, err)
			}
		}
		for name, y := range map[string]*big.Int{"2": big.NewInt(2), "p-2": new(big.Int).Sub(p, big.NewInt(2))} {
			if _, err := ke.SharedSecret(enc(y)); err != nil {
				t.Errorf("group %d, %s: rejected: %v", g.group, name, err)
			}
		}
	}
}

// TestECPRejects checks RFC 6989 2.3 (the point must be on the curve) and
// the x || y length of RFC 5903 7.
func TestECPRejects(t *testing.T) {
	for _, g := range testGroups {
		if !isECP(g.group) {
			continue
		}
		ke, _ := NewKeyExchange(g.group, nil)
		peer, _ := NewKeyExchange(g.group, nil)
		good := peer.PublicValue()
		offCurve := bytes.Clone(good)
		offCurve[len(offCurve)-1] ^= 1 // y changed: not on the curve
		coordTooBig := bytes.Repeat([]byte{0xff}, len(good))
		sec1 := append([]byte{4}, good...) // SEC1 form is not the IKE encoding
		bad := map[string][]byte{
			"off the curve":     offCurve,
			"all zero":          make([]byte, len(good)),
			"coordinates >= p":  coordTooBig,
			"SEC1 prefix":       sec1,
			"x only":            good[:len(good)/2],
			"one byte short":    good[:len(good)-1],
			"one byte long":     append(bytes.Clone(good), 0),
			"empty":             nil,
			"compressed point":  append([]byte{2}, good[:len(good)/2]...),
			"other curve's len": make([]byte, 2*48),
		}
		for name, v := range bad {
			if s, err := ke.SharedSecret(v); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d, %s: SharedSecret = %x, %v; want ErrInvalidPublicValue", g.group, name, s, err)
			}
		}
	}
}

// TestX25519Rejects checks RFC 8031 2: 32-octet values only, and an
// all-zero shared secret (a low-order peer point) is an error.
func TestX25519Rejects(t *testing.T) {
	ke, _ := NewKeyExchange(ike.GroupCurve25519, nil)
	lowOrder := map[string]string{
		"0":         "0000000000000000000000000000000000000000000000000000000000000000",
		"1":         "0100000000000000000000000000000000000000000000000000000000000000",
		"order 8":   "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"order 8 b": "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"p-1":       "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"p":         "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"p+1":       "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for name, u := range lowOrder {
		if s, err := ke.SharedSecret(unhex(t, u)); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("%s: SharedSecret = %x, %v; want ErrInvalidPublicValue", name, s, err)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := ke.SharedSecret(make([]byte, n)); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("%d-byte value: err %v", n, err)
		}
	}
}

func TestKeyExchangeUnsupported(t *testing.T) {
	for _, g := range []uint16{ike.GroupNone, 1, 2, 5, 22, 23, 24, 25, 26, 27, 28, 29, 30, 33, 34, 38, 0xffff} {
		if SupportedGroup(g) {
			t.Errorf("SupportedGroup(%d) = true", g)
		}
		if _, err := NewKeyExchange(g, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewKeyExchange(%d): err %v, want ErrUnsupported", g, err)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestKeyExchangeBrokenRandom(t *testing.T) {
	for _, g := range testGroups {
		if _, err := NewKeyExchange(g.group, bytes.NewReader([]byte{1, 2, 3})); err == nil {
			t.Errorf("group %d: a short random source was accepted", g.group)
		}
		// All zeros is a valid (clamped) X25519 scalar but no valid MODP
		// exponent or NIST scalar; it must fail, not loop.
		_, err := NewKeyExchange(g.group, zeroReader{})
		if (err == nil) != (g.group == ike.GroupCurve25519 || g.group == ike.GroupCurve448) {
			t.Errorf("group %d with an all-zero random source: err %v", g.group, err)
		}
	}
}

// TestX448Rejects checks RFC 8031 2: 56-octet values only, and low-order
// points (all-zero shared secret) are errors; u = p+1 is 1 reduced (RFC
// 7748 5 reduces non-canonical values).
func TestX448Rejects(t *testing.T) {
	ke, _ := NewKeyExchange(ike.GroupCurve448, nil)
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 448), new(big.Int).Lsh(big.NewInt(1), 224))
	p.Sub(p, big.NewInt(1))
	le := func(n *big.Int) []byte {
		b := n.FillBytes(make([]byte, 56))
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	for name, u := range map[string]*big.Int{
		"0": big.NewInt(0), "1": big.NewInt(1), "p-1": new(big.Int).Sub(p, big.NewInt(1)),
		"p": p, "p+1": new(big.Int).Add(p, big.NewInt(1)),
	} {
		if s, err := ke.SharedSecret(le(u)); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("%s: SharedSecret = %x, %v; want ErrInvalidPublicValue", name, s, err)
		}
	}
	for _, n := range []int{0, 32, 55, 57, 112} {
		if _, err := ke.SharedSecret(make([]byte, n)); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("%d-byte value: err %v", n, err)
		}
	}
}
