package esp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

type testSuite struct {
	name    string
	encrID  uint16
	keyBits int
}

// aeadSuites are the transforms RFC 8221 recommends for ESP, plus the
// shorter GCM ICVs to exercise other ICV lengths.
var aeadSuites = []testSuite{
	{"aes128gcm16", ike.EncrAESGCM16, 128},
	{"aes256gcm16", ike.EncrAESGCM16, 256},
	{"chacha20poly1305", ike.EncrChaCha20Poly1305, 0},
	{"aes128gcm12", ike.EncrAESGCM12, 128},
	{"aes128gcm8", ike.EncrAESGCM8, 128},
}

var testSizes = []int{0, 1, 2, 3, 4, 5, 63, 64, 65, 512, 1400, 1500, 8000}

func newAEAD(tb testing.TB, s testSuite, keymat []byte) *suite.AEAD {
	tb.Helper()
	if keymat == nil {
		n, err := suite.AEADKeymatLen(s.encrID, s.keyBits)
		if err != nil {
			tb.Fatal(err)
		}
		keymat = make([]byte, n)
		rand.Read(keymat)
	}
	a, err := suite.NewAEAD(s.encrID, s.keyBits, keymat)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

const testSPI = 0xc0de0042

// newPair returns both halves of one SA (the same key, as the sender and
// the receiver hold it).
func newPair(tb testing.TB, s testSuite, esn bool) (*Outbound, *Inbound) {
	tb.Helper()
	a := newAEAD(tb, s, nil)
	if esn {
		return NewOutboundESN(testSPI, a), NewInboundESN(testSPI, a, 0)
	}
	return NewOutbound(testSPI, a), NewInbound(testSPI, a, 0)
}

// sealPayload copies payload into a fresh buffer at the payload offset and
// seals it.
func sealPayload(tb testing.TB, o *Outbound, payload []byte, nh uint8) []byte {
	tb.Helper()
	buf := make([]byte, len(payload)+o.Overhead(len(payload)))
	copy(buf[o.PayloadOffset():], payload)
	pkt, err := o.Seal(buf, len(payload), nh)
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, s := range aeadSuites {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", s.name, esn), func(t *testing.T) {
				o, in := newPair(t, s, esn)
				icv := o.icvLen
				for i, n := range testSizes {
					payload := randBytes(n)
					pkt := sealPayload(t, o, payload, NextHeaderIPv4)
					if len(pkt) != n+o.Overhead(n) {
						t.Fatalf("n=%d: sealed %d bytes, want %d", n, len(pkt), n+o.Overhead(n))
					}
					if (len(pkt)-HeaderLen-8-icv)%4 != 0 {
						t.Fatalf("n=%d: encrypted part %d bytes, not 4-aligned", n, len(pkt)-HeaderLen-8-icv)
					}
					if got := o.Overhead(n) - HeaderLen - 8 - 2 - icv; got > 3 {
						t.Fatalf("n=%d: %d padding bytes, want at most 3", n, got)
					}
					wantSeq := uint64(i + 1)
					if spi, seq := beUint32(pkt[0:]), beUint32(pkt[4:]); spi != testSPI || seq != uint32(wantSeq) {
						t.Fatalf("header SPI %#x seq %d, want %#x %d", spi, seq, testSPI, wantSeq)
					}
					if iv := pkt[8:16]; !bytes.Equal(iv, be64(wantSeq)) {
						t.Fatalf("IV %x, want the sequence number %d", iv, wantSeq)
					}
					got, nh, err := in.Open(pkt)
					if err != nil {
						t.Fatalf("n=%d: Open: %v", n, err)
					}
					if nh != NextHeaderIPv4 || !bytes.Equal(got, payload) {
						t.Fatalf("n=%d: Open = %d bytes nh %d, want %d bytes nh 4", n, len(got), nh, n)
					}
					if len(got) > 0 && &got[0] != &pkt[o.PayloadOffset()] {
						t.Fatal("Open did not decrypt in place")
					}
				}
				if st := in.Stats(); st != (Stats{}) {
					t.Errorf("Stats = %+v, want zero", st)
				}
			})
		}
	}
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
	return b
}

func TestSealBufferLargerThanNeeded(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	buf := make([]byte, 2048)
	copy(buf[o.PayloadOffset():], "abc")
	pkt, err := o.Seal(buf[:0], 3, 41)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkt) != 3+o.Overhead(3) || &pkt[0] != &buf[0] {
		t.Fatalf("Seal returned %d bytes (not buf[:n+Overhead(n)])", len(pkt))
	}
	p, nh, err := in.Open(pkt)
	if err != nil || string(p) != "abc" || nh != 41 {
		t.Fatalf("Open = %q %d %v", p, nh, err)
	}
}

func TestSealBufferTooSmall(t *testing.T) {
	o, _ := newPair(t, aeadSuites[0], false)
	for _, n := range []int{0, 1, 100} {
		buf := make([]byte, n+o.Overhead(n)-1)
		if _, err := o.Seal(buf, n, 4); !errors.Is(err, ErrBufferTooSmall) {
			t.Errorf("n=%d: err = %v, want ErrBufferTooSmall", n, err)
		}
	}
	for _, n := range []int{-1, math.MinInt, math.MaxInt, math.MaxInt - 10} {
		if _, err := o.Seal(make([]byte, 100), n, 4); !errors.Is(err, ErrBufferTooSmall) {
			t.Errorf("n=%d: err = %v, want ErrBufferTooSmall", n, err)
		}
	}
}

func TestSeqExhausted(t *testing.T) {
	for _, esn := range []bool{false, true} {
		o, in := newPair(t, aeadSuites[0], esn)
		last := uint64(math.MaxUint32)
		if esn {
			last = math.MaxUint64
		}
		o.seq.Store(last - 1)
		pkt := sealPayload(t, o, []byte("last"), 4)
		if o.LastSeq() != last {
			t.Fatalf("esn=%v: LastSeq = %#x, want %#x", esn, o.LastSeq(), last)
		}
		in.window.Update(last - 1) // so that InferESN finds the right subspace
		if p, _, err := in.Open(pkt); err != nil || string(p) != "last" {
			t.Fatalf("esn=%v: Open of the last number: %q %v", esn, p, err)
		}
		for range 3 {
			buf := make([]byte, 100)
			if _, err := o.Seal(buf, 10, 4); !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("esn=%v: Seal after the last number: err = %v", esn, err)
			}
			if _, err := o.NextSeq(); !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("esn=%v: NextSeq after the last number: err = %v", esn, err)
			}
		}
		if o.LastSeq() != last {
			t.Fatalf("esn=%v: counter moved past the last number: %#x", esn, o.LastSeq())
		}
	}
}

func TestConcurrentSealUniqueSeq(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	const workers, each = 8, 200
	pkts := make([][]byte, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				buf := make([]byte, 2+o.Overhead(2))
				p, err := o.Seal(buf, 2, 4)
				if err != nil {
					t.Error(err)
					return
				}
				pkts[w*each+i] = p
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := make(map[uint32]bool)
	for _, p := range pkts {
		seq := beUint32(p[4:])
		if seen[seq] {
			t.Fatalf("sequence number %d used twice", seq)
		}
		seen[seq] = true
	}
	in.window.Init(workers * each)
	for _, p := range pkts {
		if _, _, err := in.Open(p); err != nil {
			t.Fatal(err)
		}
	}
	if o.LastSeq() != workers*each {
		t.Fatalf("LastSeq = %d", o.LastSeq())
	}
}

func TestNextSeqSealSeq(t *testing.T) {
	o, in := newPair(t, aeadSuites[2], false)
	s1, _ := o.NextSeq()
	s2, _ := o.NextSeq()
	if s1 != 1 || s2 != 2 {
		t.Fatalf("NextSeq = %d, %d; want 1, 2", s1, s2)
	}
	// Sealed out of order, as parallel workers may finish.
	mk := func(seq uint64, msg string) []byte {
		buf := make([]byte, 64)
		copy(buf[o.PayloadOffset():], msg)
		p, err := o.SealSeq(buf, len(msg), 4, seq)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p2, p1 := mk(s2, "two"), mk(s1, "one")
	for _, c := range []struct {
		p    []byte
		want string
	}{{p2, "two"}, {p1, "one"}} {
		got, _, err := in.Open(c.p)
		if err != nil || string(got) != c.want {
			t.Fatalf("Open = %q %v, want %q", got, err, c.want)
		}
	}
}

// TestEveryBitFlipRejected flips each bit of a sealed packet in turn; no
// modified packet may open, and the original must still open afterwards
// (a rejected packet must not move the replay window).
func TestEveryBitFlipRejected(t *testing.T) {
	for _, s := range aeadSuites {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", s.name, esn), func(t *testing.T) {
				o, in := newPair(t, s, esn)
				pkt := sealPayload(t, o, randBytes(37), 4)
				for bit := range len(pkt) * 8 {
					mod := bytes.Clone(pkt)
					mod[bit/8] ^= 1 << (bit % 8)
					if p, nh, err := in.Open(mod); err == nil {
						t.Fatalf("bit %d flipped: Open succeeded (%d bytes, nh %d)", bit, len(p), nh)
					}
				}
				st := in.Stats()
				if total := st.Auth + st.Malformed + st.WrongSPI + st.Replay + st.Padding; total != uint64(len(pkt)*8) {
					t.Errorf("drops counted %d (%+v), want %d", total, st, len(pkt)*8)
				}
				if st.WrongSPI != 32 || st.Malformed != 0 {
					t.Errorf("WrongSPI = %d, Malformed = %d, want 32 (the SPI bits) and 0", st.WrongSPI, st.Malformed)
				}
				if st.Padding != 0 {
					t.Errorf("Padding = %d: a flip got past the ICV", st.Padding)
				}
				if _, _, err := in.Open(pkt); err != nil {
					t.Fatalf("original after the flips: %v", err)
				}
			})
		}
	}
}

func TestTruncationRejected(t *testing.T) {
	for _, s := range aeadSuites {
		o, in := newPair(t, s, false)
		pkt := sealPayload(t, o, randBytes(20), 4)
		for i := range len(pkt) {
			_, _, err := in.Open(bytes.Clone(pkt[:i]))
			if err == nil {
				t.Fatalf("%s: %d-byte prefix opened", s.name, i)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuth) {
				t.Fatalf("%s: prefix %d: err = %v", s.name, i, err)
			}
		}
		if _, _, err := in.Open(append(bytes.Clone(pkt), 0)); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: extended packet: err = %v, want ErrAuth", s.name, err)
		}
		if _, _, err := in.Open(pkt); err != nil {
			t.Fatalf("%s: original: %v", s.name, err)
		}
	}
}

func TestWrongSPI(t *testing.T) {
	o, _ := newPair(t, aeadSuites[0], false)
	in := NewInboundTransform(testSPI+1, o.xf.Load().t, 0, false)
	_, _, err := in.Open(sealPayload(t, o, []byte("x"), 4))
	if !errors.Is(err, ErrWrongSPI) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrWrongSPI (an ErrMalformed)", err)
	}
	if st := in.Stats(); st.WrongSPI != 1 || st.Malformed != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestReplay(t *testing.T) {
	o, in := newPair(t, aeadSuites[1], false)
	var pkts [][]byte
	for i := range 300 {
		pkts = append(pkts, sealPayload(t, o, []byte{byte(i)}, 4))
	}
	open := func(i int) error {
		_, _, err := in.Open(bytes.Clone(pkts[i]))
		return err
	}
	if err := open(0); err != nil {
		t.Fatal(err)
	}
	if err := open(0); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of seq 1: err = %v", err)
	}
	if err := open(199); err != nil { // seq 200
		t.Fatal(err)
	}
	if err := open(100); err != nil { // seq 101: inside the 128 window, out of order
		t.Fatalf("in-window seq 101: %v", err)
	}
	if err := open(71); !errors.Is(err, ErrReplay) { // seq 72 = 200-128: too old
		t.Fatalf("seq 72, left of the window: err = %v", err)
	}
	if err := open(72); err != nil { // seq 73: the left edge
		t.Fatalf("seq 73 at the left edge: %v", err)
	}
	if err := open(199); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of seq 200: err = %v", err)
	}
	if st := in.Stats(); st.Replay != 3 || st.Auth != 0 {
		t.Fatalf("Stats = %+v, want 3 replays", st)
	}
}

// TestForgeryDoesNotMoveWindow: a packet that fails the ICV must leave the
// window alone (RFC 4303 3.4.3), so the genuine packet with the same (or a
// lower) number is still accepted.
func TestForgeryDoesNotMoveWindow(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	genuine := sealPayload(t, o, []byte("genuine"), 4)
	forged := bytes.Clone(genuine)
	forged[len(forged)-1] ^= 0x80
	if _, _, err := in.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged: err = %v", err)
	}
	far := bytes.Clone(genuine)
	far[4], far[5] = 0x7f, 0xff // seq far ahead
	if _, _, err := in.Open(far); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged far ahead: err = %v", err)
	}
	if in.HighestSeq() != 0 {
		t.Fatalf("window moved to %d by forgeries", in.HighestSeq())
	}
	if p, _, err := in.Open(genuine); err != nil || string(p) != "genuine" {
		t.Fatalf("genuine after forgeries: %q %v", p, err)
	}
	if st := in.Stats(); st.Auth != 2 {
		t.Fatalf("Stats = %+v, want 2 auth failures", st)
	}
}

func TestSeqZeroRejected(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	o.seq.Store(math.MaxUint64 - 1) // not reachable normally; force seq 0 in the header
	o.maxSeq = math.MaxUint64
	pkt := sealPayload(t, o, []byte("zero"), 4)
	pkt[4], pkt[5], pkt[6], pkt[7] = 0, 0, 0, 0
	if _, _, err := in.Open(pkt); !errors.Is(err, ErrReplay) {
		t.Fatalf("seq 0: err = %v, want ErrReplay", err)
	}
}

// TestESNAcrossBoundary seals across 2^32 with ESN: the receiver infers the
// high half (RFC 4303 Appendix A2.2), also when packets from both sides of
// the boundary are reordered.
func TestESNAcrossBoundary(t *testing.T) {
	o, in := newPair(t, aeadSuites[2], true)
	o.seq.Store(1<<32 - 3)
	var pkts [][]byte
	for i := range 8 { // seqs 2^32-2 ... 2^32+5
		pkts = append(pkts, sealPayload(t, o, []byte{byte(i)}, 4))
	}
	for _, i := range []int{0, 4, 1, 2, 6, 3, 5, 7} {
		p, _, err := in.Open(bytes.Clone(pkts[i]))
		if err != nil || len(p) != 1 || p[0] != byte(i) {
			t.Fatalf("packet %d (seq %#x): %x %v", i, uint64(1<<32-2+i), p, err)
		}
	}
	if in.HighestSeq() != 1<<32+5 {
		t.Fatalf("HighestSeq = %#x", in.HighestSeq())
	}
	if _, _, err := in.Open(bytes.Clone(pkts[3])); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay across the boundary: %v", err)
	}
}

// TestESNMismatch: a sender with ESN and a receiver without (or the other
// way round) disagree on the AAD, so nothing verifies.
func TestESNMismatch(t *testing.T) {
	a := newAEAD(t, aeadSuites[0], nil)
	pkt := sealPayload(t, NewOutboundESN(1, a), []byte("x"), 4)
	if _, _, err := NewInbound(1, a, 0).Open(pkt); !errors.Is(err, ErrAuth) {
		t.Fatalf("ESN sender, 32-bit receiver: err = %v", err)
	}
	pkt = sealPayload(t, NewOutbound(1, a), []byte("x"), 4)
	if _, _, err := NewInboundESN(1, a, 0).Open(pkt); !errors.Is(err, ErrAuth) {
		t.Fatalf("32-bit sender, ESN receiver: err = %v", err)
	}
}

func TestDummyNextHeaderPassedThrough(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	_, nh, err := in.Open(sealPayload(t, o, nil, NextHeaderDummy))
	if err != nil || nh != NextHeaderDummy {
		t.Fatalf("dummy packet: nh %d err %v", nh, err)
	}
}

func TestZero(t *testing.T) {
	o, in := newPair(t, aeadSuites[0], false)
	pkt := sealPayload(t, o, []byte("x"), 4)
	o.Zero()
	in.Zero()
	if _, err := o.Seal(make([]byte, 100), 1, 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Zero: %v", err)
	}
	if _, _, err := in.Open(pkt); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Zero: %v", err)
	}
}

// TestNoAllocs checks that Seal and Open, successful or not, do not
// allocate. AES-GCM-8 is exempt: suite opens it with a fresh cipher.NewCTR
// per packet (crypto/cipher cannot verify 8-octet tags), which allocates.
func TestNoAllocs(t *testing.T) {
	for _, s := range aeadSuites {
		for _, esn := range []bool{false, true} {
			errorf := t.Errorf
			if s.encrID == ike.EncrAESGCM8 {
				errorf = t.Logf
			}
			o, in := newPair(t, s, esn)
			const runs = 100
			buf := make([]byte, 1500+o.Overhead(1500))
			if a := testing.AllocsPerRun(runs, func() {
				if _, err := o.Seal(buf, 1400, 4); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				errorf("%s esn=%v: Seal allocates %v times", s.name, esn, a)
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
				errorf("%s esn=%v: Open allocates %v times", s.name, esn, a)
			}
			// Failure paths do not allocate either.
			bad := sealPayload(t, o, make([]byte, 100), 4)
			bad[20] ^= 1
			if a := testing.AllocsPerRun(runs, func() {
				if _, _, err := in.Open(bad); err == nil {
					t.Fatal("forged packet opened")
				}
			}); a != 0 {
				errorf("%s esn=%v: failing Open allocates %v times", s.name, esn, a)
			}
		}
	}
}

func TestNATTMarkers(t *testing.T) {
	tests := []struct {
		b                 []byte
		marker, keepalive bool
	}{
		{nil, false, false},
		{[]byte{0xff}, false, true},
		{[]byte{0xff, 0xff}, false, false},
		{[]byte{0}, false, false},
		{[]byte{0, 0, 0}, false, false},
		{[]byte{0, 0, 0, 0}, true, false},
		{[]byte{0, 0, 0, 0, 0x12, 0x34}, true, false},
		{[]byte{0, 0, 0, 1, 0, 0, 0, 1}, false, false}, // ESP with SPI 1
		{[]byte{1, 0, 0, 0}, false, false},
	}
	for _, tt := range tests {
		if got := IsNonESPMarker(tt.b); got != tt.marker {
			t.Errorf("IsNonESPMarker(%x) = %v", tt.b, got)
		}
		if got := IsKeepalive(tt.b); got != tt.keepalive {
			t.Errorf("IsKeepalive(%x) = %v", tt.b, got)
		}
	}
}

func TestPadLen(t *testing.T) {
	for n := range 40 {
		for _, align := range []int{4, 8, 16} {
			p := padLen(n, align)
			if p < 0 || p >= align || (n+p+2)%align != 0 {
				t.Fatalf("padLen(%d, %d) = %d", n, align, p)
			}
		}
	}
}
