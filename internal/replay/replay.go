// Package replay implements the ESP/AH anti-replay window of RFC 4303
// section 3.4.3 (and RFC 4302 section 3.4.3) as the bitmap ring of RFC 6479,
// over 64-bit sequence numbers so that Extended Sequence Numbers (RFC 4303
// section 2.2.1 and Appendix A) work unchanged.
//
// The receiver checks a packet twice (RFC 4303 3.4.3): Check before the ICV
// is verified, so forged or replayed packets are dropped cheaply, and Update
// after it, so that only authentic packets move the window.
package replay

import "math/bits"

const (
	blockBits = 64 // bits per bitmap word
	blockLog  = 6  // log2(blockBits)

	// DefaultSize is the window size used when Init is given 0. strongSwan
	// and Linux default to 32..128; 128 absorbs the reordering of a parallel
	// data plane.
	DefaultSize = 128
	// MinSize and MaxSize bound the window (in packets). MinSize is the
	// smallest window RFC 4303 3.4.3 allows (32); like every size it is
	// rounded up to a multiple of the 64-bit bitmap block, so a window of
	// 32 tracks 64 packets. A receiver may always keep a larger window
	// than negotiated: it only accepts more reordering.
	MinSize = 32
	MaxSize = 65536
)

// Window is an RFC 6479-style anti-replay window (RFC 4303 3.4.3) over
// 64-bit sequence numbers. Sequence numbers in (highest-size, highest] are
// tracked in a bitmap; anything at or below highest-size is too old.
//
// The bitmap is a ring of 64-bit blocks with one block more than the window
// needs (RFC 6479 section 2), so that advancing the window only clears whole
// blocks and never shifts bits. The zero value is unusable: call Init.
//
// A Window is not safe for concurrent use; the caller serialises per SA.
type Window struct {
	highest uint64   // highest sequence number accepted so far (0: none)
	size    uint64   // window size in packets, a multiple of 64
	mask    uint64   // len(ring)-1; len(ring) is a power of two
	ring    []uint64 // bit (seq % 64) of block (seq/64) & mask marks seq as seen
}

// Init (re)initialises w for a window of size packets. The size is clamped
// to [MinSize, MaxSize] and rounded up to a multiple of 64; 0 selects
// DefaultSize. RFC 4303 3.4.3 requires at least 32 and recommends 64.
func (w *Window) Init(size int) {
	switch {
	case size == 0:
		size = DefaultSize
	case size < MinSize:
		size = MinSize
	case size > MaxSize:
		size = MaxSize
	}
	size = (size + blockBits - 1) &^ (blockBits - 1)
	// One spare block (RFC 6479 section 2), and a power of two so that the
	// block index is a mask rather than a division.
	n := 1 << bits.Len(uint(size/blockBits))
	*w = Window{
		size: uint64(size),
		mask: uint64(n - 1),
		ring: make([]uint64, n),
	}
}

// Reset forgets every sequence number seen, as if Init had just been called
// with the same size, without allocating.
func (w *Window) Reset() {
	w.highest = 0
	clear(w.ring)
}

// Size returns the window size in packets.
func (w *Window) Size() int { return int(w.size) }

// Highest returns the highest sequence number accepted by Update (0 if none).
func (w *Window) Highest() uint64 { return w.highest }

// Check reports whether a packet with sequence number seq may be accepted:
// seq is not 0 (never sent, RFC 4303 3.3.3), not older than the window and
// not already seen. It does not change the window (RFC 4303 3.4.3: the
// pre-check before the ICV is verified).
func (w *Window) Check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.highest {
		return true
	}
	if w.highest-seq >= w.size {
		return false // too old: left of the window
	}
	return w.ring[(seq>>blockLog)&w.mask]&(1<<(seq&(blockBits-1))) == 0
}

// Update marks seq as seen, sliding the window forward if seq is the new
// highest. Call it only after the ICV verified (RFC 4303 3.4.3). It returns
// false, and changes nothing, if seq would fail Check: a replay that raced
// another packet through decryption, or seq 0.
func (w *Window) Update(seq uint64) bool {
	if seq == 0 {
		return false
	}
	block := seq >> blockLog
	if seq > w.highest {
		// Clear the blocks the window slides into (RFC 6479 section 2.3);
		// a jump of a whole ring or more clears everything.
		cur := w.highest >> blockLog
		diff := block - cur
		if diff > w.mask {
			diff = w.mask + 1
		}
		for i := uint64(1); i <= diff; i++ {
			w.ring[(cur+i)&w.mask] = 0
		}
		w.highest = seq
	} else if w.highest-seq >= w.size {
		return false
	}
	idx := block & w.mask
	bit := uint64(1) << (seq & (blockBits - 1))
	if w.ring[idx]&bit != 0 {
		return false
	}
	w.ring[idx] |= bit
	return true
}

// InferESN returns the full 64-bit sequence number for a received packet
// whose header carries the low 32 bits low, following RFC 4303 Appendix
// A2.2: the high half is chosen so that the number falls inside or to the
// right of the window. Case A (Tl >= W-1, the window lies in one 2^32
// subspace): Seqh = Th if low >= Tl-W+1, else Th+1. Case B (Tl < W-1, the
// window straddles a subspace boundary): Seqh = Th-1 if low >= Tl-W+1
// (mod 2^32), else Th.
//
// Where the RFC's answer does not exist as a 64-bit number, InferESN picks
// the only candidate that can still verify: in subspace 0 (Th = 0, case B)
// there is no subspace -1, so low is taken as a jump ahead in subspace 0;
// past 2^64-1 (Th = 2^32-1, case A) it returns 0, which Check rejects.
//
// Before any packet has been accepted the window is [1-W, 0] in subspace 0,
// so InferESN(low) = low.
func (w *Window) InferESN(low uint32) uint64 {
	th := uint32(w.highest >> 32)
	tl := uint32(w.highest)
	wm1 := uint32(w.size - 1) // W-1; size <= 65536 fits
	bottom := tl - wm1        // Tl-(W-1), mod 2^32 in case B
	var seqh uint32
	if tl >= wm1 { // case A
		seqh = th
		if low < bottom {
			if th == ^uint32(0) {
				return 0 // sequence number space exhausted
			}
			seqh = th + 1
		}
	} else { // case B
		seqh = th
		if low >= bottom && th > 0 {
			seqh = th - 1
		}
	}
	return uint64(seqh)<<32 | uint64(low)
}
