package dataplane

import (
	"errors"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// routineReceiveNATT is the inbound pipeline on port 4500 (see the package
// comment): UDP read batch -> classify -> ESP open -> policy check -> TUN
// write batch.
func (d *Dataplane) routineReceiveNATT() {
	defer d.wg.Done()
	b := newRecvBatch(udpBatchSize, maxPacket+inTailroom, maxPacket)
	toTUN := make([][]byte, 0, udpBatchSize)
	var failures int
	var readErrs uint64 // not a packet drop: kept out of Counters
	for {
		n, err := d.natt.pc.ReadBatch(b.msgs, 0)
		if err != nil {
			if d.readFailed("udp 4500", err, &failures, &readErrs) {
				return
			}
			continue
		}
		failures = 0
		now := time.Now().UnixNano()
		toTUN = toTUN[:0]
		for i := range min(n, len(b.msgs)) {
			if pkt := d.openOne(&b.msgs[i], b.bufs[i], now); pkt != nil {
				toTUN = append(toTUN, pkt)
			}
		}
		d.writeTUN(toTUN)
	}
}

// openOne classifies datagram m (read into buf at offset 0) and, for ESP,
// decrypts and checks it. It returns the inner packet as
// buf[:tunWriteOffset+len(inner)] (moved there if needed), or nil if the
// datagram was not for the TUN.
func (d *Dataplane) openOne(m *ipv4.Message, buf []byte, now int64) []byte {
	if m.N <= 0 || m.N > maxPacket || m.Flags&msgTrunc != 0 {
		inc(&d.counters.Malformed)
		return nil
	}
	data := buf[:m.N]
	switch {
	case esp.IsKeepalive(data):
		inc(&d.counters.Keepalive) // RFC 3948 2.3: ignore
		return nil
	case esp.IsNonESPMarker(data):
		d.deliverIKE(d.natt, m, data[esp.NonESPMarkerLen:])
		return nil
	}
	e, err := packet.ParseESP(data)
	if err != nil {
		inc(&d.counters.Malformed)
		return nil
	}
	c := d.db.Inbound(e.SPI())
	if c == nil {
		inc(&d.counters.NoSA) // RFC 4303 3.4.2: discard, auditable event
		return nil
	}
	payload, nextHeader, err := c.Open(data)
	if err != nil {
		d.countOpenError(c, err)
		return nil
	}
	switch nextHeader {
	case esp.NextHeaderIPv4:
	case esp.NextHeaderDummy:
		inc(&d.counters.Dummy) // RFC 4303 2.6: discard silently
		return nil
	case esp.NextHeaderIPv6:
		inc(&d.counters.Unsupported)
		return nil
	default: // tunnel mode carries IP packets only
		inc(&d.counters.Malformed)
		return nil
	}
	ip, err := packet.ParseIPv4(payload)
	if err != nil {
		inc(&d.counters.Malformed)
		return nil
	}
	// TFC padding may follow the inner packet (RFC 4303 2.7).
	inner := payload[:ip.TotalLen()]
	proto := ip.Protocol()
	sp, dp := innerPorts(ip, proto)
	if !c.MatchInbound(ip.Src(), ip.Dst(), proto, sp, dp) {
		// RFC 4301 5.2 step 4: the inner header must match the SA's
		// selectors, or a peer could inject traffic for other SAs.
		c.Stats.DropsPolicy.Add(1)
		inc(&d.counters.Policy)
		return nil
	}
	c.Stats.BytesIn.Add(uint64(len(inner)))
	c.Stats.PacketsIn.Add(1)
	c.Stats.LastIn.Store(now)

	// The TUN batch is written with one offset: put the packet there.
	if off, ok := offsetIn(buf, inner); !ok || off != tunWriteOffset {
		if tunWriteOffset+len(inner) > len(buf) {
			inc(&d.counters.TooBig)
			return nil
		}
		copy(buf[tunWriteOffset:], inner)
	}
	return buf[:tunWriteOffset+len(inner)]
}

// offsetIn returns where sub starts within buf, if sub is a non-empty slice
// of buf's memory (esp.Inbound.Open decrypts in place).
func offsetIn(buf, sub []byte) (int, bool) {
	if len(sub) == 0 || len(buf) == 0 {
		return 0, false
	}
	off := cap(buf) - cap(sub)
	if off < 0 || off >= len(buf) || &buf[off] != &sub[0] {
		return 0, false
	}
	return off, true
}

// countOpenError counts an esp.Inbound.Open failure by reason.
func (d *Dataplane) countOpenError(c *sadb.ChildSA, err error) {
	switch {
	case errors.Is(err, esp.ErrReplay):
		c.Stats.DropsReplay.Add(1)
		inc(&d.counters.Replay)
	case errors.Is(err, esp.ErrAuth):
		c.Stats.DropsAuth.Add(1)
		inc(&d.counters.Auth)
	case errors.Is(err, esp.ErrPadding):
		c.Stats.DropsPadding.Add(1)
		inc(&d.counters.Padding)
	case errors.Is(err, sadb.ErrDeleted), errors.Is(err, esp.ErrClosed):
		inc(&d.counters.NoSA) // deleted while the packet was on its way
	default:
		inc(&d.counters.Malformed)
	}
}

// writeTUN writes the decrypted packets, all at tunWriteOffset, in one
// batch.
func (d *Dataplane) writeTUN(pkts [][]byte) {
	if len(pkts) == 0 {
		return
	}
	if d.tun == nil {
		add(&d.counters.NoTUN, uint64(len(pkts)))
		return
	}
	if _, err := d.tun.Write(pkts, tunWriteOffset); err != nil {
		if d.closing.Load() {
			return
		}
		// The Linux TUN joins one error per failed packet.
		n := 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			n = max(len(j.Unwrap()), 1)
		}
		add(&d.counters.TUNWriteErr, uint64(n))
	}
}

// routineReceiveIKE reads the IKE socket (port 500): everything is IKE.
func (d *Dataplane) routineReceiveIKE() {
	defer d.wg.Done()
	b := newRecvBatch(ikeBatchSize, maxPacket, maxPacket)
	var failures int
	var readErrs uint64
	for {
		n, err := d.ike.pc.ReadBatch(b.msgs, 0)
		if err != nil {
			if d.readFailed("udp 500", err, &failures, &readErrs) {
				return
			}
			continue
		}
		failures = 0
		for i := range min(n, len(b.msgs)) {
			m := &b.msgs[i]
			if m.N <= 0 || m.N > len(b.bufs[i]) || m.Flags&msgTrunc != 0 {
				inc(&d.counters.Malformed)
				continue
			}
			d.deliverIKE(d.ike, m, b.bufs[i][:m.N])
		}
	}
}

// deliverIKE hands a copy of an IKE message to Config.HandleIKE with the
// local address it was sent to.
func (d *Dataplane) deliverIKE(s *udpSocket, m *ipv4.Message, msg []byte) {
	if len(msg) == 0 {
		inc(&d.counters.Malformed)
		return
	}
	remote, ok := remoteAddrPort(m.Addr)
	if !ok {
		inc(&d.counters.Malformed)
		return
	}
	if d.handleIKE == nil {
		return
	}
	nn := min(max(m.NN, 0), len(m.OOB))
	local := s.localAddr(m.OOB[:nn])
	d.handleIKE(local, remote, append([]byte(nil), msg...))
}
