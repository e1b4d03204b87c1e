package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// sendBatch is the outbound goroutine's preallocated state: TUN read
// buffers (with headroom and tailroom for ESP) and one UDP message, address
// and control-message buffer per packet.
type sendBatch struct {
	bufs  [][]byte
	sizes []int
	msgs  []ipv4.Message
	addrs []net.UDPAddr
	oobs  [][]byte
}

func newSendBatch(n int) *sendBatch {
	b := &sendBatch{
		bufs:  make([][]byte, n),
		sizes: make([]int, n),
		msgs:  make([]ipv4.Message, n),
		addrs: make([]net.UDPAddr, n),
		oobs:  make([][]byte, n),
	}
	for i := range n {
		b.bufs[i] = make([]byte, outHeadroom+maxPacket+outTailroom)
		b.msgs[i].Buffers = make([][]byte, 1)
		b.addrs[i].IP = make(net.IP, net.IPv4len)
		b.oobs[i] = make([]byte, pktinfoLen)
	}
	return b
}

// routineReadFromTUN is the outbound pipeline (see the package comment):
// TUN read batch -> policy lookup -> ESP seal in place -> UDP send batch.
func (d *Dataplane) routineReadFromTUN() {
	defer d.wg.Done()
	n := min(max(d.tun.BatchSize(), 1), udpBatchSize)
	b := newSendBatch(n)
	var failures int
	for {
		count, err := d.tun.Read(b.bufs, b.sizes, outHeadroom)
		if count > 0 {
			now := time.Now().UnixNano()
			k := 0
			for i := range min(count, n) {
				if d.sealOne(b, i, k, now) {
					k++
				}
			}
			d.sendESP(b.msgs[:k])
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

// sealOne takes packet i of the batch through policy lookup and ESP
// encryption, and fills UDP message k. It reports whether the packet is to
// be sent.
func (d *Dataplane) sealOne(b *sendBatch, i, k int, now int64) bool {
	buf := b.bufs[i]
	size := b.sizes[i]
	if size <= 0 || outHeadroom+size > len(buf)-outTailroom {
		inc(&d.counters.Malformed)
		return false
	}
	pkt := buf[outHeadroom : outHeadroom+size]
	switch pkt[0] >> 4 {
	case 4:
	case 6:
		inc(&d.counters.Unsupported) // IPv6 inner packets: a later slice
		return false
	default:
		inc(&d.counters.Malformed)
		return false
	}
	ip, err := packet.ParseIPv4(pkt)
	if err != nil {
		inc(&d.counters.Malformed)
		return false
	}
	inner := pkt[:ip.TotalLen()]
	proto := ip.Protocol()
	sp, dp := innerPorts(ip, proto)
	c := d.db.Outbound(ip.Src(), ip.Dst(), proto, sp, dp)
	if c == nil {
		// RFC 4301 5.1: no SA (and no bypass policy): discard. Never
		// leak the packet in the clear.
		inc(&d.counters.NoPolicy)
		return false
	}
	remote := c.Remote.Addr().Unmap()
	if !c.Encap || !remote.Is4() || c.Out == nil {
		inc(&d.counters.Unsupported)
		return false
	}

	start := outHeadroom - c.Out.PayloadOffset()
	if start < 0 {
		// This SA needs more headroom than we reserve: move the packet.
		start = 0
		copy(buf[c.Out.PayloadOffset():], inner)
	}
	need := len(inner) + c.Out.Overhead(len(inner))
	if need > maxUDPPayload || start+need > len(buf) {
		inc(&d.counters.TooBig)
		return false
	}
	espPkt, err := c.Seal(buf[start:], len(inner), esp.NextHeaderIPv4)
	if err != nil {
		switch {
		case errors.Is(err, esp.ErrSeqExhausted):
			inc(&d.counters.SeqExhausted)
		case errors.Is(err, sadb.ErrDeleted), errors.Is(err, esp.ErrClosed):
			inc(&d.counters.NoSA) // deleted while the packet was on its way
		case errors.Is(err, esp.ErrBufferTooSmall):
			inc(&d.counters.TooBig)
		default:
			inc(&d.counters.Malformed)
		}
		return false
	}
	c.Stats.BytesOut.Add(uint64(len(inner)))
	c.Stats.PacketsOut.Add(1)
	c.Stats.LastOut.Store(now)

	m := &b.msgs[k]
	m.Buffers[0] = espPkt
	a := &b.addrs[k]
	ip4 := remote.As4()
	a.IP = a.IP[:net.IPv4len]
	copy(a.IP, ip4[:])
	a.Port = int(c.Remote.Port())
	m.Addr = a
	m.OOB = nil
	if local := c.Local.Addr().Unmap(); local.Is4() && !local.IsUnspecified() && d.natt.boundToAny() {
		m.OOB = putPktinfo(b.oobs[k], local.As4())
	}
	return true
}

// sendESP transmits msgs with as few sendmmsg calls as possible; a message
// the kernel refuses is counted and skipped.
func (d *Dataplane) sendESP(msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := d.natt.pc.WriteBatch(msgs, 0)
		if err != nil {
			if d.closing.Load() {
				return
			}
			// msgs[n] failed (or nothing was sent): skip it.
			inc(&d.counters.SendErrors)
			n++
		}
		if n <= 0 {
			n = 1
		}
		msgs = msgs[min(n, len(msgs)):]
	}
}

// SendIKE sends an IKE message from port local.Port() (the IKE or the NAT-T
// socket; the non-ESP marker is prepended on NAT-T, RFC 3948 2.2) and, if
// local.Addr() is set, from that source address (IP_PKTINFO). Port 0 means
// the IKE socket.
func (d *Dataplane) SendIKE(local, remote netip.AddrPort, pkt []byte) error {
	var s *udpSocket
	switch local.Port() {
	case d.natt.port:
		s = d.natt
		b := make([]byte, esp.NonESPMarkerLen+len(pkt))
		copy(b[esp.NonESPMarkerLen:], pkt)
		pkt = b
	case d.ike.port, 0:
		s = d.ike
	default:
		return fmt.Errorf("dataplane: send IKE from port %d: not listening there (IKE %d, NAT-T %d)", local.Port(), d.ike.port, d.natt.port)
	}
	raddr := remote.Addr().Unmap()
	if !raddr.Is4() {
		return fmt.Errorf("dataplane: send IKE to %s: only IPv4 is supported", remote)
	}
	var cm *ipv4.ControlMessage
	if l := local.Addr().Unmap(); l.Is4() && !l.IsUnspecified() && s.boundToAny() {
		cm = &ipv4.ControlMessage{Src: l.AsSlice()}
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(raddr, remote.Port()))
	if _, err := s.pc.WriteTo(pkt, cm, dst); err != nil {
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

// innerPorts returns the ports the selectors match against: TCP, UDP, SCTP
// and UDP-Lite ports; ICMP type and code as type<<8|code on both sides (RFC
// 7296 3.13.1); 0 when unavailable, e.g. in non-initial fragments (RFC 4301
// 4.4.1.1: OPAQUE).
func innerPorts(ip packet.IPv4, proto uint8) (src, dst uint16) {
	if fragOffset(ip) != 0 {
		return 0, 0
	}
	l4 := ip.Payload()
	if proto == protoICMP {
		if len(l4) < 2 {
			return 0, 0
		}
		tc := uint16(l4[0])<<8 | uint16(l4[1])
		return tc, tc
	}
	return packet.Ports(proto, l4)
}

const protoICMP = 1

// fragOffset returns the IPv4 fragment offset field (RFC 791 3.1).
func fragOffset(ip packet.IPv4) uint16 {
	return ip.FlagsFragOff() & 0x1fff
}
