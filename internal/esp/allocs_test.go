package esp

import (
	"bytes"
	"testing"
)

// TestAHAndModesNoAllocs: AH sealing and verification in both modes and
// the ESP mode helpers allocate nothing per packet, on success and on
// failure.
func TestAHAndModesNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const runs = 100
	check := func(name string, f func()) {
		t.Helper()
		if a := testing.AllocsPerRun(runs, f); a != 0 {
			t.Errorf("%s allocates %v times per packet", name, a)
		}
	}
	for _, alg := range ahAlgs {
		for _, esn := range []bool{false, true} {
			o, in := newAHPair(t, alg.id, esn)
			pkt := udpIPv6(v6A, v6B, v6Ext{hopByHop: true, routing: true}, 1000, 1)
			buf := make([]byte, ahHeadroom+len(pkt))
			check(alg.name+" SealTransport", func() {
				copy(buf[ahHeadroom:], pkt)
				if _, err := o.SealTransport(buf, ahHeadroom, len(pkt)); err != nil {
					t.Fatal(err)
				}
			})
			tun := tunnelFor("192.0.2.1", "198.51.100.2")
			inner := udpIPv4(v4A, v4B, nil, 1000, 1)
			check(alg.name+" SealTunnel", func() {
				copy(buf[ahHeadroom:], inner)
				if _, err := o.SealTunnel(buf, ahHeadroom, len(inner), tun); err != nil {
					t.Fatal(err)
				}
			})
			sealed := ahSealTunnel(t, o, tun, inner, 1<<20)
			work := make([]byte, len(sealed))
			check(alg.name+" OpenTunnel", func() {
				copy(work, sealed)
				in.window.Reset()
				if _, err := in.OpenTunnel(work); err != nil {
					t.Fatal(err)
				}
			})
			bad := bytes.Clone(sealed)
			bad[len(bad)-1] ^= 1
			check(alg.name+" failing OpenTunnel", func() {
				if _, err := in.OpenTunnel(bad); err == nil {
					t.Fatal("forgery accepted")
				}
			})
		}
	}
	for _, s := range modeSuites {
		o, in := newXformPair(t, s, true)
		pkt := udpIPv6(v6A, v6B, v6Ext{hopByHop: true}, 1000, 1)
		buf := make([]byte, 64+len(pkt)+o.MaxOverhead())
		check(s.name+" SealTransport", func() {
			copy(buf[64:], pkt)
			if _, err := o.SealTransport(buf[:64+len(pkt)], 64, len(pkt)); err != nil {
				t.Fatal(err)
			}
		})
		var sealed [][]byte
		for i := range runs + 1 {
			sealed = append(sealed, espSealTunnel(t, o, tunnelFor("2001:db8::1", "2001:db8::2"), pkt, uint64(i+1)))
		}
		i := 0
		check(s.name+" OpenTunnel", func() {
			if _, _, err := in.OpenTunnel(sealed[i]); err != nil {
				t.Fatal(err)
			}
			i++
		})
	}
}
