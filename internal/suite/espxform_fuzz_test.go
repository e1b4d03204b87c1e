package suite

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzESPTransformOpen feeds arbitrary packets to every transform: no
// panic, only ErrOpen as an error, and anything accepted must be a packet
// that Seal produces from the plaintext Open returned.
func FuzzESPTransformOpen(f *testing.F) {
	xs := make([]ESPTransform, len(xformCases))
	for i, c := range xformCases {
		xs[i] = newTestXform(f, c, 0x42)
		header, iv, pt := testPacket(c, 40, byte(i))
		f.Add(uint8(i), false, uint32(0), header, iv, xs[i].Seal(nil, header, iv, pt, SeqHigh{}))
		f.Add(uint8(i), true, uint32(9), header, iv, xs[i].Seal(nil, header, iv, pt, ESN(9<<32)))
		f.Add(uint8(i), false, uint32(0), header, iv, []byte{})
		f.Add(uint8(i), true, uint32(0), header[:4], iv, make([]byte, 64))
		f.Add(uint8(i), false, uint32(0), header, []byte{1}, make([]byte, c.icv+1))
	}
	f.Fuzz(func(t *testing.T, which uint8, esn bool, hi uint32, header, iv, ct []byte) {
		i := int(which) % len(xs)
		tr := xs[i]
		h := SeqHigh{}
		if esn {
			h = ESN(uint64(hi) << 32)
		}
		in := bytes.Clone(ct)
		pt, err := tr.Open(in[:0], header, iv, in, h)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("%v: unexpected error %v", tr, err)
			}
			return
		}
		if len(pt)+tr.ICVLen() != len(ct) || len(pt)%tr.BlockSize() != 0 {
			t.Fatalf("%v: accepted %d bytes, returned %d of plaintext", tr, len(ct), len(pt))
		}
		if again := tr.Seal(nil, header, iv, pt, h); !bytes.Equal(again, ct) {
			t.Fatalf("%v: opened a packet that does not re-seal to itself", tr)
		}
	})
}
