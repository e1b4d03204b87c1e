package esp

import (
	"encoding/binary"
	"math"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/suite"
)

// Outbound is the sending half of an ESP SA (RFC 4303 3.3). Seal is safe
// for concurrent use: sequence numbers are assigned atomically. A pipeline
// that assigns numbers serially and encrypts in parallel uses NextSeq and
// SealSeq instead.
type Outbound struct {
	spi    uint32
	esn    bool
	maxSeq uint64 // last usable sequence number
	ivLen  int
	icvLen int
	align  int
	aead   atomic.Pointer[suite.AEAD] // nil after Zero
	seq    atomic.Uint64              // last sequence number handed out
}

// NewOutbound returns the outbound SA with the peer's spi and 32-bit
// sequence numbers: the first packet carries 1 and 2^32-1 is the last
// (RFC 4303 3.3.3).
func NewOutbound(spi uint32, aead *suite.AEAD) *Outbound {
	return newOutbound(spi, aead, false)
}

// NewOutboundESN returns the outbound SA with Extended Sequence Numbers
// (RFC 4303 2.2.1): 64-bit counters of which the low 32 bits are sent and
// all 64 are authenticated (RFC 4106 5, RFC 7634 2.1).
func NewOutboundESN(spi uint32, aead *suite.AEAD) *Outbound {
	return newOutbound(spi, aead, true)
}

func newOutbound(spi uint32, aead *suite.AEAD, esn bool) *Outbound {
	o := &Outbound{
		spi:    spi,
		esn:    esn,
		maxSeq: math.MaxUint32,
		ivLen:  aead.IVLen(),
		icvLen: aead.ICVLen(),
		align:  alignment(aead.BlockSize()),
	}
	if esn {
		o.maxSeq = math.MaxUint64
	}
	o.aead.Store(aead)
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
// (>= 0): header, IV, padding, trailer and ICV.
func (o *Outbound) Overhead(payloadLen int) int {
	return HeaderLen + o.ivLen + padLen(payloadLen, o.align) + trailerLen + o.icvLen
}

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
// buf[:n+Overhead(n)]. The IV is the 64-bit sequence number, big-endian,
// unique per key as RFC 4106 3.1 and RFC 7634 2 require.
func (o *Outbound) Seal(buf []byte, n int, nextHeader uint8) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.seal(buf, n, nextHeader, seq, nil)
}

// SealSeq is Seal with a sequence number from NextSeq. Each number must be
// sealed at most once: a repeated number repeats the AEAD nonce.
func (o *Outbound) SealSeq(buf []byte, n int, nextHeader uint8, seq uint64) ([]byte, error) {
	return o.seal(buf, n, nextHeader, seq, nil)
}

// seal does the work of Seal. iv is nil except in tests reproducing
// published vectors whose IVs are not sequence numbers.
func (o *Outbound) seal(buf []byte, n int, nextHeader uint8, seq uint64, iv []byte) ([]byte, error) {
	a := o.aead.Load()
	if a == nil {
		return nil, ErrClosed
	}
	if n < 0 || n > cap(buf) {
		return nil, ErrBufferTooSmall
	}
	off := HeaderLen + o.ivLen
	pad := padLen(n, o.align)
	ptLen := n + pad + trailerLen
	total := off + ptLen + o.icvLen
	if cap(buf) < total {
		return nil, ErrBufferTooSmall
	}
	buf = buf[:total]

	binary.BigEndian.PutUint32(buf[0:], o.spi)
	binary.BigEndian.PutUint32(buf[4:], uint32(seq))
	if iv == nil {
		binary.BigEndian.PutUint64(buf[HeaderLen:], seq)
	} else {
		copy(buf[HeaderLen:off], iv)
	}
	// Self-describing padding 1, 2, 3, ... (RFC 4303 2.4), then the
	// trailer.
	trailer := buf[off+n : off+ptLen]
	for i := range pad {
		trailer[i] = byte(i + 1)
	}
	trailer[pad] = byte(pad)
	trailer[pad+1] = nextHeader

	// AAD (RFC 4106 5, RFC 7634 2.1): SPI || Seq, or with ESN SPI ||
	// SeqHigh || SeqLow. For ESN the header bytes 4..16 are rewritten to
	// SPI || IV, which is that AAD when the IV is the sequence number, so
	// no per-packet scratch is needed; the sequence number is put back
	// afterwards.
	aad := buf[:HeaderLen]
	if o.esn {
		if iv == nil && o.ivLen == 8 {
			binary.BigEndian.PutUint32(buf[4:], o.spi)
			aad = buf[4:off]
		} else {
			aad = make([]byte, 12) // test-only path
			binary.BigEndian.PutUint32(aad, o.spi)
			binary.BigEndian.PutUint64(aad[4:], seq)
		}
	}
	ivb := buf[HeaderLen:off]
	pt := buf[off : off+ptLen]
	a.Seal(pt[:0], ivb, pt, aad)
	binary.BigEndian.PutUint32(buf[4:], uint32(seq))
	return buf, nil
}

// Zero drops the reference to the key (best effort: the cipher's key
// schedule is released to the garbage collector). Later Seal calls return
// ErrClosed.
func (o *Outbound) Zero() { o.aead.Store(nil) }
