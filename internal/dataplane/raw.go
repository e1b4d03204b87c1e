package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/wire/packet"
)

// Raw ESP: IP protocol 50 straight after the outer IP header (RFC 4303 2,
// no RFC 3948 UDP header), for SAs negotiated without UDP encapsulation
// (sadb.ChildSA.Encap false: IKE's NAT detection, RFC 7296 2.23, found no
// NAT and encap = no). The kernel writes the outer header of what we send
// on a raw socket (no IP_HDRINCL), as it does for UDP, so ESP seal and
// open are the same for both; only the framing on receive differs:
//
//	IPv4 raw socket: [IPv4 header][ESP ...]   (raw(7): the header is delivered)
//	IPv6 raw socket: [ESP ...]                (RFC 3542 3: never the IPv6 header)
//
// The source address is in the recvmmsg name either way; the destination
// is not needed, as inbound SAs are found by SPI alone (RFC 4301 4.1).
//
// The sockets are opened by the first SA that needs one, per address family
// (ensureRaw), not at start: raw sockets need CAP_NET_RAW, and a raw
// protocol-50 socket is handed a copy of every ESP packet the host
// receives, so a daemon whose SAs all use UDP (behind a NAT, or against
// strongSwan's kernel-libipsec, which always encapsulates) neither needs
// the capability nor pays for the copies. Once open they stay open until
// Close: the reader goroutine and its batch are cheap while idle.
//
// The code is generic over the IP protocol (rawSocket.proto), so AH (51,
// RFC 4302) can use the same sockets and readers.

// protoESP is ESP's IP protocol number (RFC 4303 2, IANA).
const protoESP = 50

// rawSocketBuffer is the receive and send buffer of a raw socket: no GRO
// here, so every packet is its own skb (about 2.3 KB of truesize for a
// 1500-byte packet): 16 MiB holds a few thousand of them.
const rawSocketBuffer = 16 << 20

// rawSocket is one raw IP socket for one protocol and address family.
type rawSocket struct {
	pc    packetConn
	rc    syscall.RawConn // for SO_MARK (hostroute.go)
	addr  netip.Addr      // bound address, 0.0.0.0 or :: unless ListenAddr is set
	proto uint8
	v6    bool
}

func (s *rawSocket) name() string {
	if s.v6 {
		return fmt.Sprintf("raw6 %d", s.proto)
	}
	return fmt.Sprintf("raw %d", s.proto)
}

func (s *rawSocket) close() error {
	if s == nil {
		return nil
	}
	err := s.pc.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// pktinfo is udpSocket.pktinfo for the raw socket (IP_PKTINFO and
// IPV6_PKTINFO work on raw sockets too, ip(7), RFC 3542 6.1).
func (s *rawSocket) pktinfo(b []byte, local netip.Addr) []byte {
	return pktinfoFor(b, s.addr, s.v6, local)
}

// rawPayload returns the protocol payload (the ESP packet) of a datagram
// received on a raw socket of protocol proto: on IPv4 after the IP header,
// which must be well-formed, carry proto and not be a fragment (the kernel
// reassembles before raw delivery, RFC 791 3.2); on IPv6 the datagram is
// the payload already. ok is false for a malformed datagram.
func rawPayload(v6 bool, proto uint8, b []byte) (payload []byte, ok bool) {
	if v6 {
		return b, len(b) > 0
	}
	if len(b) < packet.IPv4MinHeader || b[0]>>4 != 4 {
		return nil, false // checked before ParseIPv4, which allocates its error
	}
	ip, err := packet.ParseIPv4(b)
	if err != nil || ip.Protocol() != proto || ip.IsFragment() {
		return nil, false
	}
	return ip.Payload(), true
}

// rawFor returns the raw ESP socket of peer's address family, nil if none
// is open.
func (d *Dataplane) rawFor(peer netip.Addr) *rawSocket {
	if peer.Unmap().Is6() {
		return d.raw6.Load()
	}
	return d.raw4.Load()
}

// ensureRaw opens the raw ESP socket for peer's address family if it is
// not open yet, marks it if policy routing is on (hostroute.go) and, once
// the data plane runs, starts its reader. The caller holds installMu.
func (d *Dataplane) ensureRaw(peer netip.Addr) error {
	v6 := peer.Unmap().Is6()
	p := &d.raw4
	if v6 {
		p = &d.raw6
	}
	if p.Load() != nil {
		return nil
	}
	// The address the UDP sockets of that family are bound to.
	addr := netip.IPv4Unspecified()
	if v6 {
		addr = netip.IPv6Unspecified()
	}
	if s := d.socketFor(true, peer); s != nil {
		addr = s.addr
	}
	s, err := listenRaw(addr, protoESP, rawSocketBuffer)
	if err != nil {
		return fmt.Errorf("raw ESP socket (IP protocol %d) on %s: %w (raw sockets need CAP_NET_RAW; encap = yes sends ESP in UDP instead)", protoESP, addr, err)
	}
	if d.routes != nil && d.routes.host.marked {
		if err := setSocketMark(s.rc, hostRouteMark); err != nil {
			s.close()
			return fmt.Errorf("raw ESP socket: SO_MARK %#x: %w", hostRouteMark, err)
		}
	}
	p.Store(s)
	d.log.Debug("raw ESP socket open", "socket", s.name(), "addr", addr)
	if d.started {
		d.startRawReader(s)
	}
	return nil
}

// rawSockets returns the open raw sockets.
func (d *Dataplane) rawSockets() []*rawSocket {
	var out []*rawSocket
	for _, p := range []*atomic.Pointer[rawSocket]{&d.raw4, &d.raw6} {
		if s := p.Load(); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// startRawReader starts the reader of raw socket s, with one more inbound
// batch in the pool so that the reader's idle batch takes none from the
// others. Called with installMu held, after Start.
func (d *Dataplane) startRawReader(s *rawSocket) {
	d.inFree <- newInBatch(udpRecvBatchSize)
	d.wg.Add(1)
	d.readers.Add(1)
	d.inReaders.Add(1)
	go d.routineReceiveRaw(s)
}

// routineReceiveRaw is routineReceiveNATT for a raw socket: read batch ->
// strip the IPv4 header -> SA lookup and replay pre-check -> crypto workers
// and, in order, routineWriteTUN.
func (d *Dataplane) routineReceiveRaw(s *rawSocket) {
	defer d.wg.Done()
	defer d.readers.Done()
	defer d.inReaders.Done()
	d.receiveLoop(s.name(), s.pc, func(b *inBatch, m *ipv4.Message, buf []byte) {
		d.prepareRaw(s, b, m, buf)
	})
}

// prepareRaw classifies one datagram of a raw socket: ESP (RFC 4303 3.4)
// after the IPv4 header, for an SA negotiated without UDP encapsulation.
func (d *Dataplane) prepareRaw(s *rawSocket, b *inBatch, m *ipv4.Message, buf []byte) {
	if m.N <= 0 || m.N > len(buf) || m.Flags&msgTrunc != 0 || b.nsegs == len(b.segs) {
		inc(&d.counters.Malformed)
		return
	}
	data, ok := rawPayload(s.v6, s.proto, buf[:m.N])
	if !ok {
		inc(&d.counters.Malformed)
		return
	}
	if d.prepareESP(data, m.Addr, false, &b.segs[b.nsegs]) {
		b.nsegs++
	}
}

// sendRaw transmits msgs on raw socket s with as few sendmmsg calls as
// possible; a message the kernel refuses is counted and skipped.
func (d *Dataplane) sendRaw(s *rawSocket, msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := s.pc.WriteBatch(msgs, 0)
		if err != nil {
			if d.closing.Load() {
				return
			}
			inc(&d.counters.SendErrors) // msgs[n] failed
			n = max(n, 0) + 1
		}
		if n <= 0 {
			n = 1
		}
		msgs = msgs[min(n, len(msgs)):]
	}
}
