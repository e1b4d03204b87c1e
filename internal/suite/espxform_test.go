package suite

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// xformCase is one ENCR/INTEG combination NewESPTransform accepts, with
// what it should report.
type xformCase struct {
	encr    uint16
	keyBits int
	integ   uint16
	name    string
	iv, icv int
	block   int
	random  bool
}

func (c xformCase) String() string { return c.name }

// combined reports whether the transform authenticates everything itself.
func (c xformCase) combined() bool { return isCombined(c.encr) }

// xformCases lists every combination: each non-combined cipher with each
// integrity algorithm, and each combined-mode transform alone.
var xformCases = func() []xformCase {
	integs := []struct {
		id   uint16
		name string
		icv  int
	}{
		{ike.IntegHMACSHA1_96, "HMAC_SHA1_96", 12},
		{ike.IntegAESXCBC96, "AES_XCBC_96", 12},
		{ike.IntegAESCMAC96, "AES_CMAC_96", 12},
		{ike.IntegHMACSHA256_128, "HMAC_SHA2_256_128", 16},
		{ike.IntegHMACSHA384_192, "HMAC_SHA2_384_192", 24},
		{ike.IntegHMACSHA512_256, "HMAC_SHA2_512_256", 32},
	}
	ciphers := []xformCase{
		{encr: ike.EncrAESCBC, keyBits: 128, name: "AES_CBC_128", iv: 16, block: 16, random: true},
		{encr: ike.EncrAESCBC, keyBits: 192, name: "AES_CBC_192", iv: 16, block: 16, random: true},
		{encr: ike.EncrAESCBC, keyBits: 256, name: "AES_CBC_256", iv: 16, block: 16, random: true},
		{encr: ike.EncrAESCTR, keyBits: 128, name: "AES_CTR_128", iv: 8, block: 4},
		{encr: ike.EncrAESCTR, keyBits: 192, name: "AES_CTR_192", iv: 8, block: 4},
		{encr: ike.EncrAESCTR, keyBits: 256, name: "AES_CTR_256", iv: 8, block: 4},
		{encr: ike.Encr3DES, name: "3DES", iv: 8, block: 8, random: true},
		{encr: ike.EncrNull, name: "NULL", iv: 0, block: 4},
	}
	var cs []xformCase
	for _, c := range ciphers {
		for _, in := range integs {
			c := c
			c.integ, c.icv, c.name = in.id, in.icv, c.name+"/"+in.name
			cs = append(cs, c)
		}
	}
	for _, bits := range []int{128, 192, 256} {
		for _, ccm := range []struct {
			id  uint16
			icv int
		}{{ike.EncrAESCCM8, 8}, {ike.EncrAESCCM12, 12}, {ike.EncrAESCCM16, 16}} {
			cs = append(cs, xformCase{encr: ccm.id, keyBits: bits, name: fmt.Sprintf("AES_CCM_%d_%d", ccm.icv, bits), iv: 8, icv: ccm.icv, block: 4})
		}
		cs = append(cs, xformCase{encr: ike.EncrNullAuthAESGMAC, keyBits: bits, name: fmt.Sprintf("NULL_AES_GMAC_%d", bits), iv: 8, icv: 16, block: 4})
		for _, gcm := range []struct {
			id  uint16
			icv int
		}{{ike.EncrAESGCM8, 8}, {ike.EncrAESGCM12, 12}, {ike.EncrAESGCM16, 16}} {
			cs = append(cs, xformCase{encr: gcm.id, keyBits: bits, name: fmt.Sprintf("AES_GCM_%d_%d", gcm.icv, bits), iv: 8, icv: gcm.icv, block: 4})
		}
	}
	cs = append(cs, xformCase{encr: ike.EncrChaCha20Poly1305, name: "CHACHA20_POLY1305", iv: 8, icv: 16, block: 4})
	return cs
}()

// testKeymat is deterministic keying material for c, varied by seed.
func testKeymat(tb testing.TB, c xformCase, seed byte) []byte {
	tb.Helper()
	e, i, err := ESPKeymatLen(c.encr, c.keyBits, c.integ)
	if err != nil {
		tb.Fatalf("%v: ESPKeymatLen: %v", c, err)
	}
	km := make([]byte, e+i)
	for j := range km {
		km[j] = byte(j*13+7) ^ seed
	}
	return km
}

func newTestXform(tb testing.TB, c xformCase, seed byte) ESPTransform {
	tb.Helper()
	t, err := NewESPTransform(c.encr, c.keyBits, c.integ, testKeymat(tb, c, seed))
	if err != nil {
		tb.Fatalf("%v: %v", c, err)
	}
	return t
}

// testPacket returns header, IV and an n-byte plaintext (n rounded up to
// the block size) for c.
func testPacket(c xformCase, n int, seed byte) (header, iv, pt []byte) {
	header = []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, seed}
	iv = make([]byte, c.iv)
	for i := range iv {
		iv[i] = byte(0xa0 + i + int(seed))
	}
	n = (n + c.block - 1) / c.block * c.block
	pt = make([]byte, n)
	for i := range pt {
		pt[i] = byte(i*31 + int(seed))
	}
	return header, iv, pt
}

func TestESPTransformProperties(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 0)
		if tr.String() != c.name || tr.IVLen() != c.iv || tr.ICVLen() != c.icv || tr.BlockSize() != c.block || tr.RandomIV() != c.random {
			t.Errorf("%v: got %q IV %d ICV %d block %d random %v; want IV %d ICV %d block %d random %v",
				c, tr.String(), tr.IVLen(), tr.ICVLen(), tr.BlockSize(), tr.RandomIV(), c.iv, c.icv, c.block, c.random)
		}
	}
}

func TestESPKeymatLen(t *testing.T) {
	for _, c := range []struct {
		encr           uint16
		keyBits        int
		integ          uint16
		encLen, intLen int
	}{
		{ike.EncrAESCBC, 128, ike.IntegHMACSHA256_128, 16, 32},
		{ike.EncrAESCBC, 256, ike.IntegHMACSHA512_256, 32, 64},
		{ike.EncrAESCTR, 192, ike.IntegHMACSHA384_192, 28, 48},
		{ike.EncrAESCCM8, 128, ike.IntegNone, 19, 0},
		{ike.EncrAESCCM16, 256, ike.IntegNone, 35, 0},
		{ike.EncrNullAuthAESGMAC, 256, ike.IntegNone, 36, 0},
		{ike.Encr3DES, 0, ike.IntegHMACSHA1_96, 24, 20},
		{ike.EncrNull, 0, ike.IntegAESXCBC96, 0, 16},
		{ike.EncrAESGCM16, 128, ike.IntegNone, 20, 0},
		{ike.EncrChaCha20Poly1305, 0, ike.IntegNone, 36, 0},
	} {
		e, i, err := ESPKeymatLen(c.encr, c.keyBits, c.integ)
		if err != nil || e != c.encLen || i != c.intLen {
			t.Errorf("ESPKeymatLen(%d, %d, %d) = %d, %d, %v; want %d, %d", c.encr, c.keyBits, c.integ, e, i, err, c.encLen, c.intLen)
		}
	}
}

// Combinations that protect nothing or are not defined are refused.
func TestESPKeymatLenRefuses(t *testing.T) {
	for _, c := range []struct {
		encr    uint16
		keyBits int
		integ   uint16
		why     string
	}{
		{ike.EncrNull, 0, ike.IntegNone, "NULL without integrity protects nothing"},
		{ike.EncrAESCBC, 128, ike.IntegNone, "encryption without integrity"},
		{ike.EncrAESCTR, 128, ike.IntegNone, "encryption without integrity"},
		{ike.Encr3DES, 0, ike.IntegNone, "encryption without integrity"},
		{ike.EncrAESGCM16, 128, ike.IntegHMACSHA256_128, "AEAD with integrity"},
		{ike.EncrAESCCM8, 128, ike.IntegHMACSHA1_96, "AEAD with integrity"},
		{ike.EncrNullAuthAESGMAC, 128, ike.IntegAESXCBC96, "AEAD with integrity"},
		{ike.EncrChaCha20Poly1305, 0, ike.IntegHMACSHA512_256, "AEAD with integrity"},
		{ike.EncrAESCBC, 0, ike.IntegHMACSHA256_128, "AES without key length"},
		{ike.EncrAESCBC, 64, ike.IntegHMACSHA256_128, "bad AES key length"},
		{ike.EncrAESCCM16, 512, ike.IntegNone, "bad AES key length"},
		{ike.EncrAESCTR, 0, ike.IntegHMACSHA256_128, "AES without key length"},
		{ike.EncrNullAuthAESGMAC, 0, ike.IntegNone, "AES without key length"},
		{ike.Encr3DES, 192, ike.IntegHMACSHA1_96, "3DES takes no key length"},
		{ike.EncrNull, 128, ike.IntegHMACSHA1_96, "NULL takes no key length"},
		{2, 0, ike.IntegHMACSHA1_96, "DES is not implemented"},
		{ike.EncrAESCBC, 128, 1, "HMAC-MD5-96 is not implemented"},
		{ike.EncrAESCBC, 128, 9, "AUTH_AES_128_GMAC is not implemented"},
		{0xffff, 0, ike.IntegNone, "unknown"},
	} {
		if _, _, err := ESPKeymatLen(c.encr, c.keyBits, c.integ); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ESPKeymatLen(%d, %d, %d) (%s): err %v, want ErrUnsupported", c.encr, c.keyBits, c.integ, c.why, err)
		}
		if tr, err := NewESPTransform(c.encr, c.keyBits, c.integ, make([]byte, 128)); err == nil {
			t.Errorf("NewESPTransform(%d, %d, %d) (%s) = %v", c.encr, c.keyBits, c.integ, c.why, tr)
		}
	}
}

func TestNewESPTransformKeymatLength(t *testing.T) {
	for _, c := range xformCases {
		n := len(testKeymat(t, c, 0))
		for _, m := range []int{0, n - 1, n + 1} {
			if m < 0 {
				continue
			}
			if _, err := NewESPTransform(c.encr, c.keyBits, c.integ, make([]byte, m)); err == nil {
				t.Errorf("%v: accepted %d bytes of keying material, want %d", c, m, n)
			}
		}
	}
}

func TestNew3DESRefusesDegenerateKeys(t *testing.T) {
	k := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3)
	k = append(k, make([]byte, 20)...)
	if _, err := NewESPTransform(ike.Encr3DES, 0, ike.IntegHMACSHA1_96, k); err == nil {
		t.Error("accepted K1 = K2 = K3")
	}
	copy(k[16:24], "abcdefgh")
	if _, err := NewESPTransform(ike.Encr3DES, 0, ike.IntegHMACSHA1_96, k); err == nil {
		t.Error("accepted K1 = K2")
	}
}

// Round trips at many lengths, in place and not, with and without ESN.
func TestESPTransformRoundTrip(t *testing.T) {
	lengths := []int{0, 4, 8, 12, 16, 20, 28, 32, 44, 48, 64, 100, 128, 252, 256, 260, 1000, 1400, 1500, 4096, 9000}
	for i := range 40 {
		lengths = append(lengths, 4*i+1)
	}
	for _, c := range xformCases {
		tr := newTestXform(t, c, 1)
		peer := newTestXform(t, c, 1) // the other end, keyed alike
		for _, n := range lengths {
			for _, hi := range []SeqHigh{{}, ESN(0), ESN(0xdeadbeef00000001)} {
				header, iv, pt := testPacket(c, n, byte(n))
				sealed := tr.Seal(nil, header, iv, pt, hi)
				if len(sealed) != len(pt)+c.icv {
					t.Fatalf("%v n=%d: sealed %d bytes, want %d", c, len(pt), len(sealed), len(pt)+c.icv)
				}
				if c.encr != ike.EncrNull && c.encr != ike.EncrNullAuthAESGMAC && len(pt) >= 16 && bytes.Equal(sealed[:len(pt)], pt) {
					t.Fatalf("%v n=%d: ciphertext equals plaintext", c, len(pt))
				}
				got, err := peer.Open(nil, header, iv, sealed, hi)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("%v n=%d hi=%+v: Open: %v, plaintext ok %v", c, len(pt), hi, err, bytes.Equal(got, pt))
				}
				// In place, as ESP does: plaintext and ICV room in one buffer.
				buf := make([]byte, len(pt), len(pt)+c.icv)
				copy(buf, pt)
				inPlace := tr.Seal(buf[:0], header, iv, buf, hi)
				if !bytes.Equal(inPlace, sealed) {
					t.Fatalf("%v n=%d: in-place Seal differs", c, len(pt))
				}
				opened, err := peer.Open(inPlace[:0], header, iv, inPlace, hi)
				if err != nil || !bytes.Equal(opened, pt) {
					t.Fatalf("%v n=%d: in-place Open: %v", c, len(pt), err)
				}
			}
		}
	}
}

// ESP packets are sealed at the end of a buffer that already holds the
// header and IV: the transforms must take the parts from one array.
func TestESPTransformWholePacketBuffer(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 2)
		header, iv, pt := testPacket(c, 77, 2)
		want := tr.Seal(nil, header, iv, pt, SeqHigh{})
		pkt := make([]byte, 0, 8+len(iv)+len(pt)+c.icv)
		pkt = append(append(append(pkt, header...), iv...), pt...)
		off := 8 + len(iv)
		got := tr.Seal(pkt[off:off], pkt[:8], pkt[8:off], pkt[off:], SeqHigh{})
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: Seal in a packet buffer differs", c)
		}
		pkt = pkt[:off+len(got)]
		opened, err := tr.Open(pkt[off:off], pkt[:8], pkt[8:off], pkt[off:], SeqHigh{})
		if err != nil || !bytes.Equal(opened, pt) {
			t.Fatalf("%v: Open in a packet buffer: %v", c, err)
		}
	}
}

// Every single-bit change of header, IV, ciphertext or ICV is rejected,
// and so is a wrong or missing ESN high half.
func TestESPTransformRejectsEveryBitFlip(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 3)
		for _, hi := range []SeqHigh{{}, ESN(0x0000000500000000)} {
			header, iv, pt := testPacket(c, 37, 3)
			sealed := tr.Seal(nil, header, iv, pt, hi)
			pkt := append(append(append([]byte{}, header...), iv...), sealed...)
			off := 8 + len(iv)
			for bit := range len(pkt) * 8 {
				bad := bytes.Clone(pkt)
				bad[bit/8] ^= 1 << (bit % 8)
				if out, err := tr.Open(nil, bad[:8], bad[8:off], bad[off:], hi); err == nil {
					t.Fatalf("%v: bit %d flipped (byte %d of %d) was accepted: %x", c, bit, bit/8, len(pkt), out)
				}
			}
			for _, other := range []SeqHigh{{}, ESN(0), ESN(0x0000000400000000), ESN(0x8000000500000000)} {
				if other == hi {
					continue
				}
				if _, err := tr.Open(nil, header, iv, sealed, other); err == nil {
					t.Fatalf("%v: sealed with %+v, opened with %+v", c, hi, other)
				}
			}
			for _, n := range []int{len(sealed) - 1, len(sealed) + 1, c.icv - 1, 0} {
				if n < 0 {
					continue
				}
				in := make([]byte, n)
				copy(in, sealed)
				if _, err := tr.Open(nil, header, iv, in, hi); err == nil {
					t.Fatalf("%v: accepted %d of %d bytes", c, n, len(sealed))
				}
			}
		}
	}
}

// A transform keyed differently rejects the packet. For a cipher with a
// separate integrity algorithm only the integrity key is checked (RFC
// 4303 3.4.4); a wrong encryption key yields a wrong plaintext.
func TestESPTransformWrongKey(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 4)
		header, iv, pt := testPacket(c, 64, 4)
		sealed := tr.Seal(nil, header, iv, pt, ESN(1<<32))
		km := testKeymat(t, c, 4)
		encLen, _, _ := ESPKeymatLen(c.encr, c.keyBits, c.integ)
		for _, pos := range []int{0, encLen - 1, encLen, len(km) - 1} {
			if pos < 0 || pos >= len(km) {
				continue
			}
			wrong := bytes.Clone(km)
			wrong[pos] ^= 0x80 // a key bit, not a DES parity bit
			other, err := NewESPTransform(c.encr, c.keyBits, c.integ, wrong)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			got, err := other.Open(nil, header, iv, sealed, ESN(1<<32))
			switch {
			case c.combined() || pos >= encLen:
				if err == nil {
					t.Errorf("%v: keying material byte %d changed, packet accepted", c, pos)
				}
			case err != nil:
				t.Errorf("%v: encryption key byte %d changed: %v (the ICV does not cover the key)", c, pos, err)
			case c.encr != ike.EncrNull && bytes.Equal(got, pt):
				t.Errorf("%v: encryption key byte %d changed, same plaintext", c, pos)
			}
		}
	}
}

// Seal writes nothing past the sealed bytes; a failed Open leaves no
// plaintext in dst.
func TestESPTransformStaysInBounds(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 5)
		header, iv, pt := testPacket(c, 50, 5)
		n := len(pt) + c.icv
		buf := bytes.Repeat([]byte{0xee}, n+64)
		sealed := tr.Seal(buf[:0], header, iv, pt, SeqHigh{})
		if len(sealed) != n || !bytes.Equal(buf[n:], bytes.Repeat([]byte{0xee}, 64)) {
			t.Fatalf("%v: Seal wrote past its output", c)
		}
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		dst := bytes.Repeat([]byte{0xaa}, len(pt)+64)
		if _, err := tr.Open(dst[:0], header, iv, bad, SeqHigh{}); err == nil {
			t.Fatalf("%v: accepted a bad ICV", c)
		}
		for _, b := range dst[:len(pt)] {
			if b != 0xaa && b != 0 {
				t.Fatalf("%v: failed Open left bytes in dst: %x", c, dst[:len(pt)])
			}
		}
		if !bytes.Equal(dst[len(pt):], bytes.Repeat([]byte{0xaa}, 64)) {
			t.Fatalf("%v: Open wrote past its output", c)
		}
	}
}

func TestESPTransformSealPanics(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 6)
		header, iv, pt := testPacket(c, 32, 6)
		for name, f := range map[string]func(){
			"short header": func() { tr.Seal(nil, header[:7], iv, pt, SeqHigh{}) },
			"long IV":      func() { tr.Seal(nil, header, append(iv, 0), pt, SeqHigh{}) },
			"unpadded":     func() { tr.Seal(nil, header, iv, pt[:len(pt)-1], SeqHigh{}) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%v: Seal with %s did not panic", c, name)
					}
				}()
				f()
			}()
		}
	}
}

func TestESPTransformOpenRejectsBadLengths(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 7)
		header, iv, pt := testPacket(c, 32, 7)
		sealed := tr.Seal(nil, header, iv, pt, SeqHigh{})
		for name, f := range map[string]func() ([]byte, error){
			"short header": func() ([]byte, error) { return tr.Open(nil, header[:7], iv, sealed, SeqHigh{}) },
			"long header":  func() ([]byte, error) { return tr.Open(nil, append(header, 0), iv, sealed, SeqHigh{}) },
			"long IV":      func() ([]byte, error) { return tr.Open(nil, header, append(iv, 0), sealed, SeqHigh{}) },
			"empty":        func() ([]byte, error) { return tr.Open(nil, header, iv, nil, SeqHigh{}) },
		} {
			if _, err := f(); !errors.Is(err, ErrOpen) {
				t.Errorf("%v: Open with %s: %v, want ErrOpen", c, name, err)
			}
		}
		if c.block > 4 { // a CBC ciphertext that is not whole blocks
			for _, cut := range []int{1, 4} {
				in := append(bytes.Clone(sealed[:len(pt)-cut]), sealed[len(pt):]...)
				if _, err := tr.Open(nil, header, iv, in, SeqHigh{}); !errors.Is(err, ErrOpen) {
					t.Errorf("%v: Open of a partial block: %v", c, err)
				}
			}
		}
	}
}

// Seal and Open allocate nothing per packet.
func TestESPTransformNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector defeats sync.Pool")
	}
	for _, c := range xformCases {
		tr := newTestXform(t, c, 8)
		header, iv, pt := testPacket(c, 1400, 8)
		buf := make([]byte, len(pt)+c.icv)
		sealed := tr.Seal(nil, header, iv, pt, SeqHigh{})
		for _, hi := range []SeqHigh{{}, ESN(3 << 32)} {
			sealed = tr.Seal(sealed[:0], header, iv, pt, hi)
			allocs := testing.AllocsPerRun(50, func() {
				copy(buf, sealed)
				if _, err := tr.Open(buf[:0], header, iv, buf, hi); err != nil {
					t.Fatal(err)
				}
				tr.Seal(buf[:0], header, iv, buf[:len(pt)], hi)
			})
			if allocs > 0 {
				t.Errorf("%v (ESN %v): %.1f allocations per Seal+Open", c, hi.esn, allocs)
			}
		}
	}
}

// One transform serves many goroutines at once (the data plane's parallel
// workers).
func TestESPTransformConcurrent(t *testing.T) {
	for _, c := range xformCases {
		tr := newTestXform(t, c, 9)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					header, iv, pt := testPacket(c, 16*i+g, byte(g))
					sealed := tr.Seal(nil, header, iv, pt, ESN(uint64(i)<<32))
					got, err := tr.Open(sealed[:0], header, iv, sealed, ESN(uint64(i)<<32))
					if err != nil || !bytes.Equal(got, pt) {
						errs <- fmt.Errorf("%v goroutine %d packet %d: %v", c, g, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// Integ.Sum gives the same ICV however the input is split.
func TestIntegSplits(t *testing.T) {
	msg := make([]byte, 200)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for id := range integAlgs {
		n, _ := IntegKeyLen(id)
		m, err := NewInteg(id, bytes.Repeat([]byte{0x5a}, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, hi := range []SeqHigh{{}, ESN(7 << 32)} {
			want := m.Sum(nil, hi, msg)
			if len(want) != m.ICVLen() {
				t.Fatalf("%v: ICV of %d bytes", m, len(want))
			}
			for a := 0; a <= len(msg); a += 5 {
				for _, b := range []int{a, a + 1, a + 15, a + 16, a + 17, len(msg)} {
					if b > len(msg) {
						continue
					}
					if got := m.Sum(nil, hi, msg[:a], msg[a:b], nil, msg[b:]); !bytes.Equal(got, want) {
						t.Fatalf("%v: split at %d, %d: %x, want %x", m, a, b, got, want)
					}
				}
			}
			if !m.Verify(want, hi, msg) || m.Verify(want[:len(want)-1], hi, msg) || m.Verify(want, SeqHigh{esn: !hi.esn}, msg) {
				t.Fatalf("%v: Verify", m)
			}
		}
	}
}

func TestNewIntegRejects(t *testing.T) {
	if _, err := NewInteg(ike.IntegHMACSHA256_128, make([]byte, 20)); err == nil {
		t.Error("HMAC-SHA2-256-128 accepted a 20-byte key (RFC 4868 2.1.1 wants 32)")
	}
	if _, err := NewInteg(ike.IntegAESXCBC96, make([]byte, 32)); err == nil {
		t.Error("AES-XCBC-96 accepted a 256-bit key")
	}
	if _, err := NewInteg(ike.IntegNone, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NONE: %v", err)
	}
}
