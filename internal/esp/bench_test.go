package esp

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 512, 1400, 8000}

// BenchmarkSeal measures Seal in place; compare with BenchmarkRawAEAD for
// the cost of ESP framing over the cipher itself.
func BenchmarkSeal(b *testing.B) {
	for _, s := range aeadSuites[:3] {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, n), func(b *testing.B) {
				o, _ := newPair(b, s, false)
				o.maxSeq = ^uint64(0) // b.N may exceed 2^32 on fast machines
				buf := make([]byte, n+o.Overhead(n))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					if _, err := o.Seal(buf, n, 4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen measures Open in place, including the replay check; each
// iteration copies the sealed packet back and resets the window, as a fresh
// packet would arrive.
func BenchmarkOpen(b *testing.B) {
	for _, s := range aeadSuites[:3] {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, n), func(b *testing.B) {
				o, in := newPair(b, s, false)
				sealed := sealPayload(b, o, make([]byte, n), 4)
				buf := make([]byte, len(sealed))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					copy(buf, sealed)
					in.window.Reset()
					if _, _, err := in.Open(buf); err != nil {
						b.Fatal(err)
					}
				}
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
