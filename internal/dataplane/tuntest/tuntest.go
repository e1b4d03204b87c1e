// Package tuntest provides an in-memory TUN device (a tun.Device) so data
// plane tests and benchmarks run without root: the test injects packets as if
// the kernel had routed them into the TUN, and receives what the data plane
// writes back. It plays the role of wireguard-go's tun/tuntest, with batching
// and without per-packet allocations.
package tuntest

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/tun"
)

// VirtioHeaderLen is the headroom the Linux TUN needs in front of every
// written packet (struct virtio_net_hdr); Write rejects smaller offsets so
// tests catch headroom bugs that only the real device would hit.
const VirtioHeaderLen = 10

// Device is an in-memory tun.Device. Packets given to Inject are returned by
// Read (up to BatchSize at a time); packets passed to Write go to the write
// handler. Safe for concurrent use.
type Device struct {
	name  string
	mtu   int
	batch int

	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	slots    [][]byte // ring of preallocated packet buffers
	sizes    []int
	head     int
	count    int
	closed   bool

	onWrite func(pkt []byte)
	events  chan tun.Event
}

// New returns a device with the given name, MTU and batch size (packets per
// Read; at least 1). It queues up to queueLen injected packets (at least
// batch) of up to max(mtu, 2048) bytes each.
func New(name string, mtu, batch, queueLen int) *Device {
	batch = max(batch, 1)
	queueLen = max(queueLen, batch)
	d := &Device{
		name:   name,
		mtu:    mtu,
		batch:  batch,
		slots:  make([][]byte, queueLen),
		sizes:  make([]int, queueLen),
		events: make(chan tun.Event, 1),
	}
	for i := range d.slots {
		d.slots[i] = make([]byte, max(mtu, 2048))
	}
	d.notEmpty.L = &d.mu
	d.notFull.L = &d.mu
	d.events <- tun.EventUp
	return d
}

// SetWriteHandler sets the function that receives every packet the data
// plane writes. It is called synchronously from Write; pkt is only valid
// during the call. Set it before the data plane starts.
func (d *Device) SetWriteHandler(f func(pkt []byte)) {
	d.mu.Lock()
	d.onWrite = f
	d.mu.Unlock()
}

// Inject queues a copy of pkt for Read, blocking while the queue is full. It
// returns os.ErrClosed after Close.
func (d *Device) Inject(pkt []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.count == len(d.slots) && !d.closed {
		d.notFull.Wait()
	}
	if d.closed {
		return os.ErrClosed
	}
	if len(pkt) > len(d.slots[0]) {
		return fmt.Errorf("tuntest: packet of %d bytes exceeds the %d-byte slots", len(pkt), len(d.slots[0]))
	}
	i := (d.head + d.count) % len(d.slots)
	d.sizes[i] = copy(d.slots[i], pkt)
	d.count++
	d.notEmpty.Signal()
	return nil
}

// File returns nil: there is no file descriptor.
func (d *Device) File() *os.File { return nil }

// Read implements tun.Device: it blocks until at least one packet was
// injected, then copies up to min(len(bufs), BatchSize) packets to
// bufs[i][offset:].
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.count == 0 && !d.closed {
		d.notEmpty.Wait()
	}
	if d.closed {
		return 0, os.ErrClosed
	}
	n := 0
	for n < len(bufs) && n < d.batch && d.count > 0 {
		size := d.sizes[d.head]
		if offset < 0 || len(bufs[n]) < offset+size {
			if n == 0 {
				return 0, fmt.Errorf("tuntest: read of %d bytes overflows buffer of %d at offset %d", size, len(bufs[n]), offset)
			}
			break
		}
		sizes[n] = copy(bufs[n][offset:], d.slots[d.head][:size])
		d.head = (d.head + 1) % len(d.slots)
		d.count--
		n++
	}
	d.notFull.Broadcast()
	return n, nil
}

// Write implements tun.Device: it hands each bufs[i][offset:] to the write
// handler. Like the Linux TUN with offloads it needs offset >= 10.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if offset < VirtioHeaderLen {
		return 0, fmt.Errorf("tuntest: write offset %d < virtio header length %d", offset, VirtioHeaderLen)
	}
	d.mu.Lock()
	closed, f := d.closed, d.onWrite
	d.mu.Unlock()
	if closed {
		return 0, os.ErrClosed
	}
	for i, b := range bufs {
		if len(b) <= offset {
			return i, errors.New("tuntest: empty packet")
		}
		if f != nil {
			f(b[offset:])
		}
	}
	return len(bufs), nil
}

// MTU implements tun.Device.
func (d *Device) MTU() (int, error) { return d.mtu, nil }

// Name implements tun.Device.
func (d *Device) Name() (string, error) { return d.name, nil }

// Events implements tun.Device; it reports EventUp once and is closed by
// Close.
func (d *Device) Events() <-chan tun.Event { return d.events }

// BatchSize implements tun.Device.
func (d *Device) BatchSize() int { return d.batch }

// Close implements tun.Device: blocked Read and Inject calls return
// os.ErrClosed.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.events)
	d.notEmpty.Broadcast()
	d.notFull.Broadcast()
	return nil
}

var _ tun.Device = (*Device)(nil)
