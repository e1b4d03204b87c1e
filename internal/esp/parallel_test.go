package esp

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// splitOpen runs Prepare, Decrypt and Accept in sequence.
func splitOpen(in *Inbound, pkt []byte) ([]byte, uint8, error) {
	seq, err := in.Prepare(pkt)
	if err != nil {
		return nil, 0, err
	}
	p, nh, err := in.Decrypt(pkt, seq)
	if err != nil {
		return nil, 0, err
	}
	return p, nh, in.Accept(seq)
}

// TestSplitOpenMatchesOpen: for every suite and size, with and without
// ESN, the split steps return what Open returns.
func TestSplitOpenMatchesOpen(t *testing.T) {
	for _, s := range aeadSuites {
		for _, esn := range []bool{false, true} {
			o, in := newPair(t, s, esn)
			in2 := NewInboundTransform(testSPI, in.xf.Load().t, 0, esn)
			for _, n := range testSizes {
				payload := randBytes(n)
				pkt := sealPayload(t, o, payload, 4)
				p1, nh1, err1 := in.Open(bytes.Clone(pkt))
				p2, nh2, err2 := splitOpen(in2, bytes.Clone(pkt))
				if err1 != nil || err2 != nil || !bytes.Equal(p1, payload) || !bytes.Equal(p2, payload) || nh1 != nh2 {
					t.Fatalf("%s esn=%v size %d: Open %v %v, split %v %v", s.name, esn, n, nh1, err1, nh2, err2)
				}
			}
		}
	}
}

// TestSplitOpenDuplicateInFlight: two copies of a packet both pass the
// pre-check (neither was accepted yet) and both decrypt, but only the first
// Accept succeeds (RFC 4303 3.4.3).
func TestSplitOpenDuplicateInFlight(t *testing.T) {
	o, in := newPair(t, aeadSuites[1], false)
	pkt := sealPayload(t, o, []byte("once"), 4)
	a, b := bytes.Clone(pkt), bytes.Clone(pkt)
	sa, err1 := in.Prepare(a)
	sb, err2 := in.Prepare(b)
	if err1 != nil || err2 != nil || sa != 1 || sb != 1 {
		t.Fatalf("Prepare: %d %v, %d %v", sa, err1, sb, err2)
	}
	if _, _, err := in.Decrypt(a, sa); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.Decrypt(b, sb); err != nil {
		t.Fatal(err)
	}
	if err := in.Accept(sa); err != nil {
		t.Fatalf("first Accept: %v", err)
	}
	if err := in.Accept(sb); !errors.Is(err, ErrReplay) {
		t.Fatalf("second Accept: %v, want ErrReplay", err)
	}
	if _, err := in.Prepare(bytes.Clone(pkt)); !errors.Is(err, ErrReplay) {
		t.Fatalf("Prepare after Accept: %v, want ErrReplay", err)
	}
}

// TestSplitOpenForgeryKeepsWindow: a forged packet fails Decrypt and, never
// accepted, leaves the window alone, so the real packet with that number
// still gets in.
func TestSplitOpenForgeryKeepsWindow(t *testing.T) {
	o, in := newPair(t, aeadSuites[2], false)
	pkt := sealPayload(t, o, []byte("real"), 4)
	forged := bytes.Clone(pkt)
	forged[len(forged)-1] ^= 1
	seq, err := in.Prepare(forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.Decrypt(forged, seq); !errors.Is(err, ErrAuth) {
		t.Fatalf("Decrypt(forged) = %v, want ErrAuth", err)
	}
	if in.HighestSeq() != 0 {
		t.Fatalf("window moved to %d", in.HighestSeq())
	}
	if p, _, err := splitOpen(in, pkt); err != nil || string(p) != "real" {
		t.Fatalf("real packet: %q %v", p, err)
	}
}

// TestDecryptConcurrent decrypts many packets of one SA on several
// goroutines (run with -race) and accepts them serially, in pairs swapped
// (any order within the window will do).
func TestDecryptConcurrent(t *testing.T) {
	o, in := newPair(t, aeadSuites[1], true)
	const n = 256
	pkts := make([][]byte, n)
	seqs := make([]uint64, n)
	for i := range pkts {
		pkts[i] = sealPayload(t, o, []byte{byte(i), 1, 2, 3}, 4)
		var err error
		if seqs[i], err = in.Prepare(pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				p, _, err := in.Decrypt(pkts[i], seqs[i])
				if err == nil && p[0] != byte(i) {
					err = errors.New("wrong payload")
				}
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for k := range n {
		i := k ^ 1
		if errs[i] != nil {
			t.Fatalf("packet %d: %v", i, errs[i])
		}
		if err := in.Accept(seqs[i]); err != nil {
			t.Fatalf("Accept %d: %v", seqs[i], err)
		}
	}
}

// TestSplitOpenReplayDisabled: with the check off (ReplayDisabled) a
// duplicate passes every step, as it passes Open.
func TestSplitOpenReplayDisabled(t *testing.T) {
	s := aeadSuites[0]
	a := newAEAD(t, s, nil)
	o, in := NewOutbound(testSPI, a), NewInbound(testSPI, a, ReplayDisabled)
	pkt := sealPayload(t, o, []byte("twice"), 4)
	for i := range 2 {
		if p, _, err := splitOpen(in, bytes.Clone(pkt)); err != nil || string(p) != "twice" {
			t.Fatalf("copy %d: %q %v", i, p, err)
		}
	}
}
