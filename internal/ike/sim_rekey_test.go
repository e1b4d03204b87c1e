package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// Exchanges started by goipsec on an established IKE SA (RFC 7296 1.3),
// run in the simulator.

func TestSimEstablish(t *testing.T) {
	p := newSimPair(t, 1, simOpts{})
	p.s.Check = p.makeBeforeBreak(t)
	p.up(t)
	p.checkTunnel(t)
}

// TestSimChildRekey: either side rekeys the Child SA, with and without
// PFS; the new pair works, the old one is gone on both sides, and no
// moment exists where one side sends on an SA the other cannot receive.
//
//	initiator                          responder
//	CREATE_CHILD_SA {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} -->
//	     <-- CREATE_CHILD_SA {SA, Nr, [KEr], TSi, TSr}
//	(new SA installed on both; outbound moves)
//	INFORMATIONAL {D(old)} -->
//	     <-- INFORMATIONAL {D(old)}
func TestSimChildRekey(t *testing.T) {
	for _, tc := range []struct {
		name, esp string
		fromRight bool
	}{
		{"initiator", "aes256gcm16", false},
		{"responder", "aes256gcm16", true},
		{"initiator-pfs", "aes256gcm16-x25519", false},
		{"responder-pfs-ecp256", "chacha20poly1305-ecp256", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSimPair(t, 2, simOpts{esp: tc.esp})
			p.s.Check = p.makeBeforeBreak(t)
			p.up(t)
			old := p.checkTunnel(t)
			by := p.l
			if tc.fromRight {
				by = p.r
			}
			reply := by.command(cmdRekeyChild, "net")
			p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatalf("rekey: %v", err)
			}
			p.s.mustRun(time.Minute, "old SAs removed", func() bool {
				return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1
			})
			if now := p.checkTunnel(t); now == old {
				t.Fatalf("inbound SPI still %08x after the rekey", old)
			}
			// Both sides count the one rekey (metrics), whoever started it.
			for side, e := range map[string]*Engine{"left": p.l.e, "right": p.r.e} {
				if ikeN, childN := e.Stats.Rekeys(); ikeN != 0 || childN != 1 {
					t.Errorf("%s counts %d IKE and %d Child SA rekeys, want 0 and 1", side, ikeN, childN)
				}
			}
		})
	}
}

// TestSimIKERekey: either side rekeys the IKE SA; the Child SA moves to
// the new IKE SA, whose keys (from the old SK_d, RFC 7296 2.18) then
// carry a Child SA rekey and a DELETE.
//
//	initiator                          responder
//	CREATE_CHILD_SA {SA(new SPIi), Ni, KEi} -->
//	     <-- CREATE_CHILD_SA {SA(new SPIr), Nr, KEr}
//	(Child SAs move to the new IKE SA)
//	INFORMATIONAL {D(IKE)} on the old SA -->
//	     <-- INFORMATIONAL {}
func TestSimIKERekey(t *testing.T) {
	for _, fromRight := range []bool{false, true} {
		name := "by-initiator"
		if fromRight {
			name = "by-responder"
		}
		t.Run(name, func(t *testing.T) {
			p := newSimPair(t, 3, simOpts{})
			p.s.Check = p.makeBeforeBreak(t)
			p.up(t)
			p.checkTunnel(t)
			oldSPI := p.l.established()[0].spiI
			by := p.l
			if fromRight {
				by = p.r
			}
			reply := by.command(cmdRekeyIKE, "")
			p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatalf("rekey: %v", err)
			}
			p.s.mustRun(time.Minute, "old IKE SA gone", func() bool {
				return len(p.l.e.snapshot()) == 1 && len(p.r.e.snapshot()) == 1
			})
			p.checkTunnel(t)
			ns := p.l.established()[0]
			if ns.spiI == oldSPI || ns.initiator == fromRight {
				t.Fatalf("new IKE SA: SPIi %x (old %x), initiator %v", ns.spiI, oldSPI, ns.initiator)
			}
			// The new SA's keys work for further exchanges.
			reply = p.r.command(cmdRekeyChild, "net")
			p.s.mustRun(time.Minute, "child rekey on the new IKE SA", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatal(err)
			}
			p.s.mustRun(time.Minute, "old Child SA removed", func() bool { return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 })
			p.checkTunnel(t)
			for side, e := range map[string]*Engine{"left": p.l.e, "right": p.r.e} {
				if ikeN, childN := e.Stats.Rekeys(); ikeN != 1 || childN != 1 {
					t.Errorf("%s counts %d IKE and %d Child SA rekeys, want 1 and 1", side, ikeN, childN)
				}
			}
			reply = p.l.command(cmdDeleteIKE, "")
			p.s.mustRun(time.Minute, "both sides empty", func() bool {
				return len(p.l.e.snapshot()) == 0 && len(p.r.e.snapshot()) == 0 && len(p.r.inst.all()) == 0
			})
		})
	}
}

// TestSimCreateChild: a second child on an established IKE SA (RFC 7296
// 1.3.1) through Engine.Initiate's path.
func TestSimCreateChild(t *testing.T) {
	p := newSimPair(t, 4, simOpts{})
	for i, n := range []*simNode{p.l, p.r} {
		c := *n.peer.Children[0]
		c.Name = "more"
		a, b := ts.FromPrefix(netip.MustParsePrefix("10.1.1.0/24")), ts.FromPrefix(netip.MustParsePrefix("10.2.1.0/24"))
		if i == 1 {
			a, b = b, a
		}
		c.LocalTS, c.RemoteTS = []ts.Selector{a}, []ts.Selector{b}
		n.peer.Children = append(n.peer.Children, &c)
	}
	p.up(t)
	reply := p.l.createChild(p.l.peer.Children[1], nil)
	p.s.mustRun(time.Minute, "second child", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	p.s.mustRun(time.Minute, "responder has both", func() bool { return len(p.r.inst.all()) == 2 })
	if got := len(p.l.inst.all()); got != 2 {
		t.Fatalf("left has %d Child SAs", got)
	}
}

// TestSimGiveUp: a peer that never answers; the request goes out 1 +
// RetransmitTries times with the timeout doubling each time (RFC 7296
// 2.4), then the attempt fails with ErrTimeout.
func TestSimGiveUp(t *testing.T) {
	p := newSimPair(t, 5, simOpts{retransmitTries: 4})
	p.s.Cut[rightAddr] = true
	done := p.l.initiate()
	p.s.mustRun(time.Hour, "given up", func() bool { return len(done) > 0 })
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	sent := p.l.Sent
	if len(sent) != 5 {
		t.Fatalf("sent %d packets, want 5", len(sent))
	}
	want := time.Second
	for i := 1; i < len(sent); i++ {
		if got := sent[i].sentAt.Sub(sent[i-1].sentAt); got != want {
			t.Errorf("retransmission %d after %v, want %v", i, got, want)
		}
		want *= 2
	}
	if len(p.l.e.snapshot()) != 0 {
		t.Error("IKE SA left behind")
	}
}

// TestSimKeyingTries: keyingtries = 3 makes three attempts (each on a
// new IKE SA) before giving up; the third gets through.
func TestSimKeyingTries(t *testing.T) {
	p := newSimPair(t, 6, simOpts{retransmitTries: 1, keyingTries: 3})
	p.s.Cut[rightAddr] = true
	done := p.l.initiate()
	// Two attempts take 1s + 2s each; heal the network during the third.
	p.s.run(6500*time.Millisecond, nil)
	delete(p.s.Cut, rightAddr)
	p.s.mustRun(time.Minute, "established", func() bool { return len(done) > 0 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.checkTunnel(t)
	if got := len(p.l.Sent); got < 5 {
		t.Errorf("sent %d packets; three attempts need at least 5", got)
	}
}

// TestSimLossDuringSetupAndRekey: 30% of packets lost, some duplicated
// and reordered, for many seeds: setup, Child SA rekey and IKE SA rekey
// all complete through retransmissions, and the sides agree afterwards.
func TestSimLossDuringSetupAndRekey(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 6
	}
	for seed := range seeds {
		p := newSimPair(t, uint64(100+seed), simOpts{retransmitTries: 10})
		p.s.Loss, p.s.Dup = 0.3, 0.05
		p.s.MinDelay, p.s.MaxDelay = 5*time.Millisecond, 300*time.Millisecond
		p.up(t)
		for _, kind := range []cmdKind{cmdRekeyChild, cmdRekeyIKE, cmdRekeyChild} {
			by := p.l
			if seed%2 == 1 {
				by = p.r
			}
			reply := by.command(kind, "net")
			p.s.mustRun(time.Hour, "rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatalf("seed %d: %v: %v", seed, kind, err)
			}
			p.s.mustRun(time.Hour, "settled", func() bool {
				return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 &&
					len(p.l.e.snapshot()) == 1 && len(p.r.e.snapshot()) == 1
			})
		}
		p.checkTunnel(t)
		if p.s.Dropped == 0 || p.l.e.Stats.Retransmits.Load()+p.r.e.Stats.Retransmits.Load() == 0 {
			t.Errorf("seed %d: %d dropped, no retransmissions", seed, p.s.Dropped)
		}
	}
}

// TestSimChildSANotFound: the peer lost the Child SA we rekey; it says
// CHILD_SA_NOT_FOUND (RFC 7296 2.25) and we delete ours and set up a new
// one.
func TestSimChildSANotFound(t *testing.T) {
	p := newSimPair(t, 7, simOpts{})
	p.up(t)
	rs := p.r.established()[0]
	// Drop the responder's half behind the engine's back (it is idle).
	p.s.settle()
	c := rs.childList()[0]
	rs.detachChild(c)
	p.r.e.cfg.Installer.RemoveChild(c.inSPI)
	reply := p.l.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "rekey answered", func() bool { return len(reply) > 0 })
	<-reply
	p.s.mustRun(time.Minute, "a new Child SA pair", func() bool {
		return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 && p.l.inst.all()[0].In.SPI() != c.outSPI
	})
	p.checkTunnel(t)
}

// TestSimReplacedSAStillReceives: after a Child SA rekey the old SA
// sends nothing more but opens inbound packets for deleteRekeyedDelay
// after its DELETE on both sides (packets the peer sealed just before it
// switched), then is removed and its keys cleared.
func TestSimReplacedSAStillReceives(t *testing.T) {
	p := newSimPair(t, 8, simOpts{})
	p.up(t)
	oldL, oldR := p.l.inst.all()[0], p.r.inst.all()[0]
	reply := p.l.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	start := p.s.clock.Now()
	for _, n := range []*simNode{p.l, p.r} {
		if out := n.inst.outbound("site/net"); out == oldL || out == oldR {
			t.Fatalf("%v still sends on the replaced SA", n.addr)
		}
	}
	// A packet the right sealed on the old SA before switching still opens.
	checkSealOpen(t, oldR, oldL)
	p.checkGraceEnds(t, start, oldL, oldR)
}

// checkGraceEnds waits for the replaced Child SAs old to be removed and
// checks that this took about deleteRekeyedDelay from start, that their
// keys are cleared and that the tunnel runs on the new pair.
func (p *simPair) checkGraceEnds(t *testing.T, start time.Time, old ...*sadb.ChildSA) {
	t.Helper()
	p.s.mustRun(time.Minute, "replaced SAs removed", func() bool {
		return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1
	})
	if d := p.s.clock.Now().Sub(start); d < deleteRekeyedDelay-time.Second {
		t.Errorf("replaced SAs removed after %v, want about %v", d, deleteRekeyedDelay)
	}
	checkZeroed(t, old, true)
	p.checkTunnel(t)
}

// TestSimDeterministic: the same seed gives the same run, message for
// message and to the nanosecond of virtual time, losses included.
func TestSimDeterministic(t *testing.T) {
	trace := func() []string {
		p := newSimPair(t, 4242, simOpts{retransmitTries: 10})
		p.s.Loss, p.s.Dup = 0.3, 0.05
		p.s.MinDelay, p.s.MaxDelay = time.Millisecond, 200*time.Millisecond
		p.up(t)
		for _, kind := range []cmdKind{cmdRekeyChild, cmdRekeyIKE} {
			reply := p.l.command(kind, "net")
			p.s.mustRun(time.Hour, "rekey done", func() bool { return len(reply) > 0 })
			p.s.run(time.Minute, nil)
		}
		var out []string
		for _, n := range []*simNode{p.l, p.r} {
			for _, pk := range n.Sent {
				out = append(out, fmt.Sprintf("%v %v", pk.sentAt.Sub(simStart), pk.String()))
			}
		}
		return out
	}
	a, b := trace(), trace()
	if len(a) != len(b) {
		t.Fatalf("runs sent %d and %d messages", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at message %d: %q vs %q", i, a[i], b[i])
		}
	}
	t.Logf("%d messages, identical", len(a))
}

// TestSimChildSALimit: a peer that keeps asking for Child SAs on one IKE
// SA gets NO_ADDITIONAL_SAS (RFC 7296 3.10.1) once MaxChildSAs are
// installed, so it cannot grow the responder's memory without bound.
func TestSimChildSALimit(t *testing.T) {
	p := newSimPair(t, 6, simOpts{})
	p.up(t)
	var last error
	for i := 0; i < MaxChildSAs; i++ {
		// Copies under new names, so that our side asks again for what
		// the responder knows as its one child "net" (as a hostile peer
		// would; our own engine never asks twice for one child).
		cfg := *p.l.peer.Children[0]
		cfg.Name = fmt.Sprintf("net-%d", i)
		reply := p.l.createChild(&cfg, nil)
		p.s.mustRun(time.Minute, "child created or refused", func() bool { return len(reply) > 0 })
		last = <-reply
		if i < MaxChildSAs-1 && last != nil {
			t.Fatalf("Child SA %d: %v", i+2, last)
		}
	}
	if last == nil || !strings.Contains(last.Error(), "NO_ADDITIONAL_SAS") {
		t.Fatalf("Child SA %d: got %v, want NO_ADDITIONAL_SAS", MaxChildSAs+1, last)
	}
	if got := len(p.r.inst.all()); got != MaxChildSAs {
		t.Errorf("responder installed %d Child SAs, want %d", got, MaxChildSAs)
	}
}

// TestSimIKERekeyKeepsDrainingChild: an IKE SA rekey right after a Child SA
// rekey must not cut the replaced Child SA's inbound grace short. The old
// IKE SA's teardown used to uninstall the Child SAs it still held in their
// deleteRekeyedDelay grace at once, so ESP the peer had sealed just before
// switching was dropped as "no SA". The draining SAs now move to the new
// IKE SA with the live ones and leave after their grace, from there.
func TestSimIKERekeyKeepsDrainingChild(t *testing.T) {
	for _, who := range []string{"initiator", "responder"} {
		t.Run(who, func(t *testing.T) {
			p := newSimPair(t, 21, simOpts{})
			p.up(t)
			oldL, oldR := p.l.inst.all()[0], p.r.inst.all()[0]
			reply := p.l.command(cmdRekeyChild, "net")
			p.s.mustRun(time.Minute, "child rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatal(err)
			}
			start := p.s.clock.Now()
			rekeyer := p.l
			if who == "responder" {
				rekeyer = p.r
			}
			oldIKE := rekeyer.established()[0]
			reply = rekeyer.command(cmdRekeyIKE, "")
			p.s.mustRun(time.Minute, "IKE rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatal(err)
			}
			p.s.mustRun(time.Second, "old IKE SA gone", func() bool {
				return oldIKE.State() == StateDeleted
			})
			if p.s.clock.Now().Sub(start) >= deleteRekeyedDelay {
				t.Fatalf("IKE rekey took %v, longer than the grace it should keep", p.s.clock.Now().Sub(start))
			}
			// The old IKE SA is gone, the grace is not over: packets
			// sealed on the replaced Child SAs still open both ways.
			for _, x := range []struct {
				n *simNode
				c *sadb.ChildSA
			}{{p.l, oldL}, {p.r, oldR}} {
				if x.n.inst.inbound(x.c.In.SPI()) == nil {
					t.Fatalf("%v: replaced Child SA %08x uninstalled before its grace ended", x.n.addr, x.c.In.SPI())
				}
			}
			checkSealOpen(t, oldR, oldL)
			checkSealOpen(t, oldL, oldR)
			// And they still leave after the grace, from the new IKE SA.
			p.checkGraceEnds(t, start, oldL, oldR)
		})
	}
}
