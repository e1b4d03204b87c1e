package esp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

// xformSuite is an ESP transform: encryption with its key length
// attribute and an integrity algorithm (ike.IntegNone for combined modes).
type xformSuite struct {
	name    string
	encrID  uint16
	keyBits int
	integID uint16
}

// xformSuites are the non-AEAD and other combined-mode transforms of RFC
// 8221 that go through suite.NewESPTransform, plus GCM by that route.
var xformSuites = []xformSuite{
	{"aes128-sha256", ike.EncrAESCBC, 128, ike.IntegHMACSHA256_128},
	{"aes256-sha512", ike.EncrAESCBC, 256, ike.IntegHMACSHA512_256},
	{"aes128ctr-sha256", ike.EncrAESCTR, 128, ike.IntegHMACSHA256_128},
	{"aes256ctr-sha384", ike.EncrAESCTR, 256, ike.IntegHMACSHA384_192},
	{"aes128ccm16", ike.EncrAESCCM16, 128, ike.IntegNone},
	{"aes256ccm8", ike.EncrAESCCM8, 256, ike.IntegNone},
	{"aes128gmac", ike.EncrNullAuthAESGMAC, 128, ike.IntegNone},
	{"null-sha256", ike.EncrNull, 0, ike.IntegHMACSHA256_128},
	{"aes128-sha1", ike.EncrAESCBC, 128, ike.IntegHMACSHA1_96},
	{"aes128-aesxcbc", ike.EncrAESCBC, 128, ike.IntegAESXCBC96},
	{"3des-sha256", ike.Encr3DES, 0, ike.IntegHMACSHA256_128},
	{"aes256gcm16", ike.EncrAESGCM16, 256, ike.IntegNone},
}

// newXform returns the transform keyed with keymat, or with random keying
// material if keymat is nil.
func newXform(tb testing.TB, s xformSuite, keymat []byte) suite.ESPTransform {
	tb.Helper()
	if keymat == nil {
		encLen, integLen, err := suite.ESPKeymatLen(s.encrID, s.keyBits, s.integID)
		if err != nil {
			tb.Fatal(err)
		}
		keymat = randBytes(encLen + integLen)
	}
	x, err := suite.NewESPTransform(s.encrID, s.keyBits, s.integID, keymat)
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

func newXformPair(tb testing.TB, s xformSuite, esn bool) (*Outbound, *Inbound) {
	tb.Helper()
	x := newXform(tb, s, nil)
	return NewOutboundTransform(testSPI, x, esn), NewInboundTransform(testSPI, x, 0, esn)
}

func TestTransformRoundTrip(t *testing.T) {
	for _, s := range xformSuites {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", s.name, esn), func(t *testing.T) {
				o, in := newXformPair(t, s, esn)
				x := o.xf.Load().t
				align := max(4, x.BlockSize())
				if got, want := o.PayloadOffset(), HeaderLen+x.IVLen(); got != want {
					t.Fatalf("PayloadOffset = %d, want %d", got, want)
				}
				var ivs [][]byte
				for i, n := range testSizes {
					payload := randBytes(n)
					pkt := sealPayload(t, o, payload, NextHeaderIPv6)
					if len(pkt) != n+o.Overhead(n) || o.Overhead(n) > o.MaxOverhead() {
						t.Fatalf("n=%d: sealed %d bytes, Overhead %d, MaxOverhead %d", n, len(pkt), o.Overhead(n), o.MaxOverhead())
					}
					enc := len(pkt) - HeaderLen - x.IVLen() - x.ICVLen()
					if enc%align != 0 || enc-n-trailerLen >= align {
						t.Fatalf("n=%d: encrypted part %d bytes: not minimally padded to %d", n, enc, align)
					}
					seq := uint64(i + 1)
					if spi, got := beUint32(pkt), beUint32(pkt[4:]); spi != testSPI || got != uint32(seq) {
						t.Fatalf("header %#x %d, want %#x %d", spi, got, testSPI, seq)
					}
					iv := pkt[HeaderLen:o.PayloadOffset()]
					if !x.RandomIV() && len(iv) > 0 && !bytes.Equal(iv, be64(seq)) {
						t.Fatalf("counter-mode IV %x, want the sequence number %d", iv, seq)
					}
					ivs = append(ivs, bytes.Clone(iv))
					got, nh, err := in.Open(pkt)
					if err != nil {
						t.Fatalf("n=%d: Open: %v", n, err)
					}
					if nh != NextHeaderIPv6 || !bytes.Equal(got, payload) {
						t.Fatalf("n=%d: Open = %d bytes nh %d, want %d bytes nh 41", n, len(got), nh, n)
					}
					if len(got) > 0 && &got[0] != &pkt[o.PayloadOffset()] {
						t.Fatal("Open did not decrypt in place")
					}
				}
				if x.RandomIV() {
					// RFC 3602 3: unpredictable, so neither the sequence
					// number nor repeated.
					seen := map[string]bool{}
					for i, iv := range ivs {
						if seen[string(iv)] || bytes.Equal(iv[len(iv)-8:], be64(uint64(i+1))) {
							t.Fatalf("CBC IV %d is %x: repeated or the sequence number", i, iv)
						}
						seen[string(iv)] = true
					}
				}
				if st := in.Stats(); st != (Stats{}) {
					t.Errorf("Stats = %+v, want zero", st)
				}
			})
		}
	}
}

// TestTransformEveryBitFlipRejected: no single flipped bit opens, none gets
// past the ICV to the padding check, and the original still opens.
func TestTransformEveryBitFlipRejected(t *testing.T) {
	for _, s := range xformSuites {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", s.name, esn), func(t *testing.T) {
				o, in := newXformPair(t, s, esn)
				pkt := sealPayload(t, o, randBytes(37), 4)
				for bit := range len(pkt) * 8 {
					mod := bytes.Clone(pkt)
					mod[bit/8] ^= 1 << (bit % 8)
					if p, nh, err := in.Open(mod); err == nil {
						t.Fatalf("bit %d flipped: Open succeeded (%d bytes, nh %d)", bit, len(p), nh)
					}
				}
				st := in.Stats()
				if st.WrongSPI != 32 || st.Padding != 0 || st.Auth+st.Replay+st.WrongSPI != uint64(len(pkt)*8) {
					t.Errorf("Stats = %+v for %d flips: want 32 wrong SPIs, the rest auth or replay", st, len(pkt)*8)
				}
				if _, _, err := in.Open(pkt); err != nil {
					t.Fatalf("original after the flips: %v", err)
				}
			})
		}
	}
}

func TestTransformReplay(t *testing.T) {
	for _, s := range xformSuites {
		t.Run(s.name, func(t *testing.T) {
			o, in := newXformPair(t, s, false)
			var pkts [][]byte
			for range 5 {
				pkts = append(pkts, sealPayload(t, o, randBytes(10), 4))
			}
			for _, i := range []int{4, 0, 2} {
				if _, _, err := in.Open(bytes.Clone(pkts[i])); err != nil {
					t.Fatalf("packet %d: %v", i+1, err)
				}
			}
			for _, i := range []int{4, 0, 2} {
				if _, _, err := in.Open(bytes.Clone(pkts[i])); !errors.Is(err, ErrReplay) {
					t.Fatalf("replayed packet %d: err = %v, want ErrReplay", i+1, err)
				}
			}
			for _, i := range []int{1, 3} {
				if _, _, err := in.Open(bytes.Clone(pkts[i])); err != nil {
					t.Fatalf("late packet %d: %v", i+1, err)
				}
			}
			if st := in.Stats(); st.Replay != 3 || st.Auth != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// TestTransformESNMismatch: the high sequence bits are authenticated, so
// a receiver that infers other ones (here: an SA without ESN) rejects.
func TestTransformESNHighBitsAuthenticated(t *testing.T) {
	for _, s := range xformSuites {
		x := newXform(t, s, nil)
		o := NewOutboundTransform(testSPI, x, true)
		o.seq.Store(1<<32 + 6)
		pkt := sealPayload(t, o, randBytes(30), 4)
		if _, _, err := NewInboundTransform(testSPI, x, 0, false).Open(bytes.Clone(pkt)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: ESN packet opened without ESN: err = %v, want ErrAuth", s.name, err)
		}
		in := NewInboundTransform(testSPI, x, 0, true)
		in.window.Update(1<<32 + 1)
		if _, _, err := in.Open(pkt); err != nil {
			t.Errorf("%s: ESN packet with the window in the same epoch: %v", s.name, err)
		}
	}
}

func TestTransformTruncationRejected(t *testing.T) {
	for _, s := range xformSuites {
		o, in := newXformPair(t, s, false)
		pkt := sealPayload(t, o, randBytes(20), 4)
		for i := range len(pkt) {
			if _, _, err := in.Open(bytes.Clone(pkt[:i])); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuth) {
				t.Fatalf("%s: %d-byte prefix: err = %v", s.name, i, err)
			}
		}
		if _, _, err := in.Open(pkt); err != nil {
			t.Fatalf("%s: original: %v", s.name, err)
		}
	}
}

// A CBC ciphertext that is not whole blocks is malformed: it is dropped
// before the ICV is computed.
func TestCBCPartialBlockMalformed(t *testing.T) {
	o, in := newXformPair(t, xformSuites[0], false)
	pkt := sealPayload(t, o, randBytes(20), 4)
	for _, extra := range []int{-4, 4, 8} {
		var mod []byte
		if extra < 0 {
			mod = bytes.Clone(pkt[:len(pkt)+extra])
		} else {
			mod = append(bytes.Clone(pkt), make([]byte, extra)...)
		}
		if _, _, err := in.Open(mod); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+d bytes: err = %v, want ErrMalformed", extra, err)
		}
	}
}

// TestTransformPaddingChecked: a packet whose ICV verifies but whose
// padding is not 1, 2, 3, ... is rejected with ErrPadding (RFC 4303 2.4).
func TestTransformPaddingChecked(t *testing.T) {
	s := xformSuites[0] // AES-CBC/HMAC-SHA2-256: pads 20 bytes to 32
	x := newXform(t, s, nil)
	o := NewOutboundTransform(testSPI, x, false)
	pkt := sealPayload(t, o, randBytes(20), 4)
	off, icv := o.PayloadOffset(), x.ICVLen()
	pt, err := x.Open(nil, pkt[:HeaderLen], pkt[HeaderLen:off], pkt[off:], suite.SeqHigh{})
	if err != nil {
		t.Fatal(err)
	}
	pt[20] ^= 0xff // first pad byte
	x.Seal(pkt[off:off], pkt[:HeaderLen], pkt[HeaderLen:off], pt, suite.SeqHigh{})
	if len(pkt) != off+len(pt)+icv {
		t.Fatal("length changed")
	}
	in := NewInboundTransform(testSPI, x, 0, false)
	if _, _, err := in.Open(pkt); !errors.Is(err, ErrPadding) {
		t.Fatalf("err = %v, want ErrPadding", err)
	}
}

func TestTransformZero(t *testing.T) {
	o, in := newXformPair(t, xformSuites[0], false)
	pkt := sealPayload(t, o, []byte("x"), 4)
	o.Zero()
	in.Zero()
	if _, err := o.Seal(make([]byte, 100), 1, 4); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal after Zero: %v", err)
	}
	if _, _, err := in.Open(pkt); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Zero: %v", err)
	}
}

// TestTransformNoAllocs: Seal (including the random CBC IV) and Open,
// successful or not, do not allocate.
func TestTransformNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so pooled state allocates")
	}
	for _, s := range xformSuites {
		for _, esn := range []bool{false, true} {
			o, in := newXformPair(t, s, esn)
			const runs = 100
			buf := make([]byte, 1500+o.MaxOverhead())
			if a := testing.AllocsPerRun(runs, func() {
				if _, err := o.Seal(buf, 1400, 4); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%s esn=%v: Seal allocates %v times", s.name, esn, a)
			}
			var pkts [][]byte
			for range runs + 1 {
				pkts = append(pkts, sealPayload(t, o, make([]byte, 1400), 4))
			}
			i := 0
			if a := testing.AllocsPerRun(runs, func() {
				if _, _, err := in.Open(pkts[i]); err != nil {
					t.Fatal(err)
				}
				i++
			}); a != 0 {
				t.Errorf("%s esn=%v: Open allocates %v times", s.name, esn, a)
			}
			bad := sealPayload(t, o, make([]byte, 100), 4)
			bad[len(bad)-1] ^= 1
			if a := testing.AllocsPerRun(runs, func() {
				if _, _, err := in.Open(bad); err == nil {
					t.Fatal("forged packet opened")
				}
			}); a != 0 {
				t.Errorf("%s esn=%v: failing Open allocates %v times", s.name, esn, a)
			}
		}
	}
}

// TestTransformOpenRandomNoPanic feeds random packets with our SPI and a
// fresh sequence number to every transform.
func TestTransformOpenRandomNoPanic(t *testing.T) {
	for _, s := range xformSuites {
		_, in := newXformPair(t, s, true)
		for n := range 200 {
			pkt := make([]byte, n)
			rand.Read(pkt)
			if n >= 8 {
				binary.BigEndian.PutUint32(pkt, testSPI)
			}
			if _, _, err := in.Open(pkt); err == nil {
				t.Fatalf("%s: random %d-byte packet opened", s.name, n)
			}
		}
	}
}
