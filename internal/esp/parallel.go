package esp

import (
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Open split in three for a data plane that decrypts in parallel (RFC 4303
// 3.4.3 still holds: pre-check before the ICV, window update after it):
//
//	Prepare  serial per SA: length checks, SPI, ESN inference, pre-check
//	Decrypt  any goroutine: ICV check, decryption, padding check
//	Accept   serial per SA, in any order of sequence numbers: window update
//
// Prepare and Accept touch the replay window and must not run concurrently
// with each other or with Open; Decrypt touches nothing shared. A packet
// Prepare accepted may still be refused by Accept (a duplicate that was in
// flight twice).

// Prepare is the first, serial, step of a split Open: it returns the
// packet's full sequence number (ESN inferred from the window, RFC 4303
// Appendix A2.2) if the packet may be authentic and is not a replay.
func (in *Inbound) Prepare(pkt []byte) (seq uint64, err error) {
	if in.xf.Load() == nil {
		return 0, ErrClosed
	}
	off := HeaderLen + in.ivLen
	if len(pkt) < off+trailerLen+in.icvLen {
		in.stats.malformed.Add(1)
		return 0, ErrMalformed
	}
	if in.block > 4 && (len(pkt)-off-in.icvLen)%in.block != 0 {
		in.stats.malformed.Add(1)
		return 0, ErrMalformed
	}
	e, err := packet.ParseESP(pkt)
	if err != nil {
		in.stats.malformed.Add(1)
		return 0, ErrMalformed
	}
	if e.SPI() != in.spi {
		in.stats.wrongSPI.Add(1)
		return 0, ErrWrongSPI
	}
	seq = uint64(e.Seq())
	if in.esn {
		seq = in.window.InferESN(e.Seq())
	}
	if !in.noReplay && !in.window.Check(seq) {
		in.stats.replay.Add(1)
		return 0, ErrReplay
	}
	return seq, nil
}

// Decrypt is the parallel step of a split Open: it verifies the ICV of a
// packet Prepare returned seq for and decrypts it in place, then checks the
// padding (RFC 4303 2.4). It is safe for concurrent use and does not touch
// the replay window: call Accept with seq afterwards.
func (in *Inbound) Decrypt(pkt []byte, seq uint64) (payload []byte, nextHeader uint8, err error) {
	x := in.xf.Load()
	if x == nil {
		return nil, 0, ErrClosed
	}
	off := HeaderLen + in.ivLen
	if len(pkt) < off+trailerLen+in.icvLen {
		in.stats.malformed.Add(1)
		return nil, 0, ErrMalformed
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
	return in.stripTrailer(pt)
}

// Accept is the last, serial, step of a split Open: it records seq in the
// replay window once Decrypt verified the packet (RFC 4303 3.4.3: only
// authentic packets move the window). ErrReplay means another copy of the
// packet was accepted first: drop this one.
// With the check disabled (ReplayDisabled) it accepts everything.
func (in *Inbound) Accept(seq uint64) error {
	if !in.noReplay && !in.window.Update(seq) {
		in.stats.replay.Add(1)
		return ErrReplay
	}
	return nil
}
