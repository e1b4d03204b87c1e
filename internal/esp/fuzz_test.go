package esp

import (
	"bytes"
	"testing"
)

// fuzzSA is one SA per suite and sequence number mode with a fixed key, so
// that seeds sealed under it stay valid across runs.
type fuzzSA struct {
	s   testSuite
	esn bool
}

func fuzzSAs() []fuzzSA {
	var sas []fuzzSA
	for _, s := range aeadSuites {
		sas = append(sas, fuzzSA{s, false}, fuzzSA{s, true})
	}
	return sas
}

func (f fuzzSA) keymat() []byte {
	n := f.s.keyBits/8 + 4
	if f.s.keyBits == 0 { // ChaCha20-Poly1305: 256-bit key, no attribute
		n = 36
	}
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(i*13 + int(f.s.encrID))
	}
	return k
}

func (f fuzzSA) pair(tb testing.TB) (*Outbound, *Inbound) {
	a := newAEAD(tb, f.s, f.keymat())
	if f.esn {
		return NewOutboundESN(testSPI, a), NewInboundESN(testSPI, a, 0)
	}
	return NewOutbound(testSPI, a), NewInbound(testSPI, a, 0)
}

// FuzzOpen feeds arbitrary packets to Open: it must never panic, and it
// must never accept anything but a packet that was really sealed under the
// key (the seeds).
func FuzzOpen(f *testing.F) {
	sas := fuzzSAs()
	genuine := make(map[string]bool)
	for i, sa := range sas {
		o, _ := sa.pair(f)
		for _, n := range []int{0, 1, 3, 40, 300} {
			pkt := sealPayload(f, o, bytes.Repeat([]byte{byte(n)}, n), 4)
			genuine[string([]byte{byte(i)})+string(pkt)] = true
			f.Add(uint8(i), bytes.Clone(pkt))
			f.Add(uint8(i), bytes.Clone(pkt[:len(pkt)-1]))
			mod := bytes.Clone(pkt)
			mod[len(mod)/2] ^= 4
			f.Add(uint8(i), mod)
		}
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), []byte{0xc0, 0xde, 0, 0x42, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, sel uint8, pkt []byte) {
		i := int(sel) % len(sas)
		_, in := sas[i].pair(t)
		orig := bytes.Clone(pkt)
		payload, _, err := in.Open(pkt)
		if err != nil {
			if payload != nil {
				t.Fatal("payload returned with an error")
			}
			return
		}
		if !genuine[string([]byte{byte(i)})+string(orig)] {
			t.Fatalf("forged packet accepted: %x", orig)
		}
	})
}
