package dataplane

import (
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// inSegment is one ESP packet of an inBatch: a whole datagram, or one
// segment of a GRO datagram.
type inSegment struct {
	sa    *sadb.ChildSA // nil: dropped
	seq   uint64
	from  net.Addr // the datagram's source (a *net.UDPAddr of the batch; port 0 for raw ESP)
	data  []byte   // the ESP packet, decrypted in place
	inner []byte   // the inner IPv4 packet after process, nil if dropped
	// proto is set for a transport-mode SA: inner is then the payload,
	// whose IP header is written on the way to the TUN (transport.go).
	proto uint8
}

// inBatch is one recvmmsg batch: full-size datagram buffers (a GRO
// datagram is up to 64 KB), their control messages and the ESP segments
// found in them.
type inBatch struct {
	recvBatch
	segs  []inSegment
	nsegs int
	now   int64
	done  sync.WaitGroup
}

func newInBatch(n int) *inBatch {
	return &inBatch{
		recvBatch: *newRecvBatch(n, maxPacket, maxPacket),
		// A GRO datagram carries at most 64 segments (UDP_GRO_CNT_MAX);
		// more are dropped and counted (see routineReceiveNATT).
		segs: make([]inSegment, n*udpGSOMaxSegments),
	}
}

// routineReceiveNATT is the inbound pipeline's first stage on port 4500
// (pipeline.go): UDP read batch -> split GRO datagrams -> classify -> SA
// lookup and replay pre-check -> crypto workers and, in order,
// routineWriteTUN.
func (d *Dataplane) routineReceiveNATT(s *udpSocket) {
	defer d.wg.Done()
	defer d.readers.Done()
	defer d.inReaders.Done()
	d.receiveLoop(s.name(), s.pc, func(b *inBatch, m *ipv4.Message, buf []byte) {
		d.splitDatagram(s, b, m, buf)
	})
}

// receiveLoop is the loop of an inbound socket reader (NAT-T or raw):
// take a free batch, read into it, prepare each datagram's ESP segments
// with prepare, then process the batch itself (light traffic) or hand it
// to the workers and, in order, routineWriteTUN. It returns when the
// socket is closed.
func (d *Dataplane) receiveLoop(name string, pc packetConn, prepare func(b *inBatch, m *ipv4.Message, buf []byte)) {
	var failures int
	var readErrs uint64 // not a packet drop: kept out of Counters
	for {
		b := <-d.inFree
		n, err := pc.ReadBatch(b.msgs, 0)
		if err != nil {
			d.inFree <- b
			if d.readFailed(name, err, &failures, &readErrs) {
				return
			}
			continue
		}
		failures = 0
		b.now = time.Now().UnixNano()
		b.nsegs = 0
		for i := range min(n, len(b.msgs)) {
			prepare(b, &b.msgs[i], b.bufs[i])
		}
		if b.nsegs == 0 {
			d.inFree <- b
			continue
		}
		if b.nsegs < 2*minChunk && d.inInflight.Load() == 0 {
			// Fast path for light traffic, as in routineReadFromTUN:
			// routineWriteTUN is idle and nothing can be queued behind
			// its back by this reader; tunwMu keeps the other readers
			// out.
			b.process(d, 0, b.nsegs)
			d.tunwMu.Lock()
			d.deliverBatch(b, d.tunw)
			d.tunwMu.Unlock()
			d.inFree <- b
			continue
		}
		d.inInflight.Add(1)
		d.dispatch(b, b.nsegs, &b.done)
		d.inQueue <- b
	}
}

// splitDatagram cuts a received datagram into its GRO segments (one if it
// was not coalesced) and prepares each.
func (d *Dataplane) splitDatagram(s *udpSocket, b *inBatch, m *ipv4.Message, buf []byte) {
	if m.N <= 0 || m.N > len(buf) || m.Flags&msgTrunc != 0 {
		inc(&d.counters.Malformed)
		return
	}
	data := buf[:m.N]
	size := len(data)
	if s.gro {
		nn := min(max(m.NN, 0), len(m.OOB))
		if g := groSegmentSize(m.OOB[:nn]); g > 0 && g < len(data) {
			size = g
			d.stats.groDatagrams.Add(1)
			d.stats.groSegments.Add(uint64((len(data) + g - 1) / g))
		}
	}
	for off := 0; off < len(data); off += size {
		seg := data[off:min(off+size, len(data))]
		if b.nsegs == len(b.segs) {
			inc(&d.counters.Malformed) // more segments than GRO makes
			continue
		}
		if d.prepareIn(s, m, seg, &b.segs[b.nsegs]) {
			b.nsegs++
		}
	}
}

// prepareIn is the serial part of the inbound path for one datagram on
// port 4500: classification (RFC 3948 2.2: keepalive, non-ESP marker =
// IKE, else ESP), then prepareESP. It reports whether s is ESP to
// decrypt.
func (d *Dataplane) prepareIn(sock *udpSocket, m *ipv4.Message, data []byte, s *inSegment) bool {
	switch {
	case esp.IsKeepalive(data):
		inc(&d.counters.Keepalive) // RFC 3948 2.3: ignore
		return false
	case esp.IsNonESPMarker(data):
		d.deliverIKE(sock, m, data[esp.NonESPMarkerLen:])
		return false
	}
	return d.prepareESP(data, m.Addr, true, s)
}

// prepareESP is the serial part of the inbound path for one ESP packet,
// encapsulated in UDP (encap) or raw (raw.go) and sent from from: SA
// lookup by SPI (RFC 4303 3.4.2), the SA's framing, and the anti-replay
// pre-check (RFC 4303 3.4.3). An SA takes ESP only in the framing it was
// negotiated with, as Linux's xfrm_input does (an encap_type other than
// the state's is dropped as XfrmInStateMismatch, before the replay check):
// counted encap_mismatch. It reports whether s is ESP to decrypt.
func (d *Dataplane) prepareESP(data []byte, from net.Addr, encap bool, s *inSegment) bool {
	e, err := packet.ParseESP(data)
	if err != nil {
		inc(&d.counters.Malformed)
		return false
	}
	c := d.db.Inbound(e.SPI())
	if c == nil {
		inc(&d.counters.NoSA) // RFC 4303 3.4.2: discard, auditable event
		return false
	}
	if c.Encap != encap {
		inc(&d.counters.EncapMismatch)
		return false
	}
	if c.Expired() {
		inc(&d.counters.Expired) // past its hard volume lifetime (RFC 4301 4.4.2.1)
		return false
	}
	if c.Mode == sadb.ModeTransport && !fromPeer(from, c) {
		c.Stats.DropsPolicy.Add(1)
		inc(&d.counters.Policy)
		return false
	}
	seq, err := c.OpenPrepare(data)
	if err != nil {
		d.countOpenError(c, err)
		return false
	}
	*s = inSegment{sa: c, seq: seq, data: data, from: from}
	return true
}

// process decrypts segments [lo, hi) of the batch (cryptoWork): the
// parallel stage.
func (b *inBatch) process(d *Dataplane, lo, hi int) {
	for i := lo; i < hi; i++ {
		s := &b.segs[i]
		s.inner = d.decryptIn(s)
	}
}

// decryptIn verifies and decrypts one prepared segment, then checks what it
// carries: next header, inner IPv4 header and the inbound policy. It
// returns the inner packet (inside s.data) or nil.
func (d *Dataplane) decryptIn(s *inSegment) []byte {
	c := s.sa
	payload, nextHeader, err := c.OpenDecrypt(s.data, s.seq)
	if err != nil {
		d.countOpenError(c, err)
		return nil
	}
	switch {
	case nextHeader == esp.NextHeaderDummy:
		// RFC 4303 2.6: discard silently, but it is authentic: the
		// window still moves (routineWriteTUN).
		return payload[:0]
	case c.Mode == sadb.ModeTransport:
		// Mode dispatch: the payload of the peer's own packet (RFC
		// 4303 3.1.1, transport.go).
		if !d.openTransport(c, payload, nextHeader) {
			return nil
		}
		s.proto = nextHeader
		return payload
	}
	switch nextHeader {
	case esp.NextHeaderIPv4, esp.NextHeaderIPv6:
	default: // tunnel mode carries IP packets only
		inc(&d.counters.Malformed)
		return nil
	}
	// TFC padding may follow the inner packet (RFC 4303 2.7); the next
	// header must announce the packet's own version (RFC 4303 2.6).
	var ip innerPacket
	if !parseInner(payload, &ip) || ip.nextHeader != nextHeader {
		inc(&d.counters.Malformed)
		return nil
	}
	if !c.MatchInbound(ip.src, ip.dst, ip.proto, ip.sport, ip.dport) {
		// RFC 4301 5.2 step 4: the inner header must match the SA's
		// selectors, or a peer could inject traffic for other SAs.
		c.Stats.DropsPolicy.Add(1)
		inc(&d.counters.Policy)
		return nil
	}
	if d.shuntDropsInbound(ip.src, ip.dst, ip.proto, ip.sport, ip.dport) {
		return nil // mode = drop applies to what the tunnel brings too (shunt.go)
	}
	return ip.pkt
}

// tunWriter is routineWriteTUN's state: TUN write buffers with room for
// GRO coalescing (the TUN appends a flow's later packets to the first one's
// buffer, up to 64 KB) and the batch being assembled.
type tunWriter struct {
	bufs [][]byte
	pkts [][]byte
}

func newTUNWriter(n int) *tunWriter {
	w := &tunWriter{bufs: make([][]byte, n), pkts: make([][]byte, 0, n)}
	for i := range w.bufs {
		w.bufs[i] = make([]byte, tunWriteOffset+maxPacket)
	}
	return w
}

// routineWriteTUN is the inbound pipeline's last stage: batches in receive
// order, each once decrypted: replay window update, then to the TUN.
func (d *Dataplane) routineWriteTUN() {
	defer d.wg.Done()
	for b := range d.inQueue {
		b.done.Wait()
		d.tunwMu.Lock()
		d.deliverBatch(b, d.tunw)
		d.tunwMu.Unlock()
		d.inInflight.Add(-1)
		d.inFree <- b
	}
}

// deliverBatch moves the window of every authentic segment of b (RFC 4303
// 3.4.3) and writes the inner packets to the TUN, udpBatchSize at a time.
func (d *Dataplane) deliverBatch(b *inBatch, w *tunWriter) {
	var last *sadb.ChildSA
	for i := range b.nsegs {
		s := &b.segs[i]
		if s.inner == nil {
			continue
		}
		c := s.sa
		if err := c.OpenAccept(s.seq); err != nil {
			d.countOpenError(c, err)
			continue
		}
		if c.OnPeerMoved != nil {
			if ua, ok := s.from.(*net.UDPAddr); ok {
				c.PeerMovedTo(ua.AddrPort()) // authentic and new: RFC 7296 2.23
			}
		}
		if len(s.inner) == 0 {
			inc(&d.counters.Dummy)
			continue
		}
		n := len(s.inner)
		if s.proto != 0 {
			n += transportHeaderLen(c)
		}
		c.CountIn(uint64(n))
		if c != last {
			c.Stats.LastIn.Store(b.now)
			last = c
		}
		if d.tun == nil {
			inc(&d.counters.NoTUN)
			continue
		}
		k := len(w.pkts)
		buf := w.bufs[k][:tunWriteOffset+n]
		if s.proto != 0 {
			putTransportHeader(buf[tunWriteOffset:], c, s.proto, len(s.inner))
		}
		copy(buf[tunWriteOffset+n-len(s.inner):], s.inner)
		w.pkts = append(w.pkts, buf)
		if len(w.pkts) == len(w.bufs) {
			d.writeTUN(w)
		}
	}
	d.writeTUN(w)
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

// writeTUN writes the assembled packets, all at tunWriteOffset, in one
// batch, and empties the batch.
func (d *Dataplane) writeTUN(w *tunWriter) {
	pkts := w.pkts
	w.pkts = w.pkts[:0]
	if len(pkts) == 0 {
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

// routineReceiveIKE reads an IKE socket (port 500): everything is IKE.
func (d *Dataplane) routineReceiveIKE(s *udpSocket) {
	defer d.wg.Done()
	b := newRecvBatch(ikeBatchSize, maxPacket, maxPacket)
	var failures int
	var readErrs uint64
	for {
		n, err := s.pc.ReadBatch(b.msgs, 0)
		if err != nil {
			if d.readFailed(s.name(), err, &failures, &readErrs) {
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
			d.deliverIKE(s, m, b.bufs[i][:m.N])
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
