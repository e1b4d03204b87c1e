package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/goipsec/goipsec/internal/esp"
)

// gsoRefusingConn is a packetConn whose path cannot segment: a message
// with more than one buffer fails with errno; single datagrams are
// recorded.
type gsoRefusingConn struct {
	errno syscall.Errno
	sent  [][]byte
}

func (c *gsoRefusingConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return 0, net.ErrClosed
}

func (c *gsoRefusingConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	for i, m := range ms {
		if len(m.Buffers) > 1 {
			return i, &net.OpError{Op: "sendmmsg", Err: c.errno}
		}
		c.sent = append(c.sent, bytes.Clone(m.Buffers[0]))
	}
	return len(ms), nil
}

func (c *gsoRefusingConn) WriteTo(b []byte, cm *ipv4.ControlMessage, dst net.Addr) (int, error) {
	return len(b), nil
}

func (c *gsoRefusingConn) Close() error { return nil }

// TestGSOFallback: when the path refuses a GSO message (EIO: no checksum
// offload, EINVAL: segment larger than the path MTU) its segments go out
// one datagram each, in order, nothing is counted lost, and after EIO GSO
// stays off.
func TestGSOFallback(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.EINVAL} {
		t.Run(errno.Error(), func(t *testing.T) {
			d, _ := fuzzDataplane(t)
			fc := &gsoRefusingConn{errno: errno}
			d.natt.pc = fc
			d.natt.gso.Store(true)
			b := newOutBatch(8, DefaultMTU)
			for i := range 8 {
				pkt := ipv4UDP("10.2.0.7", "10.1.0.5", 1, 2, make([]byte, 1000))
				pkt[len(pkt)-1] = byte(i) // tell them apart
				b.sizes[i] = copy(b.bufs[i][outHeadroom:], pkt)
			}
			b.count = 8
			for i := range 8 {
				d.prepareOut(b, i)
			}
			b.process(d, 0, 8)
			d.sendBatch(b)
			if got := d.stats.gsoMessages.Load(); got != 1 {
				t.Fatalf("%d GSO messages built, want 1 (eight equal packets)", got)
			}
			if len(fc.sent) != 8 {
				t.Fatalf("%d datagrams sent, want 8", len(fc.sent))
			}
			for i, p := range fc.sent {
				if !bytes.Equal(p, b.pkts[i].esp) {
					t.Fatalf("datagram %d is not packet %d", i, i)
				}
			}
			if c := d.Counters(); c.SendErrors != 0 {
				t.Errorf("send errors %d", c.SendErrors)
			}
			if want := errno != syscall.EIO; d.natt.gso.Load() != want {
				t.Errorf("GSO on = %v after %v, want %v", d.natt.gso.Load(), errno, want)
			}
		})
	}
}

// groControl builds the UDP_GRO control message the kernel attaches to a
// coalesced datagram (udp(7)): the segment size as an int.
func groControl(size int) []byte {
	b := make([]byte, groControlLen)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], uint32(size))
	return b
}

// TestGROSplit: a coalesced datagram of three equal ESP packets and a
// shorter last one is cut at the segment size from UDP_GRO and every
// segment opens.
func TestGROSplit(t *testing.T) {
	d, peerOut := fuzzDataplane(t)
	d.natt.gro = true
	var data []byte
	var want [][]byte
	for i, n := range []int{500, 500, 500, 120} {
		inner := ipv4UDP("10.1.0.5", "10.2.0.7", 1, 2, make([]byte, n))
		inner[len(inner)-1] = byte(i)
		want = append(want, inner)
		data = append(data, seal(t, peerOut, inner, 4)...)
	}
	segSize := len(seal(t, esp.NewOutbound(1, newAEAD(t, 1)), want[0], 4))
	b := newInBatch(1)
	copy(b.bufs[0], data)
	m := &b.msgs[0]
	m.N = len(data)
	m.NN = copy(m.OOB, groControl(segSize))
	m.Addr = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4500}
	d.splitDatagram(d.natt, b, m, b.bufs[0])
	if b.nsegs != 4 {
		t.Fatalf("%d segments, want 4", b.nsegs)
	}
	b.process(d, 0, b.nsegs)
	for i := range 4 {
		if !bytes.Equal(b.segs[i].inner, want[i]) {
			t.Fatalf("segment %d: got %d bytes, want packet %d", i, len(b.segs[i].inner), i)
		}
	}
	if c := d.Counters(); c.Malformed != 0 || c.Auth != 0 {
		t.Fatalf("drops: %+v", c)
	}
}
