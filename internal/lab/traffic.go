package lab

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Ping runs `ping -I src -c count -W 1 -i 0.2 dst` inside ns and returns its
// output. An invalid src leaves the source to the kernel. ping exits
// non-zero when no reply came back; the error then carries the output.
func Ping(ctx context.Context, ns *Namespace, src, dst netip.Addr, count int) (string, error) {
	if !dst.IsValid() {
		return "", errors.New("lab: Ping: invalid destination")
	}
	if count < 1 {
		count = 1
	}
	argv := []string{"ping"}
	if src.IsValid() {
		argv = append(argv, "-I", src.String())
	}
	argv = append(argv, "-c", strconv.Itoa(count), "-W", "1", "-i", "0.2", dst.String())
	out, err := ns.Run(ctx, argv...)
	return string(out), err
}

// TransferResult describes one TCP transfer between two namespaces.
type TransferResult struct {
	Bytes    int64         // bytes the receiver got
	Duration time.Duration // from the first write to the receiver seeing EOF
	Intact   bool          // the receiver got exactly the bytes that were sent
}

// Mbps returns the goodput in Mbit/s (0 for a zero Duration).
func (r TransferResult) Mbps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e6
}

func (r TransferResult) String() string {
	return fmt.Sprintf("%d bytes in %v (%.1f Mbit/s, intact=%v)", r.Bytes, r.Duration.Round(time.Millisecond), r.Mbps(), r.Intact)
}

// ErrCorrupt is wrapped by TCPTransfer and TCPThroughput when the receiver
// did not get exactly what was sent.
var ErrCorrupt = errors.New("lab: transferred data differs from what was sent")

// TCPTransfer sends n random bytes over one TCP connection from src (in
// from) to dst (in to) and compares SHA-256 digests of what was sent and
// what arrived. Sockets are created inside the namespaces by this process,
// so no helper binary is needed. An invalid src lets the kernel choose.
// Cancel ctx to abort a stuck transfer.
func TCPTransfer(ctx context.Context, from, to *Namespace, src, dst netip.Addr, n int64) (TransferResult, error) {
	if n < 0 {
		return TransferResult{}, errors.New("lab: TCPTransfer: negative length")
	}
	var sentSum, gotSum [sha256.Size]byte
	send := func(c *net.TCPConn) (int64, error) {
		var seed [32]byte
		crand.Read(seed[:])
		h := sha256.New()
		src := io.LimitReader(rand.NewChaCha8(seed), n)
		written, err := io.CopyBuffer(c, io.TeeReader(src, h), make([]byte, 128<<10))
		h.Sum(sentSum[:0])
		return written, err
	}
	recv := func(c *net.TCPConn) (int64, error) {
		h := sha256.New()
		got, err := io.CopyBuffer(h, c, make([]byte, 128<<10))
		h.Sum(gotSum[:0])
		return got, err
	}
	res, err := transfer(ctx, from, to, src, dst, send, recv)
	if err != nil {
		return res, err
	}
	res.Intact = res.Bytes == n && sentSum == gotSum
	if !res.Intact {
		return res, fmt.Errorf("%w: %s -> %s: sent %d bytes sha256 %x, received %d bytes sha256 %x",
			ErrCorrupt, src, dst, n, sentSum[:8], res.Bytes, gotSum[:8])
	}
	return res, nil
}

// TCPThroughput sends for d over one TCP connection from src (in from) to
// dst (in to) and reports what arrived. The sender repeats a 1 MiB random
// pattern and the receiver compares every byte against it (a memcmp, so
// checking costs far less than the transfer it checks).
func TCPThroughput(ctx context.Context, from, to *Namespace, src, dst netip.Addr, d time.Duration) (TransferResult, error) {
	if d <= 0 {
		return TransferResult{}, errors.New("lab: TCPThroughput: duration must be positive")
	}
	pattern := make([]byte, 1<<20)
	crand.Read(pattern)
	var sent int64
	matched := true
	send := func(c *net.TCPConn) (int64, error) {
		// The write deadline ends the run on time even when the path stalls.
		if err := c.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return 0, err
		}
		const chunk = 64 << 10
		off := 0
		for {
			w, err := c.Write(pattern[off:min(off+chunk, len(pattern))])
			sent += int64(w)
			off = (off + w) % len(pattern)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return sent, nil
			}
			if err != nil {
				return sent, err
			}
		}
	}
	recv := func(c *net.TCPConn) (int64, error) {
		buf := make([]byte, 256<<10)
		var got int64
		off := 0
		for {
			r, err := c.Read(buf)
			if r > 0 {
				if matched && !cyclicEqual(pattern, off, buf[:r]) {
					matched = false
				}
				off = (off + r) % len(pattern)
				got += int64(r)
			}
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				return got, err
			}
		}
	}
	res, err := transfer(ctx, from, to, src, dst, send, recv)
	if err != nil {
		return res, err
	}
	res.Intact = matched && res.Bytes == sent
	if !res.Intact {
		return res, fmt.Errorf("%w: %s -> %s: sent %d bytes, received %d, pattern intact %v",
			ErrCorrupt, src, dst, sent, res.Bytes, matched)
	}
	return res, nil
}

// cyclicEqual reports whether b equals the endless repetition of pattern
// starting at offset off.
func cyclicEqual(pattern []byte, off int, b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), len(pattern)-off)
		if !bytes.Equal(b[:k], pattern[off:off+k]) {
			return false
		}
		b = b[k:]
		off = 0
	}
	return true
}

// transfer connects from src (in from) to a fresh listener on dst (in to),
// runs send on the client (then half-closes it) and recv on the server until
// EOF, and times the exchange. Result.Intact is left for the caller.
func transfer(ctx context.Context, from, to *Namespace, src, dst netip.Addr,
	send func(*net.TCPConn) (int64, error), recv func(*net.TCPConn) (int64, error)) (TransferResult, error) {
	if !dst.IsValid() {
		return TransferResult{}, errors.New("lab: transfer: invalid destination")
	}
	if src.IsValid() && src.Is4() != dst.Is4() {
		return TransferResult{}, fmt.Errorf("lab: transfer: address families differ: %s -> %s", src, dst)
	}
	network := "tcp4"
	if dst.Is6() {
		network = "tcp6"
	}
	var ln *net.TCPListener
	err := to.Do(func() error {
		var err error
		ln, err = net.ListenTCP(network, net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	})
	if err != nil {
		return TransferResult{}, fmt.Errorf("lab: transfer: listen on %s in %s: %w", dst, to.Name, err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	type accepted struct {
		c   *net.TCPConn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.AcceptTCP()
		acc <- accepted{c, err}
	}()
	stopAccept := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopAccept()

	var out *net.TCPConn
	err = from.Do(func() error {
		// A literal address makes DialContext dial on this goroutine, so the
		// socket is created inside the namespace.
		var d net.Dialer
		if src.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(dst, port).String())
		if err != nil {
			return err
		}
		out = c.(*net.TCPConn)
		return nil
	})
	if err != nil {
		ln.Close()
		if a := <-acc; a.c != nil {
			a.c.Close()
		}
		return TransferResult{}, fmt.Errorf("lab: transfer: dial %s from %s in %s: %w", dst, src, from.Name, err)
	}
	defer out.Close()
	a := <-acc
	if a.err != nil {
		return TransferResult{}, fmt.Errorf("lab: transfer: accept in %s: %w", to.Name, a.err)
	}
	in := a.c
	defer in.Close()
	stopConns := context.AfterFunc(ctx, func() { in.Close(); out.Close() })
	defer stopConns()

	type sendResult struct {
		n   int64
		err error
	}
	sendc := make(chan sendResult, 1)
	start := time.Now()
	go func() {
		n, err := send(out)
		if err == nil {
			err = out.CloseWrite()
		}
		sendc <- sendResult{n, err}
	}()
	got, rerr := recv(in)
	res := TransferResult{Bytes: got, Duration: time.Since(start)}
	if rerr != nil {
		out.Close() // unblock a sender stuck on a full window
	}
	s := <-sendc
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("lab: transfer %s -> %s: %w (received %d bytes)", src, dst, err, got)
	}
	if s.err != nil {
		return res, fmt.Errorf("lab: transfer %s -> %s: send: %w", src, dst, s.err)
	}
	if rerr != nil {
		return res, fmt.Errorf("lab: transfer %s -> %s: receive: %w", src, dst, rerr)
	}
	return res, nil
}
