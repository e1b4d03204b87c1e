package suite

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

type aeadCase struct {
	id      uint16
	keyBits int
	keymat  int
	icv     int
}

var aeadCases = []aeadCase{
	{ike.EncrAESGCM16, 128, 20, 16}, {ike.EncrAESGCM16, 192, 28, 16}, {ike.EncrAESGCM16, 256, 36, 16},
	{ike.EncrAESGCM12, 128, 20, 12}, {ike.EncrAESGCM12, 192, 28, 12}, {ike.EncrAESGCM12, 256, 36, 12},
	{ike.EncrAESGCM8, 128, 20, 8}, {ike.EncrAESGCM8, 192, 28, 8}, {ike.EncrAESGCM8, 256, 36, 8},
	{ike.EncrChaCha20Poly1305, 0, 36, 16}, {ike.EncrChaCha20Poly1305, 256, 36, 16},
}

func newTestAEAD(tb testing.TB, c aeadCase) *AEAD {
	tb.Helper()
	keymat := make([]byte, c.keymat)
	for i := range keymat {
		keymat[i] = byte(i*7 + 3)
	}
	a, err := NewAEAD(c.id, c.keyBits, keymat)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestAEADKeymatLen(t *testing.T) {
	for _, c := range aeadCases {
		n, err := AEADKeymatLen(c.id, c.keyBits)
		if err != nil || n != c.keymat {
			t.Errorf("AEADKeymatLen(%d, %d) = %d, %v; want %d", c.id, c.keyBits, n, err, c.keymat)
		}
	}
	for _, c := range []struct {
		id      uint16
		keyBits int
	}{
		{ike.EncrAESGCM16, 0}, {ike.EncrAESGCM16, 64}, {ike.EncrAESGCM8, 512}, {ike.EncrChaCha20Poly1305, 128},
		{ike.EncrAESCBC, 128}, {ike.EncrAESCCM16, 128}, {ike.Encr3DES, 0}, {ike.EncrNullAuthAESGMAC, 128}, {0, 0}, {0xffff, 256},
	} {
		if _, err := AEADKeymatLen(c.id, c.keyBits); !errors.Is(err, ErrUnsupported) {
			t.Errorf("AEADKeymatLen(%d, %d): err %v, want ErrUnsupported", c.id, c.keyBits, err)
		}
		if _, err := NewAEAD(c.id, c.keyBits, make([]byte, 36)); err == nil {
			t.Errorf("NewAEAD(%d, %d) succeeded", c.id, c.keyBits)
		}
	}
}

func TestNewAEADKeymatLength(t *testing.T) {
	for _, c := range aeadCases {
		for _, n := range []int{0, c.keymat - 4, c.keymat - 1, c.keymat + 1} {
			if _, err := NewAEAD(c.id, c.keyBits, make([]byte, n)); err == nil {
				t.Errorf("NewAEAD(%d, %d) with %d bytes of keymat succeeded; want %d", c.id, c.keyBits, n, c.keymat)
			}
		}
	}
}

// The salt is the last four octets of the keying material (RFC 4106 8.1):
// two keys that differ only there must produce different ciphertexts.
func TestAEADSaltIsTail(t *testing.T) {
	km := make([]byte, 20)
	a1, _ := NewAEAD(ike.EncrAESGCM16, 128, km)
	km[19] = 1
	a2, _ := NewAEAD(ike.EncrAESGCM16, 128, km)
	iv := make([]byte, 8)
	if bytes.Equal(a1.Seal(nil, iv, []byte("x"), nil), a2.Seal(nil, iv, []byte("x"), nil)) {
		t.Error("the salt does not change the output")
	}
}

func TestAEADRoundTripInPlace(t *testing.T) {
	for _, c := range aeadCases {
		a := newTestAEAD(t, c)
		t.Run(fmt.Sprintf("%v/%d", a, c.keyBits), func(t *testing.T) {
			if a.ICVLen() != c.icv || a.IVLen() != 8 || a.BlockSize() != 4 || a.ID() != c.id || a.KeyBits() != c.keyBits {
				t.Fatalf("ICVLen %d IVLen %d BlockSize %d", a.ICVLen(), a.IVLen(), a.BlockSize())
			}
			aad := []byte("SPI.SEQ.")
			iv := []byte{0, 0, 0, 0, 0, 0, 0, 42}
			for _, n := range []int{0, 1, 15, 16, 17, 100, 1500} {
				pt := bytes.Repeat([]byte{0xab}, n)
				// ESP layout: header and IV before the payload, room after.
				const off = 16
				buf := make([]byte, off+n, off+n+c.icv)
				copy(buf[off:], pt)
				sealed := a.Seal(buf[:off], iv, buf[off:off+n], aad)
				if len(sealed) != off+n+c.icv || &sealed[0] != &buf[0] {
					t.Fatalf("n=%d: Seal returned %d bytes (or moved the buffer)", n, len(sealed))
				}
				body := sealed[off:]
				opened, err := a.Open(body[:0], iv, body, aad)
				if err != nil || !bytes.Equal(opened, pt) {
					t.Fatalf("n=%d: Open = %x, %v", n, opened, err)
				}
			}
		})
	}
}

// GCM-8 computes a 16-octet tag internally; Seal must still not write past
// the end of what it returns, into capacity the caller may be using.
func TestAEADSealStaysInBounds(t *testing.T) {
	for _, c := range aeadCases {
		a := newTestAEAD(t, c)
		const n = 40
		buf := bytes.Repeat([]byte{0xee}, n+c.icv+32)
		copy(buf, bytes.Repeat([]byte{1}, n))
		out := a.Seal(buf[:0], make([]byte, 8), buf[:n], nil)
		if len(out) != n+c.icv {
			t.Fatalf("%v: len %d", a, len(out))
		}
		if tail := buf[n+c.icv:]; !bytes.Equal(tail, bytes.Repeat([]byte{0xee}, len(tail))) {
			t.Errorf("%v: Seal wrote past its output: %x", a, tail)
		}
	}
}

func TestAEADRejectsTampering(t *testing.T) {
	for _, c := range aeadCases {
		a := newTestAEAD(t, c)
		iv := []byte("12345678")
		aad := []byte("aad")
		pt := []byte("attack at dawn, attack at dawn!!")
		sealed := a.Seal(nil, iv, pt, aad)
		for i := range sealed {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			if _, err := a.Open(nil, iv, bad, aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("%v: flipped byte %d accepted (err %v)", a, i, err)
			}
		}
		badIV := bytes.Clone(iv)
		badIV[7] ^= 0x80
		if _, err := a.Open(nil, badIV, sealed, aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%v: wrong IV accepted", a)
		}
		if _, err := a.Open(nil, iv, sealed, []byte("aaD")); !errors.Is(err, ErrOpen) {
			t.Errorf("%v: wrong AAD accepted", a)
		}
		for _, n := range []int{0, 1, c.icv - 1} {
			if _, err := a.Open(nil, iv, sealed[:n], aad); !errors.Is(err, ErrOpen) {
				t.Errorf("%v: %d-byte ciphertext: err %v", a, n, err)
			}
		}
		for _, l := range []int{0, 7, 9, 12} {
			if _, err := a.Open(nil, make([]byte, l), sealed, aad); !errors.Is(err, ErrOpen) {
				t.Errorf("%v: %d-byte IV: err %v", a, l, err)
			}
		}
		// A failed in-place Open leaves no plaintext behind.
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := a.Open(bad[:0], iv, bad, aad); err == nil {
			t.Fatal("tampered ICV accepted")
		}
		if bytes.Contains(bad, pt[:8]) {
			t.Errorf("%v: plaintext left in the buffer after a failed Open", a)
		}
	}
}

func TestAEADSealPanicsOnBadIV(t *testing.T) {
	a := newTestAEAD(t, aeadCases[0])
	defer func() {
		if recover() == nil {
			t.Error("Seal with a 7-byte IV did not panic")
		}
	}()
	a.Seal(nil, make([]byte, 7), nil, nil)
}

// The per-packet paths allocate nothing when the buffer has room (GCM-8,
// which needs a fresh AES-CTR stream per Open, excepted).
func TestAEADNoAllocs(t *testing.T) {
	for _, c := range aeadCases {
		if c.id == ike.EncrAESGCM8 {
			continue
		}
		a := newTestAEAD(t, c)
		iv := make([]byte, 8)
		buf := make([]byte, 1400+16)
		sealed := a.Seal(buf[:0], iv, buf[:1400], nil)
		work := make([]byte, len(sealed))
		allocs := testing.AllocsPerRun(50, func() {
			copy(work, sealed)
			if _, err := a.Open(work[:0], iv, work, nil); err != nil {
				t.Fatal(err)
			}
			a.Seal(buf[:0], iv, buf[:1400], nil)
		})
		if allocs > 0 {
			t.Errorf("%v: %.1f allocations per Seal+Open", a, allocs)
		}
	}
}
