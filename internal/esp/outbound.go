package esp

import (
	crand "crypto/rand"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/suite"
)

// Outbound is the sending half of an ESP SA (RFC 4303 3.3). Seal is safe
// for concurrent use: sequence numbers are assigned atomically. A pipeline
// that assigns numbers serially and encrypts in parallel uses NextSeq and
// SealSeq instead.
type Outbound struct {
	spi      uint32
	esn      bool
	maxSeq   uint64 // last usable sequence number
	ivLen    int
	icvLen   int
	align    int
	randomIV bool
	xf       atomic.Pointer[transform] // nil after Zero
	seq      atomic.Uint64             // last sequence number handed out
	tfc      atomic.Int32              // TFC padding target (SetTFCPadding)

	// ivRand makes the unpredictable IVs of CBC (RFC 3602 3): a per-SA
	// ChaCha8 CSPRNG seeded from crypto/rand, so that an IV costs neither
	// a system call nor an allocation. nil unless randomIV.
	ivMu   sync.Mutex
	ivRand *rand.ChaCha8
}

// transform holds the SA's ESPTransform behind one pointer, so that Zero
// can drop it atomically.
type transform struct{ t suite.ESPTransform }

// NewOutbound returns the outbound SA with the peer's spi, an AEAD and
// 32-bit sequence numbers: the first packet carries 1 and 2^32-1 is the
// last (RFC 4303 3.3.3).
func NewOutbound(spi uint32, aead *suite.AEAD) *Outbound {
	return NewOutboundTransform(spi, suite.AEADTransform(aead), false)
}

// NewOutboundESN returns the outbound SA with an AEAD and Extended Sequence
// Numbers (RFC 4303 2.2.1): 64-bit counters of which the low 32 bits are
// sent and all 64 are authenticated (RFC 4106 5, RFC 7634 2.1).
func NewOutboundESN(spi uint32, aead *suite.AEAD) *Outbound {
	return NewOutboundTransform(spi, suite.AEADTransform(aead), true)
}

// NewOutboundTransform returns the outbound SA with the peer's spi for any
// ESP transform (suite.NewESPTransform), with Extended Sequence Numbers
// (RFC 4303 2.2.1) if esn is set.
func NewOutboundTransform(spi uint32, t suite.ESPTransform, esn bool) *Outbound {
	o := &Outbound{
		spi:    spi,
		esn:    esn,
		maxSeq: math.MaxUint32,
		ivLen:  t.IVLen(),
		icvLen: t.ICVLen(),
		align:  alignment(t.BlockSize()),
		// The sequence number fills an IV of 8 octets or more; a
		// shorter one (no implemented transform has one) is random.
		randomIV: t.RandomIV() || (t.IVLen() > 0 && t.IVLen() < 8),
	}
	if esn {
		o.maxSeq = math.MaxUint64
	}
	if o.randomIV {
		var seed [32]byte
		crand.Read(seed[:])
		o.ivRand = rand.NewChaCha8(seed)
		clear(seed[:])
	}
	o.xf.Store(&transform{t})
	return o
}

// SPI returns the SA's SPI (the one the peer chose, RFC 4301 4.1).
func (o *Outbound) SPI() uint32 { return o.spi }

// ESN reports whether the SA uses Extended Sequence Numbers.
func (o *Outbound) ESN() bool { return o.esn }

// LastSeq returns the last sequence number handed out (0 if none), for
// lifetime and rekey decisions.
func (o *Outbound) LastSeq() uint64 { return o.seq.Load() }

// PayloadOffset returns where the payload must sit in Seal's buffer:
// after the header and the IV.
func (o *Outbound) PayloadOffset() int { return HeaderLen + o.ivLen }

// Overhead returns the sealed length minus the payload length payloadLen
// (>= 0): header, IV, TFC padding (for an IP payload, when configured),
// padding to the transform's block size, trailer and ICV.
func (o *Outbound) Overhead(payloadLen int) int {
	tfc := o.tfcPad(payloadLen)
	return HeaderLen + o.ivLen + tfc + padLen(payloadLen+tfc, o.align) + trailerLen + o.icvLen
}

// MaxOverhead returns the largest Overhead for any payload length (the
// padding at its worst, block size - 1, and all of the TFC padding), for
// sizing buffers up front.
func (o *Outbound) MaxOverhead() int {
	return HeaderLen + o.ivLen + int(o.tfc.Load()) + o.align - 1 + trailerLen + o.icvLen
}

// SetTFCPadding makes Seal pad tunnel-mode payloads (next header IPv4 or
// IPv6, whose length the receiver learns from the inner header) with
// zeros up to n octets, to hide their length (traffic flow
// confidentiality, RFC 4303 2.4, 2.7); 0 turns it off. Longer payloads
// are not padded. n is capped at 65535. Safe to call at any time; buffers
// sized with an earlier MaxOverhead may then be too small.
func (o *Outbound) SetTFCPadding(n int) { o.tfc.Store(int32(min(max(n, 0), 0xffff))) }

// TFCPadding returns the length SetTFCPadding pads to, 0 if none.
func (o *Outbound) TFCPadding() int { return int(o.tfc.Load()) }

// tfcPad returns the TFC padding for an IP payload of n octets.
func (o *Outbound) tfcPad(n int) int { return max(int(o.tfc.Load())-n, 0) }

// NextSeq reserves the next sequence number, or returns ErrSeqExhausted
// once the last one was used (RFC 4303 3.3.3: the counter never cycles;
// the SA must be rekeyed before).
func (o *Outbound) NextSeq() (uint64, error) {
	for {
		cur := o.seq.Load()
		if cur >= o.maxSeq {
			return 0, ErrSeqExhausted
		}
		if o.seq.CompareAndSwap(cur, cur+1) {
			return cur + 1, nil
		}
	}
}

// Seal encrypts, in place, the payload of length n already at
// buf[PayloadOffset():PayloadOffset()+n], writing the header and IV before
// it and padding, pad length, next header and ICV after it (RFC 4303 2).
// buf must have capacity for n+Overhead(n). It returns the whole ESP packet,
// buf[:n+Overhead(n)].
//
// For the counter-based transforms (GCM, CCM, GMAC, CTR, ChaCha20) the IV
// is the 64-bit sequence number, big-endian, unique per key as RFC 4106
// 3.1, RFC 3686 3.1 and RFC 7634 2 require; for CBC it is unpredictable
// (RFC 3602 3), from the SA's CSPRNG.
func (o *Outbound) Seal(buf []byte, n int, nextHeader uint8) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.seal(buf, n, nextHeader, seq, nil)
}

// SealSeq is Seal with a sequence number from NextSeq. Each number must be
// sealed at most once: for the counter-based transforms a repeated number
// repeats the nonce.
func (o *Outbound) SealSeq(buf []byte, n int, nextHeader uint8, seq uint64) ([]byte, error) {
	return o.seal(buf, n, nextHeader, seq, nil)
}

// seal does the work of Seal. iv is nil except in tests reproducing
// published vectors or other implementations' packets.
func (o *Outbound) seal(buf []byte, n int, nextHeader uint8, seq uint64, iv []byte) ([]byte, error) {
	x := o.xf.Load()
	if x == nil {
		return nil, ErrClosed
	}
	if n < 0 || n > cap(buf) {
		return nil, ErrBufferTooSmall
	}
	off := HeaderLen + o.ivLen
	if nextHeader == NextHeaderIPv4 || nextHeader == NextHeaderIPv6 {
		if tfc := o.tfcPad(n); tfc > 0 {
			if cap(buf) < off+n+tfc {
				return nil, ErrBufferTooSmall
			}
			clear(buf[off+n : off+n+tfc])
			n += tfc
		}
	}
	pad := padLen(n, o.align)
	ptLen := n + pad + trailerLen
	total := off + ptLen + o.icvLen
	if cap(buf) < total {
		return nil, ErrBufferTooSmall
	}
	buf = buf[:total]

	binary.BigEndian.PutUint32(buf[0:], o.spi)
	binary.BigEndian.PutUint32(buf[4:], uint32(seq))
	ivb := buf[HeaderLen:off]
	switch {
	case iv != nil:
		copy(ivb, iv)
	case o.randomIV:
		o.ivMu.Lock()
		o.ivRand.Read(ivb)
		o.ivMu.Unlock()
	case o.ivLen > 0:
		clear(ivb)
		binary.BigEndian.PutUint64(ivb[o.ivLen-8:], seq)
	}
	// Self-describing padding 1, 2, 3, ... (RFC 4303 2.4), then the
	// trailer.
	trailer := buf[off+n : off+ptLen]
	for i := range pad {
		trailer[i] = byte(i + 1)
	}
	trailer[pad] = byte(pad)
	trailer[pad+1] = nextHeader

	var hi suite.SeqHigh
	if o.esn {
		hi = suite.ESN(seq)
	}
	pt := buf[off : off+ptLen]
	x.t.Seal(pt[:0], buf[:HeaderLen], ivb, pt, hi)
	return buf, nil
}

// Zero drops the reference to the key (best effort: the cipher's key
// schedule is released to the garbage collector). Later Seal calls return
// ErrClosed.
func (o *Outbound) Zero() { o.xf.Store(nil) }
