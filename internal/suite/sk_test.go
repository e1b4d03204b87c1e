package suite

import (
	"bytes"
	"errors"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// skCases are the SK payload transforms: every ESP transform of
// xformCases except ENCR_NULL and AES-GMAC (not for IKE). The block size
// differs from ESP: only CBC needs alignment in SK (RFC 7296 3.14).
var skCases = func() []xformCase {
	var cs []xformCase
	for _, c := range xformCases {
		switch c.encr {
		case ike.EncrNull, ike.EncrNullAuthAESGMAC:
			continue
		case ike.EncrAESCBC, ike.Encr3DES:
		default:
			c.block = 1
		}
		cs = append(cs, c)
	}
	return cs
}()

func newTestSK(tb testing.TB, c xformCase, seed byte) SKTransform {
	tb.Helper()
	e, i, err := SKKeymatLen(c.encr, c.keyBits, c.integ)
	if err != nil {
		tb.Fatalf("%v: SKKeymatLen: %v", c, err)
	}
	km := make([]byte, e+i)
	for j := range km {
		km[j] = byte(j*13+7) ^ seed
	}
	t, err := NewSKTransform(c.encr, c.keyBits, c.integ, km[:e], km[e:])
	if err != nil {
		tb.Fatalf("%v: %v", c, err)
	}
	return t
}

// testSKMessage returns the bytes before the IV (a 28-octet IKE header and
// the 4-octet SK payload header), an IV and a padded plaintext.
func testSKMessage(c xformCase, n int, seed byte) (aad, iv, pt []byte) {
	aad = make([]byte, 32)
	for i := range aad {
		aad[i] = byte(i*7) ^ seed
	}
	_, iv, pt = testPacket(c, n, seed)
	return aad, iv, pt
}

func TestSKTransformProperties(t *testing.T) {
	for _, c := range skCases {
		tr := newTestSK(t, c, 1)
		if tr.IVLen() != c.iv || tr.ICVLen() != c.icv || tr.BlockSize() != c.block || tr.RandomIV() != c.random || tr.String() != c.name {
			t.Errorf("%v: IV %d ICV %d block %d random %v name %q", c, tr.IVLen(), tr.ICVLen(), tr.BlockSize(), tr.RandomIV(), tr)
		}
	}
}

func TestSKTransformRoundTrip(t *testing.T) {
	for _, c := range skCases {
		tr := newTestSK(t, c, 2)
		for _, n := range []int{0, 1, 15, 16, 17, 100, 1500} {
			aad, iv, pt := testSKMessage(c, n, byte(n))
			sealed := tr.Seal(nil, aad, iv, pt)
			if len(sealed) != len(pt)+c.icv {
				t.Fatalf("%v: sealed %d bytes of %d", c, len(sealed), len(pt))
			}
			if len(pt) > 0 && bytes.Contains(sealed, pt) {
				t.Errorf("%v: plaintext visible in the sealed message", c)
			}
			got, err := tr.Open(nil, aad, iv, sealed)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%v: Open(%d) = %x, %v", c, n, got, err)
			}
			// In place, as the engine may do.
			buf := bytes.Clone(pt)
			sealed2 := tr.Seal(buf[:0], aad, iv, buf)
			if !bytes.Equal(sealed2, sealed) {
				t.Fatalf("%v: in-place Seal differs", c)
			}
			if got, err := tr.Open(sealed2[:0], aad, iv, sealed2); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%v: in-place Open: %v", c, err)
			}
		}
	}
}

// TestSKTransformRejectsEveryBitFlip flips each bit of the whole message
// (IKE header, SK header, IV, ciphertext, ICV): every one must fail, as
// the ICV covers all of it (RFC 7296 3.14, RFC 5282 5.1).
func TestSKTransformRejectsEveryBitFlip(t *testing.T) {
	for _, c := range skCases {
		tr := newTestSK(t, c, 3)
		aad, iv, pt := testSKMessage(c, 37, 3)
		msg := append(append(bytes.Clone(aad), iv...), tr.Seal(nil, aad, iv, pt)...)
		a, off := len(aad), len(aad)+len(iv)
		for bit := range len(msg) * 8 {
			bad := bytes.Clone(msg)
			bad[bit/8] ^= 1 << (bit % 8)
			if out, err := tr.Open(nil, bad[:a], bad[a:off], bad[off:]); !errors.Is(err, ErrOpen) {
				t.Fatalf("%v: bit %d flipped (byte %d of %d) was accepted: %x, %v", c, bit, bit/8, len(msg), out, err)
			}
		}
		sealed := msg[off:]
		for _, n := range []int{len(sealed) - 1, len(sealed) + 1, c.icv - 1, c.icv, 0} {
			if n < 0 {
				continue
			}
			in := make([]byte, n)
			copy(in, sealed)
			if _, err := tr.Open(nil, aad, iv, in); err == nil {
				t.Fatalf("%v: accepted %d of %d bytes", c, n, len(sealed))
			}
		}
		if _, err := tr.Open(nil, aad, iv[:len(iv)-1], sealed); err == nil {
			t.Fatalf("%v: accepted a short IV", c)
		}
		// Keyed differently (both keys): rejected.
		if _, err := newTestSK(t, c, 4).Open(nil, aad, iv, sealed); err == nil {
			t.Fatalf("%v: another key opened the message", c)
		}
	}
}

func TestSKTransformSealPanics(t *testing.T) {
	for _, c := range skCases {
		tr := newTestSK(t, c, 5)
		aad, iv, pt := testSKMessage(c, 32, 5)
		mustPanic := func(what string, f func()) {
			t.Helper()
			defer func() {
				if recover() == nil {
					t.Errorf("%v: %s did not panic", c, what)
				}
			}()
			f()
		}
		mustPanic("short IV", func() { tr.Seal(nil, aad, iv[1:], pt) })
		if c.block > 1 {
			mustPanic("unpadded plaintext", func() { tr.Seal(nil, aad, iv, pt[1:]) })
		}
	}
}

func TestSKKeymatLenRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		encr    uint16
		keyBits int
		integ   uint16
	}{
		{"NULL", ike.EncrNull, 0, ike.IntegHMACSHA256_128},
		{"GMAC", ike.EncrNullAuthAESGMAC, 128, ike.IntegNone},
		{"CBC without integrity", ike.EncrAESCBC, 128, ike.IntegNone},
		{"CTR without integrity", ike.EncrAESCTR, 256, ike.IntegNone},
		{"GCM with integrity", ike.EncrAESGCM16, 256, ike.IntegHMACSHA256_128},
		{"CBC with a 64-bit key", ike.EncrAESCBC, 64, ike.IntegHMACSHA256_128},
		{"CBC without key length", ike.EncrAESCBC, 0, ike.IntegHMACSHA256_128},
		{"unknown integrity", ike.EncrAESCBC, 128, 9},
		{"unknown cipher", 23, 128, ike.IntegHMACSHA256_128},
	} {
		if _, _, err := SKKeymatLen(c.encr, c.keyBits, c.integ); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err %v, want ErrUnsupported", c.name, err)
		}
		if _, err := NewSKTransform(c.encr, c.keyBits, c.integ, make([]byte, 64), make([]byte, 32)); err == nil {
			t.Errorf("%s: NewSKTransform accepted", c.name)
		}
	}
	if _, err := NewSKTransform(ike.EncrAESCBC, 128, ike.IntegHMACSHA256_128, make([]byte, 16), make([]byte, 31)); err == nil {
		t.Error("short integrity key accepted")
	}
}
