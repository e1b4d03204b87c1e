package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// packetConn is the batch UDP seam: *ipv4.PacketConn or *ipv6.PacketConn
// (recvmmsg/sendmmsg on Linux; ipv4.Message and ipv6.Message are the same
// type), with allocation-free batches on Linux (mmsgConn); tests may
// substitute their own.
type packetConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	Close() error
}

// bufferedConn is a socket whose buffers setSocketBuffers sizes: a
// *net.UDPConn or (raw.go) a *net.IPConn.
type bufferedConn interface {
	syscall.Conn
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

// udpSocket is one bound UDP socket (port 500 or 4500) of one address
// family: the data plane has one pair per family (an IPv6 socket is
// IPV6_V6ONLY, so IPv4 never arrives as mapped addresses on it).
type udpSocket struct {
	pc   packetConn
	addr netip.Addr      // bound address, possibly 0.0.0.0 or ::
	port uint16          // bound port
	rc   syscall.RawConn // for socket options set later (SO_MARK, hostroute.go)
	v6   bool            // an AF_INET6 socket

	// gso: the kernel takes UDP_SEGMENT messages (turned off when the
	// path cannot, see sendESP); gro: UDP_GRO is on, datagrams may carry
	// runs of segments. NAT-T socket only.
	gso atomic.Bool
	gro bool
}

const (
	// nattSocketBuffer: room for several full batches of 64 KB GRO
	// datagrams (skb truesize counts against it) so bursts are not
	// dropped while the reader waits for a free batch.
	nattSocketBuffer = 16 << 20
	ikeSocketBuffer  = 1 << 20
)

// listenUDP binds a UDP socket of addr's family with the local address of
// received datagrams enabled (IP_PKTINFO, or IPV6_RECVPKTINFO, RFC 3542
// 6.1: to learn where IKE messages were sent, so that replies leave from
// there) and large socket buffers. An IPv6 socket is IPv6 only ("udp6"
// sets IPV6_V6ONLY, RFC 3493 5.3): IPv4 has its own socket.
//
// With offload, UDP GSO and GRO are enabled where the kernel has them
// (offload_linux.go; both work on IPv6 too).
func listenUDP(addr netip.Addr, port int, bufSize int, offload bool) (*udpSocket, error) {
	ap := netip.AddrPortFrom(addr, uint16(port))
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen udp: port %d out of range", port)
	}
	network, v6 := "udp4", addr.Is6()
	if v6 {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, listenError(ap, err)
	}
	setSocketBuffers(c, bufSize)
	var pc packetConn
	if v6 {
		p := ipv6.NewPacketConn(c)
		err = p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		pc = p
	} else {
		p := ipv4.NewPacketConn(c)
		err = p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
		pc = p
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("listen udp %s: enable packet info: %w", ap, err)
	}
	bound, _ := c.LocalAddr().(*net.UDPAddr)
	if bound == nil {
		c.Close()
		return nil, fmt.Errorf("listen udp %s: no local address", ap)
	}
	s := &udpSocket{pc: newBatchConn(c, pc, v6), addr: addr, port: uint16(bound.Port), v6: v6}
	s.rc, _ = c.SyscallConn()
	if offload {
		gso, gro := enableOffload(c)
		s.gso.Store(gso)
		s.gro = gro
	}
	return s, nil
}

// listenError turns the usual bind failures into one line that says what to
// do.
func listenError(ap netip.AddrPort, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen udp %s: %w (is another IKE daemon running?)", ap, syscall.EADDRINUSE)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen udp %s: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE)", ap, syscall.EACCES)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen udp %s: %w (the address is not configured on this host)", ap, syscall.EADDRNOTAVAIL)
	}
	return err
}

func (s *udpSocket) close() error {
	if s == nil {
		return nil
	}
	err := s.pc.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// name is the socket for log messages: "udp 4500", "udp6 500".
func (s *udpSocket) name() string {
	if s.v6 {
		return fmt.Sprintf("udp6 %d", s.port)
	}
	return fmt.Sprintf("udp %d", s.port)
}

// boundToAny reports whether the socket listens on 0.0.0.0 or ::, in which
// case the source address of sent packets is chosen per packet
// (IP_PKTINFO, IPV6_PKTINFO).
func (s *udpSocket) boundToAny() bool { return s.addr.IsUnspecified() }

// localAddr returns the local address a received datagram was sent to, from
// its IP_PKTINFO or IPV6_PKTINFO control message, falling back to the bound
// address.
func (s *udpSocket) localAddr(oob []byte) netip.AddrPort {
	addr := s.addr
	if len(oob) > 0 {
		var dst net.IP
		if s.v6 {
			var cm ipv6.ControlMessage
			if cm.Parse(oob) == nil {
				dst = cm.Dst
			}
		} else {
			var cm ipv4.ControlMessage
			if cm.Parse(oob) == nil {
				dst = cm.Dst
			}
		}
		if a, ok := netip.AddrFromSlice(dst); ok {
			addr = a.Unmap()
		}
	}
	return netip.AddrPortFrom(addr, s.port)
}

// pktinfo returns the control message that makes the socket send from
// local, written into b (pktinfoLen bytes of capacity), or b[:0] when the
// kernel should choose: the socket is bound to one address, or local is
// unset or of the other family.
func (s *udpSocket) pktinfo(b []byte, local netip.Addr) []byte {
	return pktinfoFor(b, s.addr, s.v6, local)
}

// pktinfoFor is pktinfo for a socket of family v6 bound to bound.
func pktinfoFor(b []byte, bound netip.Addr, v6 bool, local netip.Addr) []byte {
	local = local.Unmap()
	if !bound.IsUnspecified() || !local.IsValid() || local.IsUnspecified() || local.Is6() != v6 {
		return b[:0]
	}
	if v6 {
		return putPktinfo6(b[:cap(b)], local.As16())
	}
	return putPktinfo(b[:cap(b)], local.As4())
}

// recvBatch is a reader goroutine's preallocated batch: one full-size buffer
// and one control-message buffer per message.
type recvBatch struct {
	bufs [][]byte
	msgs []ipv4.Message
}

func newRecvBatch(n, bufSize, readLen int) *recvBatch {
	b := &recvBatch{bufs: make([][]byte, n), msgs: make([]ipv4.Message, n)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, bufSize)
		b.msgs[i].Buffers = [][]byte{b.bufs[i][:readLen]}
		b.msgs[i].OOB = make([]byte, recvControlLen+groControlLen)
	}
	return b
}

// recvControlLen is the room for the received packet info of either
// family.
var recvControlLen = max(len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)),
	len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface)))

// remoteAddrPort converts a received message's source address.
func remoteAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua == nil {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}
