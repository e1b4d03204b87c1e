package dataplane

import (
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// setSocketBuffers asks for large receive and send buffers: SO_RCVBUFFORCE
// and SO_SNDBUFFORCE (which ignore net.core.rmem_max; root or CAP_NET_ADMIN
// only), falling back to the capped SO_RCVBUF and SO_SNDBUF.
func setSocketBuffers(c bufferedConn, size int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var rcvErr, sndErr error
	_ = rc.Control(func(fd uintptr) {
		rcvErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		sndErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	})
	if rcvErr != nil {
		_ = c.SetReadBuffer(size)
	}
	if sndErr != nil {
		_ = c.SetWriteBuffer(size)
	}
}

// pktinfoLen is the size of an IP_PKTINFO or (the larger) IPV6_PKTINFO
// control message.
var pktinfoLen = max(unix.CmsgSpace(unix.SizeofInet4Pktinfo), unix.CmsgSpace(unix.SizeofInet6Pktinfo))

// putPktinfo encodes an IP_PKTINFO control message into b that makes the
// kernel send from src (ipi_spec_dst, ip(7)) and returns it; b must hold
// pktinfoLen bytes and be 8-byte aligned (a make([]byte) of that size is).
// It allocates nothing, unlike ipv4.ControlMessage.Marshal.
func putPktinfo(b []byte, src [4]byte) []byte {
	if len(b) < pktinfoLen {
		return nil
	}
	b = b[:unix.CmsgSpace(unix.SizeofInet4Pktinfo)]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_IP
	h.Type = unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
	pi.Spec_dst = src
	return b
}

// putPktinfo6 is putPktinfo for IPv6: an IPV6_PKTINFO control message
// with ipi6_addr src (RFC 3542 6.1, ipv6(7)) and no interface, so the
// kernel sends from src by the routing table.
func putPktinfo6(b []byte, src [16]byte) []byte {
	if len(b) < pktinfoLen {
		return nil
	}
	b = b[:unix.CmsgSpace(unix.SizeofInet6Pktinfo)]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
	pi.Addr = src
	return b
}

// msgTrunc is set in a received message's flags when the datagram was
// larger than the buffer.
const msgTrunc = unix.MSG_TRUNC

// mmsgConn is an *ipv4.PacketConn whose ReadBatch allocates nothing per
// datagram: golang.org/x/net's ReadBatch allocates a new *net.UDPAddr for
// every message, this one writes the sender's address into the
// *net.UDPAddr already in Message.Addr (allocating one per slot the first
// time). The address is only valid until the next ReadBatch. Messages must
// have exactly one buffer; others fall back to x/net. The socket is IPv4
// or IPv6 (v6); the address buffers hold either.
type mmsgConn struct {
	packetConn
	rc syscall.RawConn
	v6 bool

	mu     sync.Mutex // guards everything below
	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet6 // large enough for a sockaddr_in too
	readFn func(fd uintptr) bool   // c.recvmmsg, bound once: a closure per call would allocate
	count  int                     // recvmmsg arguments and results
	flags  int
	n      int
	errno  syscall.Errno

	wmu sync.Mutex // guards w
	w   writeState
}

func newBatchConn(c syscall.Conn, pc packetConn, v6 bool) packetConn {
	rc, err := c.SyscallConn()
	if err != nil {
		return pc
	}
	mc := &mmsgConn{packetConn: pc, rc: rc, v6: v6}
	mc.readFn = mc.recvmmsg
	return mc
}

// recvmmsg is the rc.Read callback: false means "would block, wait".
func (c *mmsgConn) recvmmsg(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.hdrs[0])), uintptr(c.count), uintptr(c.flags|unix.MSG_DONTWAIT), 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	c.n, c.errno = int(r), e
	return true
}

func (c *mmsgConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	for i := range ms {
		if len(ms[i].Buffers) != 1 || len(ms[i].Buffers[0]) == 0 {
			return c.packetConn.ReadBatch(ms, flags)
		}
	}
	if len(ms) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hdrs) < len(ms) {
		c.hdrs = make([]unix.Mmsghdr, len(ms))
		c.iovs = make([]unix.Iovec, len(ms))
		c.names = make([]unix.RawSockaddrInet6, len(ms))
	}
	for i := range ms {
		b := ms[i].Buffers[0]
		c.iovs[i].Base = &b[0]
		c.iovs[i].SetLen(len(b))
		h := &c.hdrs[i]
		h.Len = 0
		h.Hdr.Name = (*byte)(unsafe.Pointer(&c.names[i]))
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Iov = &c.iovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Flags = 0
		if oob := ms[i].OOB; len(oob) > 0 {
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(len(oob))
		} else {
			h.Hdr.Control = nil
			h.Hdr.SetControllen(0)
		}
	}
	c.count, c.flags, c.n, c.errno = len(ms), flags, 0, 0
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.errno != 0 {
		return 0, &net.OpError{Op: "recvmmsg", Net: "udp", Err: os.NewSyscallError("recvmmsg", c.errno)}
	}
	n := c.n
	for i := range min(n, len(ms)) {
		m, h := &ms[i], &c.hdrs[i]
		m.N = int(h.Len)
		m.NN = int(h.Hdr.Controllen)
		m.Flags = int(h.Hdr.Flags)
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok || ua == nil || cap(ua.IP) < net.IPv6len {
			ua = &net.UDPAddr{IP: make(net.IP, net.IPv6len)}
			m.Addr = ua
		}
		sa := &c.names[i]
		var port *[2]byte // network byte order
		switch sa.Family {
		case unix.AF_INET:
			sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
			ua.IP = ua.IP[:net.IPv4len]
			copy(ua.IP, sa4.Addr[:])
			port = (*[2]byte)(unsafe.Pointer(&sa4.Port))
		case unix.AF_INET6:
			ua.IP = ua.IP[:net.IPv6len]
			copy(ua.IP, sa.Addr[:])
			port = (*[2]byte)(unsafe.Pointer(&sa.Port))
		default:
			m.Addr = nil
			continue
		}
		ua.Port = int(port[0])<<8 | int(port[1])
		ua.Zone = ""
	}
	return n, nil
}
