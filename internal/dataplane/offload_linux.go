package dataplane

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP segmentation offload on the NAT-T socket (udp(7), UDP_SEGMENT and
// UDP_GRO; the technique of golang.zx2c4.com/wireguard/conn): a run of
// equal-size ESP packets to the same peer leaves in one sendmsg as one
// GSO super-datagram, which crosses the stack (and a veth pair) as a single
// skb and is cut into datagrams as late as possible; with UDP_GRO the
// receiving socket gets such runs back as one datagram and a control
// message with the segment size. Both save per-packet trips through the
// UDP/IP stack, the biggest cost in the first profile (sendmmsg of single
// datagrams was 31% of the machine's CPU).

// udpGSOMaxSegments is the kernel's UDP_MAX_SEGMENTS (include/linux/udp.h;
// 64 before Linux 6.9, 128 after): we stay within the older limit.
const udpGSOMaxSegments = 64

// gsoControlLen is the size of a UDP_SEGMENT control message (a uint16).
var gsoControlLen = unix.CmsgSpace(2)

// groControlLen is the size of a UDP_GRO control message (an int).
var groControlLen = unix.CmsgSpace(4)

// enableOffload turns UDP_GRO on for the socket and reports whether the
// kernel knows UDP_SEGMENT (getsockopt succeeds) and whether GRO is on.
func enableOffload(c *net.UDPConn) (gso, gro bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		gso = err == nil
		gro = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	})
	return gso, gro
}

// putUDPSegment appends a UDP_SEGMENT control message for segments of
// size bytes to oob, within its capacity (callers size it with
// gsoControlLen to spare), and returns the extended slice.
func putUDPSegment(oob []byte, size uint16) []byte {
	n := len(oob)
	if cap(oob)-n < gsoControlLen {
		return oob
	}
	oob = oob[:n+gsoControlLen]
	b := oob[n:]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], size)
	return oob
}

// groSegmentSize returns the segment size of a coalesced datagram from its
// UDP_GRO control message, 0 if it has none (a plain datagram). It parses
// without allocating.
func groSegmentSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			return int(binary.NativeEndian.Uint16(oob[unix.CmsgLen(0):]))
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}

// isGSOError reports whether a send failed because the path cannot do
// segmentation offload (EIO: no checksum offload on the device) or the
// segment size does not fit it (EINVAL: larger than the path MTU): the
// caller retries the segments as single datagrams.
func isGSOError(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL)
}

// writeState is mmsgConn's send side, separate from the receive side so
// that the two directions never wait for each other.
type writeState struct {
	hdrs    []unix.Mmsghdr
	iovs    []unix.Iovec
	names   []unix.RawSockaddrInet6 // or a sockaddr_in on an IPv4 socket
	writeFn func(fd uintptr) bool
	count   int
	n       int
	errno   syscall.Errno
}

func (c *mmsgConn) sendmmsg(fd uintptr) bool {
	w := &c.w
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[0])), uintptr(w.count), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	w.n, w.errno = int(r), e
	return true
}

// WriteBatch is sendmmsg without allocating: every message is one datagram
// (or, with a UDP_SEGMENT control message, one GSO run) gathered from its
// Buffers, to the *net.UDPAddr in Addr. It returns how many messages were
// sent; on error, message n is the one that failed.
func (c *mmsgConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := &c.w
	niov := 0
	for i := range ms {
		niov += len(ms[i].Buffers)
	}
	if len(w.hdrs) < len(ms) {
		w.hdrs = make([]unix.Mmsghdr, len(ms))
		w.names = make([]unix.RawSockaddrInet6, len(ms))
	}
	if len(w.iovs) < niov {
		w.iovs = make([]unix.Iovec, niov)
	}
	if w.writeFn == nil {
		w.writeFn = c.sendmmsg
	}
	iov := 0
	for i := range ms {
		m, h := &ms[i], &w.hdrs[i]
		*h = unix.Mmsghdr{}
		first := iov
		for _, b := range m.Buffers {
			if len(b) == 0 {
				continue
			}
			w.iovs[iov].Base = &b[0]
			w.iovs[iov].SetLen(len(b))
			iov++
		}
		if iov > first {
			h.Hdr.Iov = &w.iovs[first]
			h.Hdr.SetIovlen(iov - first)
		}
		if ua, ok := m.Addr.(*net.UDPAddr); ok && ua != nil {
			sa := &w.names[i]
			*sa = unix.RawSockaddrInet6{}
			var port *[2]byte
			if c.v6 {
				sa.Family = unix.AF_INET6
				copy(sa.Addr[:], ua.IP.To16())
				port = (*[2]byte)(unsafe.Pointer(&sa.Port))
				h.Hdr.Namelen = unix.SizeofSockaddrInet6
			} else {
				sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
				sa4.Family = unix.AF_INET
				if ip4 := ua.IP.To4(); ip4 != nil {
					copy(sa4.Addr[:], ip4)
				}
				port = (*[2]byte)(unsafe.Pointer(&sa4.Port))
				h.Hdr.Namelen = unix.SizeofSockaddrInet4
			}
			port[0], port[1] = byte(ua.Port>>8), byte(ua.Port)
			h.Hdr.Name = (*byte)(unsafe.Pointer(sa))
		}
		if len(m.OOB) > 0 {
			h.Hdr.Control = &m.OOB[0]
			h.Hdr.SetControllen(len(m.OOB))
		}
	}
	w.count, w.n, w.errno = len(ms), 0, 0
	if err := c.rc.Write(w.writeFn); err != nil {
		return 0, err
	}
	if w.errno != 0 {
		return 0, &net.OpError{Op: "sendmmsg", Net: "udp", Err: os.NewSyscallError("sendmmsg", w.errno)}
	}
	return w.n, nil
}
