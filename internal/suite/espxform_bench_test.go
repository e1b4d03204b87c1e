package suite

import (
	"fmt"
	"strings"
	"testing"
)

var xformBenchSizes = []int{64, 512, 1400, 8000}

// xformBenchCases are the transforms benchmarked: every cipher and every
// integrity algorithm at least once.
var xformBenchCases = func() []xformCase {
	want := map[string]bool{}
	for _, n := range []string{
		"AES_GCM_16_128", "AES_GCM_8_128", "AES_GCM_16_256", "CHACHA20_POLY1305",
		"AES_CCM_16_128", "AES_CCM_8_256", "NULL_AES_GMAC_128", "NULL_AES_GMAC_256",
		"AES_CBC_128/HMAC_SHA2_256_128", "AES_CBC_256/HMAC_SHA2_512_256", "AES_CBC_128/HMAC_SHA1_96",
		"AES_CBC_128/HMAC_SHA2_384_192", "AES_CBC_128/AES_XCBC_96",
		"AES_CTR_128/HMAC_SHA2_256_128", "AES_CTR_256/HMAC_SHA2_512_256",
		"3DES/HMAC_SHA1_96", "NULL/HMAC_SHA2_256_128", "NULL/AES_XCBC_96",
	} {
		want[n] = true
	}
	var cs []xformCase
	for _, c := range xformCases {
		if want[c.name] {
			cs = append(cs, c)
		}
	}
	return cs
}()

// BenchmarkESPTransform measures Seal and Open in place on a payload of
// each size (padded to the block size), as the ESP data plane calls them.
// Both must report 0 allocs/op.
func BenchmarkESPTransform(b *testing.B) {
	for _, c := range xformBenchCases {
		name := strings.ReplaceAll(c.name, "/", "+")
		for _, n := range xformBenchSizes {
			header, iv, pt := testPacket(c, n, 1)
			b.Run(fmt.Sprintf("%s/seal/%d", name, n), func(b *testing.B) {
				tr := newTestXform(b, c, 1)
				buf := make([]byte, len(pt), len(pt)+c.icv)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					tr.Seal(buf[:0], header, iv, buf, SeqHigh{})
				}
			})
			b.Run(fmt.Sprintf("%s/open/%d", name, n), func(b *testing.B) {
				tr := newTestXform(b, c, 1)
				sealed := tr.Seal(nil, header, iv, pt, SeqHigh{})
				buf := make([]byte, len(sealed))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					copy(buf, sealed)
					if _, err := tr.Open(buf[:0], header, iv, buf, SeqHigh{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
