package esp

import (
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// AHOutbound is the sending half of an AH SA (RFC 4302 3.3). Its methods
// are safe for concurrent use: sequence numbers are assigned atomically. A
// pipeline that numbers packets serially and seals them in parallel uses
// NextSeq and the *Seq methods.
type AHOutbound struct {
	spi   uint32
	esn   bool
	integ atomic.Pointer[suite.Integ] // nil after Zero
	seq   seqCounter
}

// NewAHOutbound returns the outbound AH SA with the peer's spi and the
// integrity algorithm integ (suite.NewAHInteg), with Extended Sequence
// Numbers (RFC 4302 2.5.1) if esn is set.
func NewAHOutbound(spi uint32, integ *suite.Integ, esn bool) *AHOutbound {
	o := &AHOutbound{spi: spi, esn: esn, seq: newSeqCounter(esn)}
	o.integ.Store(integ)
	return o
}

// SPI returns the SA's SPI (the one the peer chose).
func (o *AHOutbound) SPI() uint32 { return o.spi }

// ESN reports whether the SA uses Extended Sequence Numbers.
func (o *AHOutbound) ESN() bool { return o.esn }

// LastSeq returns the last sequence number handed out (0 if none).
func (o *AHOutbound) LastSeq() uint64 { return o.seq.seq.Load() }

// NextSeq reserves the next sequence number, or returns ErrSeqExhausted
// once the last one was used (RFC 4302 3.3.2: the counter never cycles).
func (o *AHOutbound) NextSeq() (uint64, error) { return o.seq.next() }

// HeaderLen returns the length of the AH header, ICV padding included
// (RFC 4302 2.6: 32-bit alignment for IPv4, 64-bit for IPv6): the
// headroom SealTransport needs, and, with the outer header, SealTunnel.
func (o *AHOutbound) HeaderLen(ipv6 bool) int {
	integ := o.integ.Load()
	if integ == nil {
		return packet.AHLen(32, ipv6)
	}
	return packet.AHLen(authDataLen(integ), ipv6)
}

// SealTransport inserts AH into the IP packet at buf[off:off+n] in
// transport mode (RFC 4302 3.1.1): after the IPv4 header, or after the
// IPv6 Hop-by-Hop, Routing and Fragment headers and any Destination
// Options header before a Routing header. The IP header chain moves
// HeaderLen octets towards the front of buf, so off must be at least
// that; the payload stays where it is. Length, protocol and checksum are
// fixed. It returns the sealed packet, buf[off-HeaderLen : off+n].
func (o *AHOutbound) SealTransport(buf []byte, off, n int) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.SealTransportSeq(buf, off, n, seq)
}

// SealTransportSeq is SealTransport with a sequence number from NextSeq.
func (o *AHOutbound) SealTransportSeq(buf []byte, off, n int, seq uint64) ([]byte, error) {
	integ := o.integ.Load()
	if integ == nil {
		return nil, ErrClosed
	}
	if off < 0 || n <= 0 || off+n > len(buf) {
		return nil, ErrBufferTooSmall
	}
	pkt := buf[off : off+n]
	var hl, nhOff int
	var proto uint8
	v6 := pkt[0]>>4 == 6
	switch pkt[0] >> 4 {
	case 4:
		p, err := packet.ParseIPv4(pkt)
		if err != nil || len(p) != n {
			return nil, ErrMalformed
		}
		if p.IsFragment() {
			return nil, ErrFragment
		}
		hl, nhOff, proto = p.HeaderLen(), 9, p.Protocol()
	case 6:
		p, err := packet.ParseIPv6(pkt)
		if err != nil || len(p) != n {
			return nil, ErrMalformed
		}
		c, err := packet.WalkIPv6(p, packet.ProtoNoNext)
		if err != nil {
			return nil, ErrMalformed
		}
		if c.Fragment {
			return nil, ErrFragment
		}
		hl, nhOff, proto = c.Off, c.NextHeaderOff, c.Proto
	default:
		return nil, ErrMalformed
	}
	ahLen := packet.AHLen(authDataLen(integ), v6)
	if off < ahLen {
		return nil, ErrBufferTooSmall
	}
	if hl > maxHeaderChain {
		return nil, ErrMalformed
	}
	start := off - ahLen
	out := buf[start : off+n]
	copy(out, pkt[:hl])
	packet.EncodeAH(out[hl:], ahLen, proto, o.spi, uint32(seq))
	putIV(out[hl:], integ, seq)
	out[nhOff] = packet.ProtoAH
	if err := setIPLength(out); err != nil {
		return nil, err
	}
	if _, err := ahICV(integ, out, hl, true, seqHigh(o.esn, seq), nil); err != nil {
		return nil, err
	}
	if !v6 {
		packet.IPv4(out).UpdateChecksum()
	}
	return out, nil
}

// setIPLength sets the length field of the IP header that starts pkt to
// len(pkt).
func setIPLength(pkt []byte) error {
	if pkt[0]>>4 == 4 {
		if len(pkt) > 0xffff {
			return ErrBufferTooSmall
		}
		packet.IPv4(pkt).SetTotalLen(len(pkt))
		return nil
	}
	if len(pkt)-packet.IPv6HeaderLen > 0xffff {
		return ErrBufferTooSmall
	}
	packet.IPv6(pkt).SetPayloadLen(len(pkt) - packet.IPv6HeaderLen)
	return nil
}

// SealTunnel protects the inner IP packet at buf[off:off+n] in tunnel
// mode (RFC 4302 3.1.2): it writes AH and the outer header t before it,
// so off must be at least t.HeaderLen()+HeaderLen(outer is IPv6). The
// outer header carries the inner DSCP and ECN (RFC 4301 5.1.2.1, RFC 6040
// normal mode) and t's DF policy. It returns the sealed packet.
func (o *AHOutbound) SealTunnel(buf []byte, off, n int, t *Tunnel) ([]byte, error) {
	seq, err := o.NextSeq()
	if err != nil {
		return nil, err
	}
	return o.SealTunnelSeq(buf, off, n, t, seq)
}

// SealTunnelSeq is SealTunnel with a sequence number from NextSeq.
func (o *AHOutbound) SealTunnelSeq(buf []byte, off, n int, t *Tunnel, seq uint64) ([]byte, error) {
	integ := o.integ.Load()
	if integ == nil {
		return nil, ErrClosed
	}
	if off < 0 || n <= 0 || off+n > len(buf) {
		return nil, ErrBufferTooSmall
	}
	nh, tos, df, err := innerInfo(buf[off : off+n])
	if err != nil {
		return nil, err
	}
	hl := t.HeaderLen()
	ahLen := packet.AHLen(authDataLen(integ), !t.Dst.Is4())
	start := off - ahLen - hl
	if start < 0 {
		return nil, ErrBufferTooSmall
	}
	out := buf[start : off+n]
	if err := t.writeHeader(out, packet.ProtoAH, ahLen+n, tos, df); err != nil {
		return nil, err
	}
	packet.EncodeAH(out[hl:], ahLen, nh, o.spi, uint32(seq))
	putIV(out[hl:], integ, seq)
	if _, err := ahICV(integ, out, hl, true, seqHigh(o.esn, seq), nil); err != nil {
		return nil, err
	}
	if t.Dst.Is4() {
		packet.IPv4(out).UpdateChecksum()
	}
	return out, nil
}

// Zero drops the reference to the key; later calls return ErrClosed.
func (o *AHOutbound) Zero() { o.integ.Store(nil) }
