package ike

import (
	"bytes"
	"testing"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Collisions (RFC 7296 2.8.1, 2.25), every ordering the simulator can
// produce, written as tables in the manner of strongSwan's
// test_child_rekey.c and test_ike_rekey.c: each row says who starts what,
// which messages are held back and when they are let go, and what must
// be left at the end. L is the original initiator, R the responder.

// request matches requests of exch sent by from.
func request(from [4]byte, exch wire.ExchangeType) func(p *simPacket) bool {
	return func(p *simPacket) bool {
		h := p.header()
		return p.from.Addr().As4() == from && h.Exchange == exch && !h.IsResponse()
	}
}

var (
	lAddr = leftAddr.As4()
	rAddr = rightAddr.As4()
)

type collisionCase struct {
	name string
	// start issues the commands (both at the same virtual instant).
	start func(p *simPair) []chan error
	// hold and releaseWhen: packets matching hold are kept back until
	// releaseWhen holds (nil: nothing held).
	hold        func(p *simPacket) bool
	releaseWhen func(p *simPair) bool
	// want checks the end state.
	want func(t *testing.T, p *simPair, before snapshotSPIs)
}

type snapshotSPIs struct{ child, ikeSPIi uint64 }

func both(a, b cmdKind, childA, childB string) func(p *simPair) []chan error {
	return func(p *simPair) []chan error {
		return []chan error{p.l.command(a, childA), p.r.command(b, childB)}
	}
}

// wantRekeyedTunnel: one tunnel, with a Child SA other than the first.
func wantRekeyedTunnel(t *testing.T, p *simPair, before snapshotSPIs) {
	t.Helper()
	if spi := p.checkTunnel(t); uint64(spi) == before.child {
		t.Errorf("Child SA not rekeyed (inbound SPI %08x)", spi)
	}
}

// wantIKERekeyed: one tunnel on an IKE SA other than the first.
func wantIKERekeyed(t *testing.T, p *simPair, before snapshotSPIs) {
	t.Helper()
	p.checkTunnel(t)
	if spi := p.l.established()[0].spiI; spi == before.ikeSPIi {
		t.Errorf("IKE SA not rekeyed")
	}
}

// wantNoChild: the IKE SA is up, no Child SA on either side.
func wantNoChild(t *testing.T, p *simPair, _ snapshotSPIs) {
	t.Helper()
	if len(p.l.established()) != 1 || len(p.r.established()) != 1 {
		t.Fatalf("IKE SAs: %d and %d, want 1 each", len(p.l.established()), len(p.r.established()))
	}
	if l, r := len(p.l.inst.all()), len(p.r.inst.all()); l != 0 || r != 0 {
		t.Fatalf("Child SAs left: %d and %d", l, r)
	}
}

// wantNothing: both sides empty.
func wantNothing(t *testing.T, p *simPair, _ snapshotSPIs) {
	t.Helper()
	if l, r := len(p.l.e.snapshot()), len(p.r.e.snapshot()); l != 0 || r != 0 {
		t.Fatalf("IKE SAs left: %d and %d", l, r)
	}
	if l, r := len(p.l.inst.all()), len(p.r.inst.all()); l != 0 || r != 0 {
		t.Fatalf("Child SAs left: %d and %d", l, r)
	}
}

var collisionCases = []collisionCase{
	{
		// Both rekey the Child SA at once; each answers the other's request
		// while its own is outstanding. Both compare the four nonces the
		// same way: the loser deletes its new SA, the winner the old one.
		//
		//	L                                R
		//	CREATE(REKEY_SA old, Ni1) --\ /-- CREATE(REKEY_SA old, Ni2)
		//	                             X
		//	<-- CREATE {Nr2} -----------/ \----------> CREATE {Nr1}
		//	lowest of Ni1 Nr1 Ni2 Nr2 decides; loser: D(its new), winner: D(old)
		name:  "child rekey/simultaneous",
		start: both(cmdRekeyChild, cmdRekeyChild, "net", "net"),
		want:  wantRekeyedTunnel,
	},
	{
		// R's request is held until L's rekey and L's DELETE of the old SA
		// are done: R's REKEY_SA names an SA L no longer has.
		//
		//	L                                R
		//	CREATE(REKEY_SA old) ----------->     (R: collision noted)
		//	     /---------------------------- CREATE(REKEY_SA old)  [held]
		//	<---|-------------------------- CREATE {}
		//	D(old) -------------------------->   (R: old gone during its rekey)
		//	<---|----------------------------- D(old)
		//	     \--------------------------->  L: CHILD_SA_NOT_FOUND
		//	one tunnel: L's new SA
		name:  "child rekey/peer's request after our delete",
		start: both(cmdRekeyChild, cmdRekeyChild, "net", "net"),
		hold:  request(rAddr, wire.CreateChildSA),
		releaseWhen: func(p *simPair) bool {
			return len(p.l.inst.all()) == 1 && p.l.inst.all()[0].In.SPI() != 0 && !p.l.busy()
		},
		want: wantRekeyedTunnel,
	},
	{
		// R's request arrives while L deletes the old SA it replaced:
		// TEMPORARY_FAILURE (RFC 7296 2.25); R's own rekey fails, L's stands.
		//
		//	L                                R
		//	CREATE(REKEY_SA old) ----------->
		//	<------------------------------ CREATE {}
		//	D(old) ----------- [held]
		//	<------------------------------ CREATE(REKEY_SA old)
		//	CREATE {N(TEMPORARY_FAILURE)} -->
		//	D(old) released ---------------->
		name:  "child rekey/peer's request while we delete",
		start: both(cmdRekeyChild, cmdRekeyChild, "net", "net"),
		hold: func(p *simPacket) bool {
			return request(rAddr, wire.CreateChildSA)(p) || request(lAddr, wire.Informational)(p)
		},
		releaseWhen: func(p *simPair) bool { return len(p.l.inst.all()) == 2 },
		want:        wantRekeyedTunnel,
	},
	{
		// L rekeys the Child SA that R deletes. R refuses the rekey with
		// TEMPORARY_FAILURE (it is closing that SA); L answers the DELETE.
		//
		//	L                                R
		//	CREATE(REKEY_SA old) --\   /---- D(old)
		//	                        \ /
		//	<-- D(old) response -----X-----> CREATE {N(TEMPORARY_FAILURE)}
		//	no Child SA left
		name:  "child rekey vs child delete",
		start: both(cmdRekeyChild, cmdDeleteChild, "net", "net"),
		want:  wantNoChild,
	},
	{
		// L rekeys the Child SA while R deletes the IKE SA: R answers the
		// rekey with TEMPORARY_FAILURE; the IKE SA and all goes.
		name:  "child rekey vs IKE delete",
		start: both(cmdRekeyChild, cmdDeleteIKE, "net", ""),
		want:  wantNothing,
	},
	{
		// Both delete the Child SA: each answers the other's DELETE with
		// an empty one (RFC 7296 1.4.1).
		name:  "child delete vs child delete",
		start: both(cmdDeleteChild, cmdDeleteChild, "net", "net"),
		want:  wantNoChild,
	},
	{
		// Both delete the IKE SA.
		name:  "IKE delete vs IKE delete",
		start: both(cmdDeleteIKE, cmdDeleteIKE, "", ""),
		want:  wantNothing,
	},
	{
		// Both rekey the IKE SA at once. Each creates the peer's new IKE
		// SA without moving the Child SAs; the nonces pick the survivor,
		// the loser deletes its new IKE SA, the winner the old one.
		//
		//	L                                R
		//	CREATE(SA, Ni1, KE) --\   /-- CREATE(SA, Ni2, KE)
		//	<-- CREATE {Nr2} -----X-----> CREATE {Nr1}
		//	loser: D(IKE) on its new SA; winner: D(IKE) on the old SA
		name:  "IKE rekey/simultaneous",
		start: both(cmdRekeyIKE, cmdRekeyIKE, "", ""),
		want:  wantIKERekeyed,
	},
	{
		// R's IKE rekey request is held until L's rekey is done and the
		// old IKE SA deleted: R's exchange ends with the old SA, and the
		// SA L created for R's request... does not exist; R's Child SAs
		// already moved to L's new SA when R answered it.
		name:        "IKE rekey/peer's request after our delete",
		start:       both(cmdRekeyIKE, cmdRekeyIKE, "", ""),
		hold:        request(rAddr, wire.CreateChildSA),
		releaseWhen: func(p *simPair) bool { return len(p.l.e.snapshot()) == 1 && !p.l.busy() },
		want:        wantIKERekeyed,
	},
	{
		// L rekeys the IKE SA while R rekeys the Child SA: each refuses
		// the other with TEMPORARY_FAILURE (a Child SA exchange and an
		// IKE SA rekey do not mix) and both retry later at random times.
		name:  "IKE rekey vs child rekey",
		start: both(cmdRekeyIKE, cmdRekeyChild, "", "net"),
		want: func(t *testing.T, p *simPair, before snapshotSPIs) {
			wantIKERekeyed(t, p, before)
			wantRekeyedTunnel(t, p, before)
		},
	},
}

// busy reports whether the node's IKE SA runs an exchange of its own.
func (n *simNode) busy() bool {
	for _, sa := range n.e.snapshot() {
		// The atomic load orders the read of active after the SA's writes.
		if sa.sched.word.Load()&1 == 1 && sa.active != nil {
			return true
		}
	}
	return false
}

func TestSimCollisions(t *testing.T) {
	for _, tc := range collisionCases {
		t.Run(tc.name, func(t *testing.T) {
			// Several seeds, so that either side's nonces are the lowest.
			for seed := uint64(1); seed <= 12; seed++ {
				p := newSimPair(t, seed*7919, simOpts{retransmitTries: 10})
				p.s.Check = p.makeBeforeBreak(t)
				p.up(t)
				if seed > 8 {
					// The same orderings with losses and reordering on top.
					p.s.Loss, p.s.MinDelay, p.s.MaxDelay = 0.2, time.Millisecond, 100*time.Millisecond
				}
				before := snapshotSPIs{child: uint64(p.l.inst.all()[0].In.SPI()), ikeSPIi: p.l.established()[0].spiI}
				p.s.Hold = tc.hold
				replies := tc.start(p)
				if tc.hold != nil {
					p.s.mustRun(time.Hour, "release condition", func() bool { return tc.releaseWhen(p) })
					p.s.Hold = nil
					p.s.Release(nil)
				}
				// Long enough for retries after TEMPORARY_FAILURE and for
				// redundant SAs to be deleted.
				p.s.run(3*p.l.e.rekeyedWait(), nil)
				for _, r := range replies {
					select {
					case <-r:
					default:
						t.Fatalf("seed %d: a command never finished", seed)
					}
				}
				tc.want(t, p, before)
				if len(p.l.e.snapshot()) > 1 || len(p.r.e.snapshot()) > 1 {
					t.Fatalf("seed %d: redundant IKE SAs left: %d and %d", seed, len(p.l.e.snapshot()), len(p.r.e.snapshot()))
				}
			}
		})
	}
}

// TestLowestNonceLoses pins the rule of RFC 7296 2.8.1 on fixed nonces.
func TestLowestNonceLoses(t *testing.T) {
	n := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	for _, tc := range []struct {
		ni, nr, peerNi, peerNr byte
		lose                   bool
	}{
		{1, 9, 5, 6, true},
		{9, 1, 5, 6, true},
		{5, 6, 1, 9, false},
		{5, 6, 9, 1, false},
		{0xff, 0x80, 0x81, 0xfe, true},
	} {
		c := &collision{ni: n(tc.peerNi), nr: n(tc.peerNr)}
		if got := c.weLose(n(tc.ni), n(tc.nr)); got != tc.lose {
			t.Errorf("ours %x/%x theirs %x/%x: lose %v, want %v", tc.ni, tc.nr, tc.peerNi, tc.peerNr, got, tc.lose)
		}
	}
	// Octet strings of different lengths compare as prefixes first.
	if !lowestIs(lowest([]byte{1, 2}, []byte{1, 2, 0}), []byte{1, 2}) {
		t.Error("a prefix is lower than its extension")
	}
}

func lowestIs(got, want []byte) bool { return bytes.Equal(got, want) }
