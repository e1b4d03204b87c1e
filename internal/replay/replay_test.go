package replay

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func newWindow(size int) *Window {
	w := new(Window)
	w.Init(size)
	return w
}

// accept runs the receiver's two steps (RFC 4303 3.4.3) for seq.
func accept(w *Window, seq uint64) bool {
	return w.Check(seq) && w.Update(seq)
}

func TestInitSize(t *testing.T) {
	tests := []struct{ in, want int }{
		{0, DefaultSize},
		{1, 64},
		{32, 64},
		{64, 64},
		{65, 128},
		{128, 128},
		{1000, 1024},
		{4096, 4096},
		{65536, 65536},
		{65537, 65536},
		{1 << 30, 65536},
		{-5, 64},
	}
	for _, tt := range tests {
		if got := newWindow(tt.in).Size(); got != tt.want {
			t.Errorf("Init(%d).Size() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSeqZeroNeverValid(t *testing.T) {
	w := newWindow(128)
	if w.Check(0) || w.Update(0) {
		t.Fatal("sequence number 0 accepted on a fresh window")
	}
	accept(w, 5)
	if w.Check(0) || w.Update(0) {
		t.Fatal("sequence number 0 accepted after 5")
	}
}

func TestInOrder(t *testing.T) {
	w := newWindow(128)
	for seq := uint64(1); seq <= 10000; seq++ {
		if !w.Check(seq) {
			t.Fatalf("Check(%d) = false in order", seq)
		}
		if !w.Update(seq) {
			t.Fatalf("Update(%d) = false in order", seq)
		}
		if w.Check(seq) || w.Update(seq) {
			t.Fatalf("duplicate %d accepted", seq)
		}
	}
	if w.Highest() != 10000 {
		t.Fatalf("Highest() = %d, want 10000", w.Highest())
	}
}

func TestDuplicates(t *testing.T) {
	w := newWindow(128)
	for _, seq := range []uint64{1, 2, 3, 50, 40, 45} {
		if !accept(w, seq) {
			t.Fatalf("first %d rejected", seq)
		}
	}
	for _, seq := range []uint64{1, 2, 3, 50, 40, 45} {
		if w.Check(seq) {
			t.Errorf("Check(%d) = true for a duplicate", seq)
		}
		if w.Update(seq) {
			t.Errorf("Update(%d) = true for a duplicate", seq)
		}
	}
	for _, seq := range []uint64{4, 39, 41, 49, 51} {
		if !w.Check(seq) {
			t.Errorf("Check(%d) = false for an unseen number", seq)
		}
	}
}

// TestUpdateAfterCheckRace is the case the second step exists for: two copies
// of one packet both pass the pre-check before either is verified; only the
// first Update may succeed.
func TestUpdateAfterCheckRace(t *testing.T) {
	w := newWindow(64)
	if !w.Check(7) || !w.Check(7) {
		t.Fatal("pre-check of an unseen number failed")
	}
	if !w.Update(7) {
		t.Fatal("first Update(7) failed")
	}
	if w.Update(7) {
		t.Fatal("second Update(7) succeeded")
	}
}

func TestWindowEdgesAllSizes(t *testing.T) {
	for size := 64; size <= 4096; size += 64 {
		w := newWindow(size)
		const top = 1_000_000
		if !accept(w, top) {
			t.Fatalf("size %d: %d rejected", size, top)
		}
		oldest := uint64(top - size + 1) // top-oldest = size-1: inside
		if !w.Check(oldest) {
			t.Errorf("size %d: Check(%d) = false at the left edge", size, oldest)
		}
		if w.Check(oldest-1) || w.Update(oldest-1) {
			t.Errorf("size %d: %d accepted, one left of the window", size, oldest-1)
		}
		// Out of order inside the window, every number once, highest first.
		for seq := uint64(top - 1); seq >= oldest; seq-- {
			if !accept(w, seq) {
				t.Fatalf("size %d: in-window %d rejected", size, seq)
			}
		}
		for seq := oldest; seq <= top; seq++ {
			if w.Check(seq) {
				t.Fatalf("size %d: replay of %d accepted", size, seq)
			}
		}
		// One step right: the old left edge falls out, nothing else changes.
		if !accept(w, top+1) {
			t.Fatalf("size %d: %d rejected", size, top+1)
		}
		if w.Check(oldest) {
			t.Errorf("size %d: %d still accepted after the window moved", size, oldest)
		}
		for seq := oldest + 1; seq <= top+1; seq++ {
			if w.Check(seq) {
				t.Fatalf("size %d: seen %d forgotten after a one-step slide", size, seq)
			}
		}
	}
}

func TestBigJumpClearsBitmap(t *testing.T) {
	for _, size := range []int{64, 128, 1024, 4096} {
		w := newWindow(size)
		for seq := uint64(1); seq <= uint64(3*size); seq++ {
			accept(w, seq)
		}
		for _, jump := range []uint64{uint64(size) - 1, uint64(size), uint64(size) + 63, 10 * uint64(size), 1 << 40} {
			top := w.Highest() + jump
			if !accept(w, top) {
				t.Fatalf("size %d: jump to %d rejected", size, top)
			}
			// Everything in the window below top that was not seen before
			// the jump must be acceptable: stale bits must be cleared.
			before := top - jump
			for seq := top - uint64(size) + 1; seq < top; seq++ {
				if seq <= before {
					continue // seen before the jump (all of them were)
				}
				if !w.Check(seq) {
					t.Fatalf("size %d jump %d: unseen %d rejected (stale bit)", size, jump, seq)
				}
			}
			for seq := top - uint64(size) + 1; seq < top; seq++ {
				accept(w, seq) // fill the window for the next round
			}
		}
	}
}

func TestReset(t *testing.T) {
	w := newWindow(256)
	for seq := uint64(1); seq < 1000; seq++ {
		accept(w, seq)
	}
	w.Reset()
	if w.Size() != 256 || w.Highest() != 0 {
		t.Fatalf("after Reset: Size %d Highest %d", w.Size(), w.Highest())
	}
	for seq := uint64(1); seq < 1000; seq++ {
		if !accept(w, seq) {
			t.Fatalf("after Reset: %d rejected", seq)
		}
	}
}

// refWindow is the obviously correct model: a set of everything seen.
type refWindow struct {
	size    uint64
	highest uint64
	seen    map[uint64]bool
}

func (r *refWindow) check(seq uint64) bool {
	if seq == 0 || r.seen[seq] {
		return false
	}
	return seq > r.highest || r.highest-seq < r.size
}

func (r *refWindow) update(seq uint64) bool {
	if !r.check(seq) {
		return false
	}
	r.seen[seq] = true
	r.highest = max(r.highest, seq)
	return true
}

// runModel drives w and the reference model with operations decoded from
// data (3 bytes each: opcode, then a signed 16-bit offset from the highest
// number) and fails on the first disagreement.
func runModel(t *testing.T, size int, data []byte) {
	t.Helper()
	w := newWindow(size)
	ref := &refWindow{size: uint64(w.Size()), seen: map[uint64]bool{}}
	for len(data) >= 3 {
		op := data[0]
		off := int64(int16(binary.BigEndian.Uint16(data[1:3])))
		data = data[3:]
		if op&0x80 != 0 {
			off *= 97 // big jumps, both directions
		}
		seq := uint64(int64(ref.highest) + off)
		if int64(ref.highest)+off < 0 {
			seq = 0
		}
		if got, want := w.Check(seq), ref.check(seq); got != want {
			t.Fatalf("size %d highest %d: Check(%d) = %v, model %v", size, ref.highest, seq, got, want)
		}
		if op&1 == 0 {
			continue // check only, like a packet that then fails its ICV
		}
		if got, want := w.Update(seq), ref.update(seq); got != want {
			t.Fatalf("size %d highest %d: Update(%d) = %v, model %v", size, ref.highest, seq, got, want)
		}
		if w.Highest() != ref.highest {
			t.Fatalf("Highest() = %d, model %d", w.Highest(), ref.highest)
		}
	}
}

func TestModelRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{64, 128, 192, 1024, 4096} {
		for range 20 {
			data := make([]byte, 3*5000)
			for i := 0; i < len(data); i += 3 {
				data[i] = byte(rng.IntN(256))
				// Mostly small offsets around the window, some far.
				off := int16(rng.IntN(3*size) - 2*size)
				binary.BigEndian.PutUint16(data[i+1:], uint16(off))
			}
			runModel(t, size, data)
		}
	}
}

func FuzzWindow(f *testing.F) {
	f.Add(uint16(64), []byte{1, 0, 1, 1, 0, 1, 1, 0xff, 0xff, 1, 0, 0})
	f.Add(uint16(128), []byte{1, 0, 200, 1, 0xff, 0x80, 0x81, 0x01, 0x00, 1, 0xff, 0xff, 0, 0xff, 0x81})
	f.Add(uint16(4096), []byte{0x81, 0x7f, 0xff, 1, 0xf0, 0x00, 1, 0xf0, 0x00, 0, 0xf0, 0x01})
	f.Fuzz(func(t *testing.T, size uint16, data []byte) {
		runModel(t, int(size), data)
	})
}

// TestInferESNAppendixA covers both cases of RFC 4303 Appendix A2.2 at their
// boundaries, for W = 128.
func TestInferESNAppendixA(t *testing.T) {
	const W = 128
	at := func(th, tl uint32) *Window {
		w := newWindow(W)
		w.highest = uint64(th)<<32 | uint64(tl)
		return w
	}
	seq := func(h, l uint32) uint64 { return uint64(h)<<32 | uint64(l) }
	sub := func(a, b uint32) uint32 { return a - b } // mod 2^32, as in the RFC
	tests := []struct {
		name   string
		th, tl uint32
		low    uint32
		want   uint64
	}{
		// Case A: Tl >= W-1, window [Tl-W+1, Tl] in subspace Th.
		{"A/at Tl", 5, 1000, 1000, seq(5, 1000)},
		{"A/left edge", 5, 1000, 1000 - (W - 1), seq(5, 1000-(W-1))},
		{"A/below left edge wraps to Th+1", 5, 1000, 1000 - W, seq(6, 1000-W)},
		{"A/low 0 is next subspace", 5, 1000, 0, seq(6, 0)},
		{"A/right of Tl", 5, 1000, 0xffffffff, seq(5, 0xffffffff)},
		{"A/Tl == W-1 exactly", 5, W - 1, 0, seq(5, 0)},
		{"A/Tl == W-1, low max", 5, W - 1, 0xffffffff, seq(5, 0xffffffff)},
		{"A/Tl max", 5, 0xffffffff, 3, seq(6, 3)},
		{"A/Tl max, in window", 5, 0xffffffff, 0xffffffff - 10, seq(5, 0xffffffff-10)},
		{"A/Th max exhausted", 0xffffffff, 1000, 0, 0},
		{"A/Th max in window", 0xffffffff, 1000, 999, seq(0xffffffff, 999)},
		// Case B: Tl < W-1, window straddles subspaces Th-1 and Th.
		{"B/at Tl", 5, 10, 10, seq(5, 10)},
		{"B/below Tl same subspace", 5, 10, 0, seq(5, 0)},
		{"B/right of Tl", 5, 10, 5000, seq(5, 5000)},
		{"B/left edge in Th-1", 5, 10, sub(10, W-1), seq(4, sub(10, W-1))},
		{"B/max low in Th-1", 5, 10, 0xffffffff, seq(4, 0xffffffff)},
		{"B/below left edge is Th", 5, 10, sub(10, W), seq(5, sub(10, W))},
		{"B/Tl == W-2", 5, W - 2, 0xffffffff, seq(4, 0xffffffff)},
		{"B/Tl 0", 5, 0, 0xffffffff - (W - 2), seq(4, 0xffffffff-(W-2))},
		{"B/Tl 0, left of window", 5, 0, 0xffffffff - (W - 1), seq(5, 0xffffffff-(W-1))},
		// Subspace 0 has no predecessor.
		{"B/Th 0: no subspace -1", 0, 10, 0xffffffff, seq(0, 0xffffffff)},
		{"fresh window", 0, 0, 1, 1},
		{"fresh window, low max", 0, 0, 0xffffffff, 0xffffffff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := at(tt.th, tt.tl).InferESN(tt.low); got != tt.want {
				t.Errorf("Th=%#x Tl=%#x InferESN(%#x) = %#x, want %#x", tt.th, tt.tl, tt.low, got, tt.want)
			}
		})
	}
}

// TestInferESNProperty checks the guarantee behind Appendix A: every sequence
// number from the left edge of the window up to 2^32-1 beyond it is recovered
// exactly from its low 32 bits.
func TestInferESNProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{64, 128, 1024, 4096, 65536} {
		w := newWindow(size)
		W := uint64(w.Size())
		for range 20000 {
			var top uint64
			switch rng.IntN(4) {
			case 0: // near a subspace boundary
				top = uint64(1+rng.Uint32N(1<<20))<<32 + uint64(rng.IntN(2*int(W))) - W
			case 1: // subspace 0
				top = uint64(rng.Uint32())
			default:
				top = rng.Uint64N(1<<63) + W
			}
			w.highest = top
			d := rng.Uint64N(1 << 32)
			if rng.IntN(2) == 0 {
				d = rng.Uint64N(2 * W) // mostly in the window
			}
			s := top - (W - 1) + d
			if top < W-1 && d < W-1-top {
				continue // left of sequence number 0: not a valid number
			}
			if got := w.InferESN(uint32(s)); got != s {
				t.Fatalf("W=%d T=%#x: InferESN(%#x) = %#x, want %#x", W, top, uint32(s), got, s)
			}
		}
	}
}

func BenchmarkInOrder(b *testing.B) {
	w := newWindow(128)
	b.ReportAllocs()
	for i := range b.N {
		seq := uint64(i) + 1
		if !w.Check(seq) || !w.Update(seq) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkReordered(b *testing.B) {
	w := newWindow(1024)
	b.ReportAllocs()
	for i := range b.N {
		// Pairs swapped: 2,1,4,3,...
		seq := uint64(i) + 1
		seq ^= 1
		seq++
		w.Check(seq)
		w.Update(seq)
	}
}

func BenchmarkInferESN(b *testing.B) {
	w := newWindow(128)
	w.highest = 7<<32 | 100
	var sink uint64
	for i := range b.N {
		sink += w.InferESN(uint32(i))
	}
	_ = sink
}

// TestWindowSizes checks the window's edges at the sizes a peer may
// configure, from RFC 4303's minimum of 32 up to 4096 and beyond: after
// highest is seen, highest-size+1 is still inside and highest-size is too
// old (sizes are rounded up to 64).
func TestWindowSizes(t *testing.T) {
	for _, size := range []int{32, 64, 100, 128, 512, 1024, 2048, 4096, 8192, 65536} {
		w := newWindow(size)
		n := uint64(w.Size())
		if n < uint64(size) || n%64 != 0 {
			t.Fatalf("Init(%d).Size() = %d", size, n)
		}
		const base = 1<<32 + 12345 // across a 32-bit boundary, too
		for _, highest := range []uint64{n + 7, base} {
			w.Reset()
			if !accept(w, highest) {
				t.Fatalf("size %d: %d rejected", size, highest)
			}
			if !w.Check(highest-n+1) || w.Check(highest-n) {
				t.Errorf("size %d (%d): edges wrong at highest %d", size, n, highest)
			}
			for s := highest - n + 1; s < highest; s++ {
				if !accept(w, s) {
					t.Fatalf("size %d: %d in the window rejected", size, s)
				}
			}
			for s := highest - n + 1; s <= highest; s++ {
				if w.Check(s) {
					t.Fatalf("size %d: %d accepted twice", size, s)
				}
			}
		}
	}
}
