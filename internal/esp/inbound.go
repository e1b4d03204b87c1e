package esp

import (
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/replay"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Inbound is the receiving half of an ESP SA (RFC 4303 3.4). Open is not
// safe for concurrent use (the caller serialises per SA); Stats and Zero
// may be called from any goroutine.
type Inbound struct {
	spi    uint32
	esn    bool
	ivLen  int
	icvLen int
	block  int // the transform's block size (>= 4)
	// noReplay: the anti-replay check is disabled (ReplayDisabled).
	noReplay bool
	xf       atomic.Pointer[transform] // nil after Zero
	window   replay.Window
	stats    struct {
		replay, auth, padding, malformed atomic.Uint64
		fragment, ecn, wrongSPI          atomic.Uint64
	}
}

// Stats counts the packets Open dropped, by reason.
type Stats struct {
	Replay    uint64 // sequence number 0, too old or seen (ErrReplay)
	Auth      uint64 // ICV did not verify (ErrAuth)
	Padding   uint64 // inconsistent padding (ErrPadding)
	Malformed uint64 // too short or inconsistent (ErrMalformed)
	WrongSPI  uint64 // another SA's packet (ErrWrongSPI)
	Fragment  uint64 // OpenTransport/OpenTunnel: an IP fragment (ErrFragment)
	ECN       uint64 // OpenTunnel: outer CE, inner not-ECT (ErrECNDrop)
}

// NewInbound returns the inbound SA for our spi with an AEAD, 32-bit
// sequence numbers and an anti-replay window of replayWindow packets
// (rounded as replay.Window.Init does; 0 selects its default).
func NewInbound(spi uint32, aead *suite.AEAD, replayWindow int) *Inbound {
	return NewInboundTransform(spi, suite.AEADTransform(aead), replayWindow, false)
}

// NewInboundESN is NewInbound for an SA with Extended Sequence Numbers
// (RFC 4303 2.2.1): the high 32 bits are inferred from the window
// (RFC 4303 Appendix A2.2) and authenticated.
func NewInboundESN(spi uint32, aead *suite.AEAD, replayWindow int) *Inbound {
	return NewInboundTransform(spi, suite.AEADTransform(aead), replayWindow, true)
}

// NewInboundTransform returns the inbound SA for our spi for any ESP
// transform (suite.NewESPTransform), with an anti-replay window of
// replayWindow packets (as for NewInbound; ReplayDisabled turns the check
// off) and Extended Sequence Numbers if esn is set (as for NewInboundESN).
// ESN needs the window to infer the high-order bits, so esn with
// ReplayDisabled panics.
func NewInboundTransform(spi uint32, t suite.ESPTransform, replayWindow int, esn bool) *Inbound {
	in := &Inbound{
		spi:    spi,
		esn:    esn,
		ivLen:  t.IVLen(),
		icvLen: t.ICVLen(),
		block:  alignment(t.BlockSize()),
	}
	in.noReplay = initWindow(&in.window, replayWindow, esn)
	in.xf.Store(&transform{t})
	return in
}

// SPI returns the SA's SPI (the one we chose).
func (in *Inbound) SPI() uint32 { return in.spi }

// ESN reports whether the SA uses Extended Sequence Numbers.
func (in *Inbound) ESN() bool { return in.esn }

// ReplayWindow returns the anti-replay window size in packets, 0 if the
// check is disabled.
func (in *Inbound) ReplayWindow() int {
	if in.noReplay {
		return 0
	}
	return in.window.Size()
}

// HighestSeq returns the highest sequence number received so far.
func (in *Inbound) HighestSeq() uint64 { return in.window.Highest() }

// Stats returns the drop counters.
func (in *Inbound) Stats() Stats {
	return Stats{
		Replay:    in.stats.replay.Load(),
		Auth:      in.stats.auth.Load(),
		Padding:   in.stats.padding.Load(),
		Malformed: in.stats.malformed.Load(),
		WrongSPI:  in.stats.wrongSPI.Load(),
		Fragment:  in.stats.fragment.Load(),
		ECN:       in.stats.ecn.Load(),
	}
}

// Open verifies and decrypts pkt, which starts at the SPI, in place
// (RFC 4303 3.4): the anti-replay pre-check, then the ICV, then the window
// update (only authentic packets move the window, RFC 4303 3.4.3), then the
// padding check (RFC 4303 2.4). It returns the payload, a sub-slice of pkt,
// and the next header. On error pkt's contents are unspecified.
func (in *Inbound) Open(pkt []byte) (payload []byte, nextHeader uint8, err error) {
	x := in.xf.Load()
	if x == nil {
		return nil, 0, ErrClosed
	}
	off := HeaderLen + in.ivLen
	if len(pkt) < off+trailerLen+in.icvLen {
		in.stats.malformed.Add(1)
		return nil, 0, ErrMalformed
	}
	// A block cipher (CBC) cannot decrypt a partial block. Misalignment
	// to 4 octets only (RFC 4303 2.4) is left to the ICV, which covers
	// the length.
	if in.block > 4 && (len(pkt)-off-in.icvLen)%in.block != 0 {
		in.stats.malformed.Add(1)
		return nil, 0, ErrMalformed
	}
	e, err := packet.ParseESP(pkt)
	if err != nil { // unreachable after the length check
		in.stats.malformed.Add(1)
		return nil, 0, ErrMalformed
	}
	if e.SPI() != in.spi {
		in.stats.wrongSPI.Add(1)
		return nil, 0, ErrWrongSPI
	}
	seq := uint64(e.Seq())
	if in.esn {
		seq = in.window.InferESN(e.Seq())
	}
	if !in.noReplay && !in.window.Check(seq) {
		in.stats.replay.Add(1)
		return nil, 0, ErrReplay
	}

	var hi suite.SeqHigh
	if in.esn {
		hi = suite.ESN(seq)
	}
	ct := pkt[off:]
	pt, err := x.t.Open(ct[:0], pkt[:HeaderLen], pkt[HeaderLen:off], ct, hi)
	if err != nil {
		in.stats.auth.Add(1)
		return nil, 0, ErrAuth
	}
	if !in.noReplay && !in.window.Update(seq) {
		in.stats.replay.Add(1)
		return nil, 0, ErrReplay
	}

	// pt holds at least the trailer: the length check above.
	return in.stripTrailer(pt)
}

// stripTrailer removes the ESP trailer from a verified plaintext (RFC
// 4303 2.4-2.6): it returns the payload and Next Header after checking
// that the padding is the monotonic 1, 2, 3, ... of 2.4 (counted and
// refused otherwise). pt holds at least the trailer.
func (in *Inbound) stripTrailer(pt []byte) (payload []byte, nextHeader uint8, err error) {
	nextHeader = pt[len(pt)-1]
	pad := int(pt[len(pt)-2])
	n := len(pt) - trailerLen - pad
	if n < 0 {
		in.stats.padding.Add(1)
		return nil, 0, ErrPadding
	}
	for i, b := range pt[n : n+pad] {
		if b != byte(i+1) {
			in.stats.padding.Add(1)
			return nil, 0, ErrPadding
		}
	}
	return pt[:n], nextHeader, nil
}

// Zero drops the reference to the key (best effort: the cipher's key
// schedule is released to the garbage collector). Later Open calls return
// ErrClosed.
func (in *Inbound) Zero() { in.xf.Store(nil) }
