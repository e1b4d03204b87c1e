package esp

import (
	"fmt"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

var benchSizes = []int{64, 512, 1400, 8000}

// benchTransforms are every ESP transform of the tests: the AEADs, then
// the rest of RFC 8221's.
func benchTransforms(b *testing.B) []struct {
	name string
	xf   suite.ESPTransform
} {
	var out []struct {
		name string
		xf   suite.ESPTransform
	}
	for _, s := range aeadSuites {
		out = append(out, struct {
			name string
			xf   suite.ESPTransform
		}{s.name, suite.AEADTransform(newAEAD(b, s, nil))})
	}
	for _, s := range xformSuites {
		out = append(out, struct {
			name string
			xf   suite.ESPTransform
		}{s.name, newXform(b, s, nil)})
	}
	return out
}

// benchLoop runs op b.N times, then, with the timer stopped, reports
// op's time over raw's as "x-raw": the cost of the ESP or AH framing on
// top of the bare cryptography. The ratio comes from short alternating
// runs of both, so that a machine whose load changes during the
// benchmark still compares like with like.
func benchLoop(b *testing.B, op, raw func()) {
	for range b.N {
		op()
	}
	b.StopTimer()
	var tOp, tRaw time.Duration
	for range 16 {
		start := time.Now()
		for range 64 {
			op()
		}
		tOp += time.Since(start)
		start = time.Now()
		for range 64 {
			raw()
		}
		tRaw += time.Since(start)
	}
	b.ReportMetric(float64(tOp)/float64(tRaw), "x-raw")
}

// BenchmarkSeal measures Seal in place for every transform and payload
// size, and its ratio (x-raw) to the transform's bare Seal over the same
// padded plaintext and an 8-octet header: for the AEADs the raw AEAD, for
// the others the cipher plus HMAC/XCBC.
func BenchmarkSeal(b *testing.B) {
	for _, x := range benchTransforms(b) {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", x.name, n), func(b *testing.B) {
				o := NewOutboundTransform(testSPI, x.xf, false)
				o.maxSeq = ^uint64(0) // b.N may exceed 2^32 on fast machines
				buf := make([]byte, n+o.Overhead(n))
				ptLen := n + padLen(n, o.align) + trailerLen
				raw := make([]byte, ptLen+x.xf.ICVLen())
				hdr, iv := make([]byte, 8), make([]byte, x.xf.IVLen())
				b.SetBytes(int64(n))
				b.ReportAllocs()
				benchLoop(b, func() {
					if _, err := o.Seal(buf, n, 4); err != nil {
						b.Fatal(err)
					}
				}, func() { x.xf.Seal(raw[:0], hdr, iv, raw[:ptLen], suite.SeqHigh{}) })
			})
		}
	}
}

// BenchmarkOpen measures Open in place, including the replay check, and
// its ratio to the transform's bare Open; each iteration copies the
// sealed packet back and resets the window, as a fresh packet would
// arrive (the raw loop copies too).
func BenchmarkOpen(b *testing.B) {
	for _, x := range benchTransforms(b) {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", x.name, n), func(b *testing.B) {
				o := NewOutboundTransform(testSPI, x.xf, false)
				in := NewInboundTransform(testSPI, x.xf, 0, false)
				sealed := sealPayload(b, o, make([]byte, n), 4)
				buf := make([]byte, len(sealed))
				off := o.PayloadOffset()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				benchLoop(b, func() {
					copy(buf, sealed)
					in.window.Reset()
					if _, _, err := in.Open(buf); err != nil {
						b.Fatal(err)
					}
				}, func() {
					copy(buf, sealed)
					if _, err := x.xf.Open(buf[off:off], buf[:HeaderLen], buf[HeaderLen:off], buf[off:], suite.SeqHigh{}); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkRawAEAD is the bare AEAD over the same plaintext (payload plus
// minimal trailer) and an 8-byte AAD: the floor for Seal and Open.
func BenchmarkRawAEAD(b *testing.B) {
	for _, s := range aeadSuites[:3] {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("seal/%s/%d", s.name, n), func(b *testing.B) {
				a := newAEAD(b, s, nil)
				ptLen := n + padLen(n, 4) + 2
				buf := make([]byte, ptLen+a.ICVLen())
				iv, aad := make([]byte, 8), make([]byte, 8)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					a.Seal(buf[:0], iv, buf[:ptLen], aad)
				}
			})
			b.Run(fmt.Sprintf("open/%s/%d", s.name, n), func(b *testing.B) {
				a := newAEAD(b, s, nil)
				ptLen := n + padLen(n, 4) + 2
				iv, aad := make([]byte, 8), make([]byte, 8)
				sealed := a.Seal(nil, iv, make([]byte, ptLen), aad)
				buf := make([]byte, len(sealed))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					copy(buf, sealed)
					if _, err := a.Open(buf[:0], iv, buf, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAHSeal measures AH transport-mode sealing of an IPv4 and an
// IPv6 packet of n octets, and its ratio (x-raw) to the bare HMAC, XCBC
// or GMAC over the same number of octets.
func BenchmarkAHSeal(b *testing.B) {
	for _, alg := range ahAlgs {
		for _, v6 := range []bool{false, true} {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("%s/%s/%d", alg.name, ipName(v6), n), func(b *testing.B) {
					m := newInteg(b, alg.id, nil)
					o := NewAHOutbound(testSPI, m, false)
					o.seq.max = ^uint64(0)
					pkt := benchIPPacket(v6, n)
					buf := make([]byte, ahHeadroom+len(pkt))
					sealedLen := len(pkt) + o.HeaderLen(v6)
					raw := make([]byte, sealedLen)
					icv := make([]byte, 0, 64)
					b.SetBytes(int64(n))
					b.ReportAllocs()
					benchLoop(b, func() {
						copy(buf[ahHeadroom:], pkt) // SealTransport moves the header
						if _, err := o.SealTransport(buf, ahHeadroom, len(pkt)); err != nil {
							b.Fatal(err)
						}
					}, func() {
						copy(buf[ahHeadroom:], pkt)
						m.SumIV(icv, rawIV[:m.IVLen()], suite.SeqHigh{}, raw)
					})
				})
			}
		}
	}
}

// BenchmarkAHOpen measures AH transport-mode verification and removal,
// including the replay check, and its ratio to the bare MAC over the
// sealed packet.
func BenchmarkAHOpen(b *testing.B) {
	for _, alg := range ahAlgs {
		for _, v6 := range []bool{false, true} {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("%s/%s/%d", alg.name, ipName(v6), n), func(b *testing.B) {
					m := newInteg(b, alg.id, nil)
					o, in := NewAHOutbound(testSPI, m, false), NewAHInbound(testSPI, m, 0, false)
					sealed := ahSealTransport(b, o, benchIPPacket(v6, n), 1)
					buf := make([]byte, len(sealed))
					icv := make([]byte, 0, 64)
					b.SetBytes(int64(n))
					b.ReportAllocs()
					benchLoop(b, func() {
						copy(buf, sealed)
						in.window.Reset()
						if _, err := in.OpenTransport(buf); err != nil {
							b.Fatal(err)
						}
					}, func() {
						copy(buf, sealed)
						m.SumIV(icv, rawIV[:m.IVLen()], suite.SeqHigh{}, buf)
					})
				})
			}
		}
	}
}

// rawIV is the IV of the bare AES-GMAC the AH benchmarks compare with.
var rawIV [8]byte

func ipName(v6 bool) string {
	if v6 {
		return "ipv6"
	}
	return "ipv4"
}

// benchIPPacket returns an IP/UDP packet of n octets in all (n >= 48).
func benchIPPacket(v6 bool, n int) []byte {
	if v6 {
		return udpIPv6(v6A, v6B, v6Ext{}, n-packet.IPv6HeaderLen-packet.UDPHeaderLen, 1)
	}
	return udpIPv4(v4A, v4B, nil, n-packet.IPv4MinHeader-packet.UDPHeaderLen, 1)
}
