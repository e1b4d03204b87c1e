package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Two-peer tests of IKE fragmentation (RFC 7383) over testNet with a
// path that drops every IKE message over pathMax octets, like a link
// with a small MTU that does not forward IP fragments.
//
//	initiator                              responder
//	IKE_SA_INIT  N(FRAGMENTATION_SUPPORTED) -->
//	         <-- N(FRAGMENTATION_SUPPORTED)
//	IKE_AUTH SKF(1/k) ... SKF(k/k)          -->
//	         <-- SKF(1/m) ... SKF(m/m)

const (
	testFragmentSize = 576
	// pathMax is the largest IKE message the path carries on port 4500:
	// the fragment size less IPv4 (20), UDP (8) and the non-ESP marker (4).
	pathMax = testFragmentSize - 32
	manyTS  = 40 // selectors per side: IKE_AUTH of about 1.5 KB each way
)

// manySelectors returns first followed by n-1 more /24s in 10.net.0.0/16.
func manySelectors(first string, net, n int) []ts.Selector {
	out := []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(first))}
	for i := 1; i < n; i++ {
		out = append(out, ts.FromPrefix(netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", net, 100+i))))
	}
	return out
}

type fragTraffic struct {
	mu        sync.Mutex
	fragments map[netip.Addr]int // SKF messages sent, by sender
	tooBig    int                // messages the path dropped
}

func (f *fragTraffic) count(from netip.Addr, pkt []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(pkt) > 16 && wire.PayloadType(pkt[16]) == wire.PayloadSKF {
		f.fragments[from]++
	}
}

// fragPair builds two peers whose IKE_AUTH messages exceed the path, with
// the given fragmentation modes. filter, if set, sees every packet that
// fits the path and may drop it.
func fragPair(t *testing.T, left, right FragmentationMode, filter func(from netip.AddrPort, pkt []byte) bool) (*testNet, *testPeer, *testPeer, *fragTraffic) {
	return fragPairOpts(t, pairOpts{}, left, right, filter)
}

// fragPairOpts is fragPair with other pair options (an IKE proposal).
func fragPairOpts(t *testing.T, o pairOpts, left, right FragmentationMode, filter func(from netip.AddrPort, pkt []byte) bool) (*testNet, *testPeer, *testPeer, *fragTraffic) {
	o.retransmitTimeout, o.retransmitTries = 50*time.Millisecond, 4
	n, l, r := newPair(t, o)
	lc, rc := l.e.Peers()[0], r.e.Peers()[0]
	lc.Fragmentation, rc.Fragmentation = left, right
	// encap = yes: IKE floats to port 4500, the path pathMax models.
	lc.Encap, rc.Encap = true, true
	lc.Children[0].LocalTS = manySelectors("10.1.0.0/24", 1, manyTS)
	lc.Children[0].RemoteTS = manySelectors("10.2.0.0/24", 2, manyTS)
	rc.Children[0].LocalTS = manySelectors("10.2.0.0/24", 2, manyTS)
	rc.Children[0].RemoteTS = manySelectors("10.1.0.0/24", 1, manyTS)
	l.e.cfg.FragmentSize, r.e.cfg.FragmentSize = testFragmentSize, testFragmentSize
	tr := &fragTraffic{fragments: map[netip.Addr]int{}}
	n.drop = func(from netip.AddrPort, pkt []byte) bool {
		if len(pkt) > pathMax {
			tr.mu.Lock()
			tr.tooBig++
			tr.mu.Unlock()
			return true
		}
		tr.count(from.Addr(), pkt)
		return filter != nil && filter(from, pkt)
	}
	return n, l, r, tr
}

func TestFragmentedIKEAuth(t *testing.T) {
	_, l, r, tr := fragPair(t, FragmentationYes, FragmentationYes, nil)
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	if c := l.inst.all()[0]; len(c.LocalTS) != manyTS || len(c.RemoteTS) != manyTS {
		t.Errorf("child has %d/%d selectors, want %d each", len(c.LocalTS), len(c.RemoteTS), manyTS)
	}
	tr.mu.Lock()
	lf, rf, big := tr.fragments[leftAddr], tr.fragments[rightAddr], tr.tooBig
	tr.mu.Unlock()
	if lf < 3 || rf < 3 || big != 0 {
		t.Errorf("fragments sent: left %d, right %d (want >= 3 each); %d messages too big for the path", lf, rf, big)
	}
	if l.e.Stats.FragmentedMessages.Load() != 1 || r.e.Stats.FragmentedMessages.Load() != 1 {
		t.Errorf("reassembled: left %d, right %d; want 1 each", l.e.Stats.FragmentedMessages.Load(), r.e.Stats.FragmentedMessages.Load())
	}
	if got := l.e.Stats.Snapshot()["fragmented_messages"]; got != 1 {
		t.Errorf("snapshot fragmented_messages = %d", got)
	}
	// Small messages after IKE_AUTH go whole; the DELETE still works.
	if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
		t.Fatalf("terminate: %d %v", n, err)
	}
	waitFor(t, "both sides empty", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
	if l.e.fragBudget.used.Load() != 0 || r.e.fragBudget.used.Load() != 0 {
		t.Errorf("reassembly memory not released: %d %d", l.e.fragBudget.used.Load(), r.e.fragBudget.used.Load())
	}
}

// TestFragmentedIKEAuthEverySKFamily: fragments of IKE SAs protected by
// encrypt-then-MAC (CBC with block padding and random IVs, CTR) and by the
// other AEADs reassemble too (RFC 7383 2.5 uses the SK payload's format).
func TestFragmentedIKEAuthEverySKFamily(t *testing.T) {
	for _, ike := range []string{
		"aes256-sha256-x25519",
		"aes128ctr-aesxcbc-x25519",
		"3des-sha1-x25519",
		"aes128ccm12-prfsha256-x25519",
		"chacha20poly1305-prfsha256-x25519",
	} {
		t.Run(ike, func(t *testing.T) {
			_, l, r, tr := fragPairOpts(t, pairOpts{leftIKE: ike, leftESP: "aes128gcm16"}, FragmentationYes, FragmentationYes, nil)
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			checkChildPair(t, l, r)
			tr.mu.Lock()
			lf, rf, big := tr.fragments[leftAddr], tr.fragments[rightAddr], tr.tooBig
			tr.mu.Unlock()
			if lf < 3 || rf < 3 || big != 0 {
				t.Errorf("fragments sent: left %d, right %d (want >= 3 each); %d messages too big for the path", lf, rf, big)
			}
			if l.e.Stats.FragmentedMessages.Load() != 1 || r.e.Stats.FragmentedMessages.Load() != 1 {
				t.Errorf("reassembled: left %d, right %d; want 1 each", l.e.Stats.FragmentedMessages.Load(), r.e.Stats.FragmentedMessages.Load())
			}
		})
	}
}

// TestFragmentationNotSupportedByPeer: without the peer's notify nothing
// is fragmented, the oversized IKE_AUTH never arrives, and the attempt
// fails with a timeout, leaving nothing behind.
func TestFragmentationNotSupportedByPeer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		left, right FragmentationMode
	}{
		{"responder no", FragmentationYes, FragmentationNo},
		{"initiator no", FragmentationNo, FragmentationYes},
		{"initiator accept", FragmentationAccept, FragmentationYes}, // accepts but never sends fragments
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, l, r, tr := fragPair(t, tc.left, tc.right, nil)
			err := l.e.Initiate(ctxT(t), "site", "net")
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("initiate: %v, want ErrTimeout", err)
			}
			tr.mu.Lock()
			lf, big := tr.fragments[leftAddr], tr.tooBig
			tr.mu.Unlock()
			if lf != 0 || big != 5 {
				t.Errorf("left sent %d fragments, path dropped %d messages; want 0 and 5 (IKE_AUTH and 4 retransmissions)", lf, big)
			}
			waitFor(t, "initiator empty", func() bool { return len(l.e.SAs()) == 0 })
			for _, s := range r.e.SAs() {
				if s.State == StateEstablished {
					t.Errorf("responder established: %+v", s)
				}
			}
			if len(l.inst.all()) != 0 || len(r.inst.all()) != 0 {
				t.Error("child SAs installed")
			}
		})
	}
}

// TestFragmentationAcceptOnly: "accept" reassembles what the peer
// fragments but sends its own messages whole (strongSwan's semantics).
func TestFragmentationAcceptOnly(t *testing.T) {
	n, l, r, tr := fragPair(t, FragmentationYes, FragmentationAccept, nil)
	n.drop = func(from netip.AddrPort, pkt []byte) bool { tr.count(from.Addr(), pkt); return false } // no MTU limit
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.fragments[leftAddr] < 3 || tr.fragments[rightAddr] != 0 {
		t.Errorf("fragments: left %d (want >= 3), right %d (want 0)", tr.fragments[leftAddr], tr.fragments[rightAddr])
	}
}

// TestFragmentLossDuplicationAndBitFlips: the first copy of every fragment
// is lost, duplicated or has a bit flipped; retransmissions resend every
// fragment and the exchange completes, with forgeries and duplicates
// counted, never used.
func TestFragmentLossDuplicationAndBitFlips(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var net *testNet
	filter := func(from netip.AddrPort, pkt []byte) bool {
		if wire.PayloadType(pkt[16]) != wire.PayloadSKF {
			return false
		}
		mu.Lock()
		k := string(pkt)
		seen[k]++
		first := seen[k] == 1
		mu.Unlock()
		if !first {
			return false
		}
		to := leftAddr
		if from.Addr() == leftAddr {
			to = rightAddr
		}
		dst := net.engines[to]
		// Fragment 1 is lost the first time, so no message completes
		// before the retransmission and what fragments 2 and 3 suffer is
		// seen while the message is still being reassembled.
		switch num := binary.BigEndian.Uint16(pkt[32:]); num {
		case 1:
			return true
		case 2: // a copy with one bit flipped arrives too
			bad := slices.Clone(pkt)
			bad[len(bad)-20] ^= 0x04
			dst.HandlePacket(netip.AddrPortFrom(to, from.Port()), from, bad)
		case 3: // duplicated
			dst.HandlePacket(netip.AddrPortFrom(to, from.Port()), from, slices.Clone(pkt))
		}
		return false
	}
	n, l, r, _ := fragPair(t, FragmentationYes, FragmentationYes, filter)
	net = n
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	if n := l.inst.all()[0]; len(n.LocalTS) != manyTS {
		t.Errorf("child has %d selectors", len(n.LocalTS))
	}
	for _, p := range []*testPeer{l, r} {
		if p.e.Stats.IntegrityFailed.Load() == 0 || p.e.Stats.FragmentsDropped.Load() == 0 {
			t.Errorf("%v: integrity failures %d, fragments dropped %d; want both > 0", p.addr,
				p.e.Stats.IntegrityFailed.Load(), p.e.Stats.FragmentsDropped.Load())
		}
	}
	if l.e.Stats.Retransmits.Load() == 0 {
		t.Error("no retransmission, although fragments were lost")
	}
}

// TestRetransmittedFragmentsGetOneResponse: once a fragmented request
// was answered, only a retransmitted fragment 1 makes the responder send
// its response again; the other fragments are ignored (RFC 7383 2.6.1).
func TestRetransmittedFragmentsGetOneResponse(t *testing.T) {
	var mu sync.Mutex
	var sent [][]byte // the initiator's SKF messages
	n, l, r, _ := fragPair(t, FragmentationYes, FragmentationYes, func(from netip.AddrPort, pkt []byte) bool {
		if from.Addr() == leftAddr && wire.PayloadType(pkt[16]) == wire.PayloadSKF {
			mu.Lock()
			sent = append(sent, slices.Clone(pkt))
			mu.Unlock()
		}
		return false
	})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	mu.Lock()
	frags := slices.Clone(sent)
	mu.Unlock()
	if len(frags) < 3 {
		t.Fatalf("initiator sent %d fragments", len(frags))
	}
	before := r.e.Stats.CachedResponses.Load()
	sentBefore := n.sent.Load()
	from, to := netip.AddrPortFrom(leftAddr, 4500), netip.AddrPortFrom(rightAddr, 4500)
	for i := len(frags) - 1; i >= 0; i-- { // fragment 1 last
		r.e.HandlePacket(to, from, frags[i])
	}
	waitFor(t, "cached response", func() bool { return r.e.Stats.CachedResponses.Load() == before+1 })
	time.Sleep(50 * time.Millisecond)
	if got := r.e.Stats.CachedResponses.Load(); got != before+1 {
		t.Errorf("cached responses sent %d times, want once", got-before)
	}
	if n.sent.Load()-sentBefore < 3 {
		t.Errorf("resent %d packets; the response goes in fragments again", n.sent.Load()-sentBefore)
	}
}

func TestFragStateInherited(t *testing.T) {
	b := &fragBudget{}
	f := fragState{announced: true, supported: true, send: true}
	f.in[0].budget = b
	f.in[0].add(t0, 1, 1, 2, wire.PayloadIDi, []byte("held"))
	f.out[0] = fragmented{frags: [][]byte{{1}}}
	n := f.inherited()
	if !n.announced || !n.supported || !n.send || n.in[0].active || n.out[0].frags != nil {
		t.Errorf("inherited %+v", n)
	}
}
