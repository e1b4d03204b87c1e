package esp

import (
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/replay"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// AHInbound is the receiving half of an AH SA (RFC 4302 3.4). Its Open
// methods are not safe for concurrent use (the caller serialises per SA);
// Stats and Zero may be called from any goroutine.
type AHInbound struct {
	spi      uint32
	esn      bool
	noReplay bool
	integ    atomic.Pointer[suite.Integ] // nil after Zero
	window   replay.Window
	stats    struct {
		replay, auth, malformed, wrongSPI, fragment, ecn atomic.Uint64
	}
}

// AHStats counts the packets an AHInbound dropped, by reason.
type AHStats struct {
	Replay    uint64 // sequence number 0, too old or seen (ErrReplay)
	Auth      uint64 // ICV did not verify (ErrAuth)
	Malformed uint64 // truncated or inconsistent headers, wrong AH length (ErrMalformed)
	WrongSPI  uint64 // another SA's packet (ErrWrongSPI)
	Fragment  uint64 // an unreassembled fragment (ErrFragment)
	ECN       uint64 // outer CE on a not-ECT inner packet (ErrECNDrop)
}

// NewAHInbound returns the inbound AH SA for our spi with the integrity
// algorithm integ (suite.NewAHInteg), an anti-replay window of
// replayWindow packets (as replay.Window.Init rounds it; 0 selects its
// default, ReplayDisabled turns the check off) and Extended Sequence
// Numbers if esn is set. ESN needs the window to infer the high-order
// bits (RFC 4302 2.5.1), so esn with ReplayDisabled panics.
func NewAHInbound(spi uint32, integ *suite.Integ, replayWindow int, esn bool) *AHInbound {
	in := &AHInbound{spi: spi, esn: esn}
	in.noReplay = initWindow(&in.window, replayWindow, esn)
	in.integ.Store(integ)
	return in
}

// SPI returns the SA's SPI (the one we chose).
func (in *AHInbound) SPI() uint32 { return in.spi }

// ESN reports whether the SA uses Extended Sequence Numbers.
func (in *AHInbound) ESN() bool { return in.esn }

// ReplayWindow returns the anti-replay window size in packets, 0 if the
// check is disabled.
func (in *AHInbound) ReplayWindow() int {
	if in.noReplay {
		return 0
	}
	return in.window.Size()
}

// Stats returns the drop counters.
func (in *AHInbound) Stats() AHStats {
	return AHStats{
		Replay:    in.stats.replay.Load(),
		Auth:      in.stats.auth.Load(),
		Malformed: in.stats.malformed.Load(),
		WrongSPI:  in.stats.wrongSPI.Load(),
		Fragment:  in.stats.fragment.Load(),
		ECN:       in.stats.ecn.Load(),
	}
}

// count records a drop and returns err.
func (in *AHInbound) count(err error) error {
	switch err {
	case ErrReplay:
		in.stats.replay.Add(1)
	case ErrAuth:
		in.stats.auth.Add(1)
	case ErrWrongSPI:
		in.stats.wrongSPI.Add(1)
	case ErrFragment:
		in.stats.fragment.Add(1)
	case ErrECNDrop:
		in.stats.ecn.Add(1)
	case ErrClosed:
	default:
		in.stats.malformed.Add(1)
	}
	return err
}

// ahPacket is where verify found AH in a packet.
type ahPacket struct {
	ip    []byte // the IP packet, trimmed to its length field
	ahOff int    // AH follows the header chain ip[:ahOff]
	ahLen int
	nhOff int   // the Next Header / Protocol octet that says AH
	nh    uint8 // AH's next header
	ipv6  bool
}

// verify finds AH in the IP packet pkt and authenticates the packet (RFC
// 4302 3.4): the SPI, the anti-replay pre-check, the ICV, then the window
// update. The packet's bytes are unchanged.
func (in *AHInbound) verify(pkt []byte) (ahPacket, error) {
	var a ahPacket
	integ := in.integ.Load()
	if integ == nil {
		return a, ErrClosed
	}
	ip, off, nhOff, err := findIPsec(pkt, packet.ProtoAH)
	if err != nil {
		return a, err
	}
	a = ahPacket{ip: ip, ahOff: off, nhOff: nhOff, ipv6: ip[0]>>4 == 6}
	if a.ahOff > maxHeaderChain {
		return a, ErrMalformed
	}
	h, err := packet.ParseAH(a.ip[a.ahOff:])
	if err != nil {
		return a, ErrMalformed
	}
	icvLen, ivLen := integ.ICVLen(), integ.IVLen()
	// The ICV length is the SA's (RFC 4302 2.6), after the IV of
	// AES-GMAC (RFC 4543 4), and the padding what the IP version
	// requires.
	if h.Len() != packet.AHLen(ivLen+icvLen, a.ipv6) {
		return a, ErrMalformed
	}
	if h.SPI() != in.spi {
		return a, ErrWrongSPI
	}
	a.ahLen, a.nh = h.Len(), h.NextHeader()
	seq := uint64(h.Seq())
	if !in.noReplay {
		if in.esn {
			seq = in.window.InferESN(h.Seq())
		}
		if !in.window.Check(seq) {
			return a, ErrReplay
		}
	}

	// Take the ICV out and zero its field for the computation (RFC 4302
	// 3.3.3.1); the ICV padding counts as sent (RFC 4302 2.6), and so
	// does an IV (RFC 4543 4: it is an input of the algorithm). The ICV
	// goes back afterwards, so the packet's bytes are unchanged.
	var icv [64]byte
	field := h.ICV()[ivLen : ivLen+icvLen]
	copy(icv[:], field)
	clear(field)
	ok, err := ahICV(integ, a.ip, a.ahOff, false, seqHigh(in.esn, seq), icv[:icvLen])
	copy(field, icv[:icvLen])
	if err != nil {
		return a, err
	}
	if !ok {
		return a, ErrAuth
	}
	if !in.noReplay && !in.window.Update(seq) {
		return a, ErrReplay
	}
	return a, nil
}

// OpenTransport verifies the transport-mode AH packet pkt, an IP packet
// with AH after its header chain, and removes AH in place (RFC 4302 3.4):
// the header chain moves forward over AH and gets back AH's next header,
// length and checksum. It returns the packet, a sub-slice of pkt ending
// where the IP length field says the packet ends.
func (in *AHInbound) OpenTransport(pkt []byte) ([]byte, error) {
	a, err := in.verify(pkt)
	if err != nil {
		return nil, in.count(err)
	}
	out := a.ip[a.ahLen:]
	copy(out[:a.ahOff], a.ip[:a.ahOff])
	out[a.nhOff] = a.nh
	if err := setIPLength(out); err != nil {
		return nil, in.count(err)
	}
	if !a.ipv6 {
		packet.IPv4(out).UpdateChecksum()
	}
	return out, nil
}

// OpenTunnel verifies the tunnel-mode AH packet pkt (outer IP header, AH,
// inner IP packet) and returns the inner packet, a sub-slice of pkt, with
// the outer ECN field combined into it (RFC 6040 4.2). The next header
// must be IPv4 or IPv6 and the inner packet well-formed.
func (in *AHInbound) OpenTunnel(pkt []byte) ([]byte, error) {
	a, err := in.verify(pkt)
	if err != nil {
		return nil, in.count(err)
	}
	inner := a.ip[a.ahOff+a.ahLen:]
	nh, _, _, err := innerInfo(inner)
	if err != nil || nh != a.nh {
		return nil, in.count(ErrMalformed)
	}
	if err := Decapsulate(outerTOS(a.ip), inner); err != nil {
		return nil, in.count(err)
	}
	return inner, nil
}

// Zero drops the reference to the key; later calls return ErrClosed.
func (in *AHInbound) Zero() { in.integ.Store(nil) }
