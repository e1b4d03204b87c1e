package esp

import (
	"bytes"
	"sync"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// TestAHIPv4SourceRoute: with a loose source route the destination is
// mutable but predictable (RFC 4302 3.3.3.1.1.1): the sender computes the
// ICV with the final destination, the last address of the route, and the
// option (mutable, Appendix A.1) as zeros; the routers rewrite both.
func TestAHIPv4SourceRoute(t *testing.T) {
	final := [4]byte{203, 0, 113, 9}
	opts := []byte{packet.IPv4OptLSRR, 7, 4, final[0], final[1], final[2], final[3], packet.IPv4OptEOL}
	pkt := udpIPv4(v4A, v4B, opts, 30, 1) // v4B: the first hop
	o, in := newAHPair(t, ike.IntegHMACSHA256_128, false)
	sealed := ahSealTransport(t, o, pkt, 1)
	if got := packet.IPv4(sealed).Dst(); got != v4B {
		t.Fatalf("SealTransport changed the sent destination to %v", got)
	}
	// The first hop swaps in the next address and records its own.
	copy(sealed[16:20], final[:])
	copy(sealed[23:27], v4B.AsSlice())
	sealed[22] = 8
	packet.IPv4(sealed).UpdateChecksum()
	if _, err := in.OpenTransport(bytes.Clone(sealed)); err != nil {
		t.Fatalf("after source routing: %v", err)
	}
	// Without the route followed, the destination is not the predicted one.
	unrouted := ahSealTransport(t, o, pkt, 2)
	if _, err := in.OpenTransport(unrouted); err == nil {
		t.Fatal("ICV did not cover the predicted destination")
	}
}

// TestAHIPv6RoutingType0: a Routing header with two addresses still to
// visit is put into its final state for the ICV (RFC 4302 Appendix A.2).
func TestAHIPv6RoutingType0(t *testing.T) {
	wp1, wp2 := v6R.As16(), v6B.As16()
	rh := append([]byte{packet.ProtoUDP, 4, 0, 2, 0, 0, 0, 0}, wp1[:]...)
	rh = append(rh, wp2[:]...) // the final destination last
	udpLen := packet.UDPHeaderLen + 20
	p := make([]byte, packet.IPv6HeaderLen+len(rh)+udpLen)
	packet.EncodeIPv6(p, packet.IPv6Fields{PayloadLen: uint16(len(p) - packet.IPv6HeaderLen),
		NextHeader: packet.ProtoRouting, HopLimit: 9, Src: v6A, Dst: mustAddr("2001:db8:1::1")})
	copy(p[packet.IPv6HeaderLen:], rh)
	fillUDP(p[packet.IPv6HeaderLen+len(rh):], v6A, v6B, 1)
	o, in := newAHPair(t, ike.IntegHMACSHA512_256, true)
	sealed := ahSealTransport(t, o, p, 1)
	if !bytes.Equal(sealed[:len(rh)+packet.IPv6HeaderLen], withProto(p[:len(rh)+packet.IPv6HeaderLen], packet.ProtoAH, len(sealed))) {
		t.Fatal("SealTransport changed the header chain it sends")
	}
	routeIPv6(sealed)
	if packet.IPv6(sealed).Dst() != v6B {
		t.Fatalf("routing test helper: destination %v", packet.IPv6(sealed).Dst())
	}
	if _, err := in.OpenTransport(sealed); err != nil {
		t.Fatalf("after both hops: %v", err)
	}
}

// TestAHConcurrentSealUniqueSeq: sequence numbers are unique across
// goroutines and the window takes every packet once.
func TestAHConcurrentSealUniqueSeq(t *testing.T) {
	o, in := newAHPair(t, ike.IntegHMACSHA1_96, false)
	pkt := udpIPv4(v4A, v4B, nil, 10, 1)
	const workers, each = 4, 200
	var mu sync.Mutex
	var sealed [][]byte
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				buf := make([]byte, ahHeadroom+len(pkt))
				copy(buf[ahHeadroom:], pkt)
				out, err := o.SealTransport(buf, ahHeadroom, len(pkt))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sealed = append(sealed, out)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	in.window.Init(4096)
	for _, s := range sealed {
		if _, err := in.OpenTransport(s); err != nil {
			t.Fatalf("seq %d: %v", packet.AH(s[20:]).Seq(), err)
		}
	}
	if o.LastSeq() != workers*each {
		t.Errorf("LastSeq = %d", o.LastSeq())
	}
}
