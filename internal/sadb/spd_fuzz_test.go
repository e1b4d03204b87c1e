package sadb

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/goipsec/goipsec/internal/ts"
)

// fuzzReader turns fuzz input into selectors and packets; it returns zeros
// once the input is used up, so every input is a valid program.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

// addr draws from a small space (so that ranges overlap) around bit
// positions where the index changes words.
func (r *fuzzReader) addr(v6 bool) netip.Addr {
	x, y := r.byte(), r.byte()
	if !v6 {
		return netip.AddrFrom4([4]byte{10, x >> 6, x << 2, y})
	}
	var b [16]byte
	b[0], b[7], b[8], b[15] = 0x20, x&0x81, y&0x80, y<<1|x>>7
	return netip.AddrFrom16(b)
}

func (r *fuzzReader) sel(v6 bool) ts.Selector {
	op := r.byte()
	a := r.addr(v6)
	var s ts.Selector
	if op&1 == 0 {
		s = ts.FromPrefix(netip.PrefixFrom(a, int(r.byte())%(a.BitLen()+1)))
	} else {
		b := r.addr(v6)
		if b.Less(a) {
			a, b = b, a
		}
		s = ts.FromRange(a, b)
	}
	if op&2 != 0 {
		s.Proto = []uint8{ts.ProtoTCP, ts.ProtoUDP, ts.ProtoICMP}[int(op>>2)%3]
	}
	switch op >> 4 & 3 {
	case 1:
		s.StartPort = r.u16() % 8
		s.EndPort = s.StartPort + r.u16()%4
	case 2:
		s.StartPort, s.EndPort = 65535, 0
	}
	return s
}

// FuzzSPDIndexVsLinear builds an SPD and the linear reference from the
// input (adds, removes, lookups interleaved) and fails on any difference.
func FuzzSPDIndexVsLinear(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x01\x80\x00\x00\x18\x00\x00\x00\x00\x20\x02\x02\x02\x02\x02\x02\x02"))
	f.Add(binary.BigEndian.AppendUint64(nil, 0xdeadbeefcafef00d))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2048 {
			return
		}
		r := &fuzzReader{b: data}
		v6 := r.byte()&1 == 1
		var d SPD
		ref := &linearSPD{}
		var ids []PolicyID
		for len(r.b) > 0 {
			switch op := r.byte(); op % 4 {
			case 0, 1:
				p := Policy{Action: Action(op >> 2 % 3), ReqID: uint32(op), Local: r.sel(v6), Remote: r.sel(v6)}
				if op&0x40 != 0 {
					p.Priority = uint32(1 + op>>5&3)
				}
				id, err := d.Add(p)
				if err != nil {
					// Only selectors that can never match are refused.
					if p.Local.Valid() && p.Remote.Valid() {
						t.Fatalf("Add(%v === %v): %v", p.Local, p.Remote, err)
					}
					continue
				}
				ref.add(id, p, refPriority(p))
				ids = append(ids, id)
			case 2:
				if len(ids) == 0 {
					continue
				}
				i := int(r.byte()) % len(ids)
				if !d.Remove(ids[i]) {
					t.Fatalf("Remove(%d) failed", ids[i])
				}
				ref.remove(ids[i])
				ids = append(ids[:i], ids[i+1:]...)
			case 3:
				src, dst := r.addr(v6), r.addr(v6)
				proto := []uint8{ts.ProtoTCP, ts.ProtoUDP, ts.ProtoICMP, 0}[r.byte()%4]
				sp, dp := r.u16()%12, r.u16()%12
				want := ref.lookup(src, dst, proto, sp, dp)
				if got := d.Outbound(src, dst, proto, sp, dp); got.ID() != want {
					t.Fatalf("Outbound(%v, %v, %d, %d, %d) = %d, want %d", src, dst, proto, sp, dp, got.ID(), want)
				}
			}
		}
		if d.Len() != len(ref.list) {
			t.Fatalf("Len %d, reference %d", d.Len(), len(ref.list))
		}
	})
}
