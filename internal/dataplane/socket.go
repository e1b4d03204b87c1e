package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
)

// packetConn is the batch UDP seam: *ipv4.PacketConn (recvmmsg/sendmmsg on
// Linux), with an allocation-free ReadBatch on Linux (mmsgConn); tests may
// substitute their own.
type packetConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	WriteTo(b []byte, cm *ipv4.ControlMessage, dst net.Addr) (int, error)
	Close() error
}

// udpSocket is one bound UDP socket (port 500 or 4500).
type udpSocket struct {
	pc   packetConn
	addr netip.Addr      // bound address, possibly 0.0.0.0
	port uint16          // bound port
	rc   syscall.RawConn // for socket options set later (SO_MARK, hostroute.go)

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

// listenUDP binds an IPv4 UDP socket with IP_PKTINFO enabled (to learn the
// local address of received IKE messages and to choose the source of sent
// ones) and large socket buffers.
//
// With offload, UDP GSO and GRO are enabled where the kernel has them
// (offload_linux.go).
func listenUDP(addr netip.Addr, port int, bufSize int, offload bool) (*udpSocket, error) {
	ap := netip.AddrPortFrom(addr, uint16(port))
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen udp: port %d out of range", port)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, listenError(ap, err)
	}
	setSocketBuffers(c, bufSize)
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("listen udp %s: enable IP_PKTINFO: %w", ap, err)
	}
	bound, _ := c.LocalAddr().(*net.UDPAddr)
	if bound == nil {
		c.Close()
		return nil, fmt.Errorf("listen udp %s: no local address", ap)
	}
	s := &udpSocket{pc: newBatchConn(c, pc), addr: addr, port: uint16(bound.Port)}
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

// boundToAny reports whether the socket listens on 0.0.0.0, in which case
// the source address of sent packets is chosen per packet (IP_PKTINFO).
func (s *udpSocket) boundToAny() bool { return s.addr.IsUnspecified() }

// localAddr returns the local address a received datagram was sent to, from
// its IP_PKTINFO control message, falling back to the bound address.
func (s *udpSocket) localAddr(oob []byte) netip.AddrPort {
	addr := s.addr
	if len(oob) > 0 {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) == nil {
			if a, ok := netip.AddrFromSlice(cm.Dst); ok {
				addr = a.Unmap()
			}
		}
	}
	return netip.AddrPortFrom(addr, s.port)
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
		b.msgs[i].OOB = make([]byte, len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface))+groControlLen)
	}
	return b
}

// remoteAddrPort converts a received message's source address.
func remoteAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua == nil {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}
