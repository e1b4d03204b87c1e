package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// outPacket is one packet of an outBatch on its way through the pipeline.
type outPacket struct {
	sa    *sadb.ChildSA // nil: dropped before sealing
	seq   uint64
	start int    // where the ESP packet starts in the buffer
	n     int    // inner packet length (transport mode: the payload's)
	nh    uint8  // next header: IPv4 in tunnel mode, the protocol in transport mode
	hl    int    // transport mode: the IP header length, counted in the SA's bytes
	esp   []byte // the sealed packet, nil if sealing failed
}

// outBatch is one TUN read batch and everything needed to send it:
// buffers with headroom and tailroom for ESP, the per-packet pipeline state
// and one UDP message, address and control-message buffer per packet
// (GSO runs use fewer messages).
type outBatch struct {
	bufs  [][]byte
	sizes []int
	pkts  []outPacket
	count int // packets read
	now   int64
	done  sync.WaitGroup

	msgs  []ipv4.Message
	socks []*udpSocket // the NAT-T socket of each message's peer family, nil for raw ESP
	raws  []*rawSocket // the raw ESP socket of a raw ESP message (raw.go), else nil
	addrs []net.UDPAddr
	oobs  [][]byte
	iovs  [][]byte // backing of the messages' Buffers
}

// newOutBatch makes a batch of n buffers for packets of up to mtu bytes.
func newOutBatch(n, mtu int) *outBatch {
	b := &outBatch{
		bufs:  make([][]byte, n),
		sizes: make([]int, n),
		pkts:  make([]outPacket, n),
		msgs:  make([]ipv4.Message, n),
		socks: make([]*udpSocket, n),
		raws:  make([]*rawSocket, n),
		addrs: make([]net.UDPAddr, n),
		oobs:  make([][]byte, n),
		iovs:  make([][]byte, n),
	}
	for i := range n {
		b.bufs[i] = make([]byte, outHeadroom+mtu+outTailroom)
		b.addrs[i].IP = make(net.IP, net.IPv6len)
		b.oobs[i] = make([]byte, 0, pktinfoLen+gsoControlLen)
	}
	return b
}

// routineReadFromTUN is the outbound pipeline's first stage (pipeline.go):
// TUN read batch -> policy lookup -> sequence numbers -> crypto workers and,
// in order, routineSendESP.
func (d *Dataplane) routineReadFromTUN() {
	defer d.wg.Done()
	defer d.readers.Done()
	defer close(d.outQueue)
	var failures int
	for {
		b := <-d.outFree
		count, err := d.tun.Read(b.bufs, b.sizes, outHeadroom)
		if count > 0 {
			b.count = min(count, len(b.bufs))
			b.now = time.Now().UnixNano()
			for i := range b.count {
				d.prepareOut(b, i)
			}
			if b.count < 2*minChunk && d.outInflight.Load() == 0 {
				// Fast path for light traffic (pings, ACKs): nothing is
				// queued ahead of this batch, so sending it from here
				// keeps the order and saves a hand-off.
				b.process(d, 0, b.count)
				d.sendBatch(b)
				d.outFree <- b
			} else {
				d.outInflight.Add(1)
				d.dispatch(b, b.count, &b.done)
				d.outQueue <- b
			}
		} else {
			d.outFree <- b
		}
		if err != nil {
			if errors.Is(err, tun.ErrTooManySegments) {
				// Documented as not fatal: the first count packets are good.
				inc(&d.counters.TUNReadErr)
				continue
			}
			if d.readFailed("TUN", err, &failures, &d.counters.TUNReadErr) {
				return
			}
			continue
		}
		failures = 0
	}
}

// prepareOut is the serial part of the outbound path for packet i: parse,
// policy lookup (RFC 4301 5.1), size check and sequence number (RFC 4303
// 3.3.3). It leaves pkts[i].sa nil if the packet is dropped.
func (d *Dataplane) prepareOut(b *outBatch, i int) {
	p := &b.pkts[i]
	*p = outPacket{}
	buf := b.bufs[i]
	size := b.sizes[i]
	if size <= 0 || outHeadroom+size > len(buf)-outTailroom {
		inc(&d.counters.Malformed)
		return
	}
	var ip innerPacket
	if !parseInner(buf[outHeadroom:outHeadroom+size], &ip) {
		inc(&d.counters.Malformed)
		return
	}
	inner := ip.pkt
	dec := d.lookupOutbound(ip.src, ip.dst, ip.proto, ip.sport, ip.dport)
	c := dec.SA
	if c == nil {
		d.noSAOut(dec, inner)
		return
	}
	if c.Out == nil || !d.canSend(c) {
		inc(&d.counters.Unsupported)
		return
	}
	if c.Expired() {
		// Past its hard volume lifetime and not yet replaced or deleted.
		inc(&d.counters.Expired)
		return
	}
	// Mode dispatch: tunnel mode seals the whole packet (RFC 4303
	// 3.1.2), transport mode what follows its header (3.1.1,
	// transport.go).
	nh := ip.nextHeader
	hl := 0
	if c.Mode == sadb.ModeTransport {
		var ok bool
		if hl, nh, ok = d.transportPayload(&ip, c); !ok {
			return
		}
		inner = inner[hl:]
	}
	start := outHeadroom + hl - c.Out.PayloadOffset()
	if start < 0 {
		// This SA needs more headroom than we reserve: move the packet.
		start = 0
		copy(buf[c.Out.PayloadOffset():], inner)
	}
	need := len(inner) + c.Out.Overhead(len(inner))
	if need > maxUDPPayload || start+need > len(buf) {
		inc(&d.counters.TooBig)
		return
	}
	seq, err := c.Out.NextSeq()
	if err != nil {
		inc(&d.counters.SeqExhausted)
		return
	}
	*p = outPacket{sa: c, seq: seq, start: start, n: len(inner), nh: nh, hl: hl}
}

// canSend reports whether the socket c's packets leave from is open: the
// NAT-T socket of the peer's family for ESP in UDP, the raw ESP socket
// (raw.go) otherwise.
func (d *Dataplane) canSend(c *sadb.ChildSA) bool {
	peer := c.PeerAddr().Addr()
	if c.Encap {
		return d.socketFor(true, peer) != nil
	}
	return d.rawFor(peer) != nil
}

// lookupOutbound is the SPD lookup for an outbound packet (RFC 4301 5.1,
// policy.go); its cost with many policies is BenchmarkOutboundLookup.
func (d *Dataplane) lookupOutbound(src, dst netip.Addr, proto uint8, sp, dp uint16) sadb.Decision {
	return d.pol.lookupOut(src, dst, proto, sp, dp)
}

// process seals packets [lo, hi) of the batch (cryptoWork): the parallel
// stage.
func (b *outBatch) process(d *Dataplane, lo, hi int) {
	for i := lo; i < hi; i++ {
		p := &b.pkts[i]
		if p.sa == nil {
			continue
		}
		out, err := p.sa.SealSeq(b.bufs[i][p.start:], p.n, p.nh, p.seq)
		if err != nil {
			switch {
			case errors.Is(err, sadb.ErrDeleted), errors.Is(err, esp.ErrClosed):
				inc(&d.counters.NoSA) // deleted while the packet was on its way
			case errors.Is(err, esp.ErrBufferTooSmall):
				inc(&d.counters.TooBig)
			default:
				inc(&d.counters.Malformed)
			}
			continue
		}
		p.esp = out
	}
}

// routineSendESP is the outbound pipeline's last stage: batches in read
// order, each once sealed, to the NAT-T sockets.
func (d *Dataplane) routineSendESP() {
	defer d.wg.Done()
	for b := range d.outQueue {
		b.done.Wait()
		d.sendBatch(b)
		d.outInflight.Add(-1)
		d.outFree <- b
	}
}

// sendBatch counts the sealed packets of b, builds its messages — for ESP
// in UDP, a run of packets of one size (the last may be shorter) to the
// same peer from the same source becomes one UDP GSO message (at most
// udpGSOMaxSegments, maxUDPPayload bytes); raw ESP (raw.go) has no GSO, a
// message per packet — and sends them.
func (d *Dataplane) sendBatch(b *outBatch) {
	k, j := 0, 0 // messages, iovecs used
	var cur *ipv4.Message
	var curSA *sadb.ChildSA
	var curSock *udpSocket
	segSize, total, mstart := 0, 0, 0
	open := false // cur may take more segments
	for i := range b.count {
		p := &b.pkts[i]
		if p.esp == nil {
			continue
		}
		c := p.sa
		c.CountOut(uint64(p.hl + p.n))
		b.iovs[j] = p.esp
		j++
		if open && c.Encap && curSock.gso.Load() && sameRoute(curSA, c) && j-mstart <= udpGSOMaxSegments &&
			len(p.esp) <= segSize && total+len(p.esp) <= maxUDPPayload {
			cur.Buffers = b.iovs[mstart:j]
			total += len(p.esp)
			open = len(p.esp) == segSize // a short segment ends the run
			continue
		}
		d.finishMessage(cur, segSize)
		cur = &b.msgs[k]
		k++
		peer := c.PeerAddr()
		remote := peer.Addr().Unmap()
		mstart, curSA, segSize, total, open = j-1, c, len(p.esp), len(p.esp), c.Encap
		cur.Buffers = b.iovs[mstart:j]
		a := &b.addrs[k-1]
		a.IP = a.IP[:remote.BitLen()/8]
		if remote.Is4() {
			ip4 := remote.As4()
			copy(a.IP, ip4[:])
		} else {
			ip6 := remote.As16()
			copy(a.IP, ip6[:])
		}
		cur.Addr = a
		// prepareOut checked that the socket is open.
		if c.Encap {
			curSock = d.socketFor(true, remote)
			b.socks[k-1], b.raws[k-1] = curSock, nil
			a.Port = int(peer.Port())
			cur.OOB = curSock.pktinfo(b.oobs[k-1], c.Local.Addr())
		} else {
			raw := d.rawFor(remote)
			b.socks[k-1], b.raws[k-1] = nil, raw
			a.Port = 0 // raw sockets have no ports (raw.go)
			cur.OOB = raw.pktinfo(b.oobs[k-1], c.Local.Addr())
		}
		c.Stats.LastOut.Store(b.now)
	}
	d.finishMessage(cur, segSize)
	// One sendmmsg per run of messages on the same socket.
	for lo := 0; lo < k; {
		hi := lo + 1
		for hi < k && b.socks[hi] == b.socks[lo] && b.raws[hi] == b.raws[lo] {
			hi++
		}
		if r := b.raws[lo]; r != nil {
			d.sendRaw(r, b.msgs[lo:hi])
		} else {
			d.sendESP(b.socks[lo], b.msgs[lo:hi])
		}
		lo = hi
	}
}

// finishMessage adds the UDP_SEGMENT control message to m if it carries
// more than one segment.
func (d *Dataplane) finishMessage(m *ipv4.Message, segSize int) {
	if m != nil && len(m.Buffers) > 1 {
		m.OOB = putUDPSegment(m.OOB, uint16(segSize))
		d.stats.gsoMessages.Add(1)
		d.stats.gsoSegments.Add(uint64(len(m.Buffers)))
	}
}

// sameRoute reports whether packets of SAs a and b go from the same local
// address to the same peer, so that they may share a GSO message.
func sameRoute(a, b *sadb.ChildSA) bool {
	return a == b || (a.PeerAddr() == b.PeerAddr() && a.Local.Addr() == b.Local.Addr())
}

// sendESP transmits msgs with as few sendmmsg calls as possible. A GSO
// message the path refuses (isGSOError) is sent again as single datagrams;
// after EIO (no checksum offload) GSO is turned off for the socket. Any
// other message the kernel refuses is counted and skipped.
func (d *Dataplane) sendESP(s *udpSocket, msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := s.pc.WriteBatch(msgs, 0)
		if err != nil {
			if d.closing.Load() {
				return
			}
			n = max(n, 0)
			if n < len(msgs) && len(msgs[n].Buffers) > 1 && isGSOError(err) {
				if errors.Is(err, syscall.EIO) && s.gso.Swap(false) {
					d.log.Warn("UDP GSO failed, sending single datagrams from now on", "err", err, "ipv6", s.v6)
				}
				d.sendSegments(s, &msgs[n])
			} else {
				// msgs[n] failed (or nothing was sent): skip it.
				add(&d.counters.SendErrors, uint64(max(len(msgs[min(n, len(msgs)-1)].Buffers), 1)))
			}
			n++
		}
		if n <= 0 {
			n = 1
		}
		msgs = msgs[min(n, len(msgs)):]
	}
}

// sendSegments sends the segments of a GSO message one datagram each.
func (d *Dataplane) sendSegments(s *udpSocket, m *ipv4.Message) {
	oob := m.OOB
	if len(oob) >= gsoControlLen {
		oob = oob[:len(oob)-gsoControlLen] // finishMessage put UDP_SEGMENT last
	}
	var one [1]ipv4.Message
	for _, seg := range m.Buffers {
		one[0] = ipv4.Message{Buffers: [][]byte{seg}, Addr: m.Addr, OOB: oob}
		if _, err := s.pc.WriteBatch(one[:], 0); err != nil {
			inc(&d.counters.SendErrors)
		}
	}
}

// SendIKE sends an IKE message from port local.Port() (the IKE or the NAT-T
// socket of remote's address family; the non-ESP marker is prepended on
// NAT-T, RFC 3948 2.2) and, if local.Addr() is set, from that source
// address (IP_PKTINFO, IPV6_PKTINFO). Port 0 means the IKE socket.
func (d *Dataplane) SendIKE(local, remote netip.AddrPort, pkt []byte) error {
	raddr := remote.Addr().Unmap()
	s, natt, err := d.portOwner(local, raddr)
	if err != nil {
		return fmt.Errorf("dataplane: send IKE %s -> %s: %w", local, remote, err)
	}
	if natt {
		b := make([]byte, esp.NonESPMarkerLen+len(pkt))
		copy(b[esp.NonESPMarkerLen:], pkt)
		pkt = b
	}
	msg := [1]ipv4.Message{{
		Buffers: [][]byte{pkt},
		Addr:    net.UDPAddrFromAddrPort(netip.AddrPortFrom(raddr, remote.Port())),
		OOB:     s.pktinfo(make([]byte, 0, pktinfoLen), local.Addr()),
	}}
	if _, err := s.pc.WriteBatch(msg[:], 0); err != nil {
		return fmt.Errorf("dataplane: send IKE %s -> %s: %w", local, remote, err)
	}
	return nil
}

// readFailed handles a read error of a reader goroutine: it reports whether
// the goroutine should stop (the data plane is closing or the socket or
// device is gone); other errors are counted, logged (the first and then
// every 1000th) and, when they repeat, slowed down so a persistent error
// cannot spin a CPU.
func (d *Dataplane) readFailed(what string, err error, failures *int, counter *uint64) bool {
	if d.closing.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return true
	}
	inc(counter)
	*failures++
	if *failures == 1 || *failures%1000 == 0 {
		d.log.Warn("read failed", "from", what, "err", err, "consecutive", *failures)
	}
	if *failures > 10 {
		time.Sleep(min(time.Duration(*failures)*time.Millisecond, 100*time.Millisecond))
	}
	return false
}

// innerPorts returns the ports the selectors match against (l4Ports); 0
// in non-initial fragments (RFC 4301 4.4.1.1: OPAQUE).
func innerPorts(ip packet.IPv4, proto uint8) (src, dst uint16) {
	if fragOffset(ip) != 0 {
		return 0, 0
	}
	return l4Ports(proto, ip.Payload())
}

const protoICMP = 1

// fragOffset returns the IPv4 fragment offset field (RFC 791 3.1).
func fragOffset(ip packet.IPv4) uint16 {
	return ip.FlagsFragOff() & 0x1fff
}
