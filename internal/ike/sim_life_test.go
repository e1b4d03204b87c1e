package ike

import (
	"errors"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
)

// Lifetimes and liveness (RFC 7296 2.4, 2.8) on the virtual clock.

// tunnelAlwaysUp extends makeBeforeBreak: the tunnel never goes down.
func (p *simPair) tunnelAlwaysUp(t *testing.T) func() {
	mbb := p.makeBeforeBreak(t)
	return func() {
		t.Helper()
		mbb()
		if p.l.inst.outbound("site/net") == nil || p.r.inst.outbound("site/net") == nil {
			t.Fatalf("at %v: no Child SA to send on", p.s.clock.Now().Sub(simStart))
		}
	}
}

// TestSimLifetimes: strongSwan's default proportions (Child SA rekey
// after 1h, IKE SA after 4h, 10% over and rand time) for 13 virtual hours:
// both sides rekey on their own timers, collide now and then, and the
// tunnel is never down nor sends on an SA the peer cannot receive.
func TestSimLifetimes(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		p := newSimPair(t, seed, simOpts{
			ikeLife:         IKELifetimes{RekeyTime: 4 * time.Hour, OverTime: 24 * time.Minute, RandTime: 24 * time.Minute},
			childLife:       ChildLifetimes{RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute},
			retransmitTries: 10,
		})
		p.s.MinDelay, p.s.MaxDelay = time.Millisecond, 50*time.Millisecond
		if seed > 3 {
			p.s.Loss = 0.1 // and with loss: retransmissions, cached responses
		}
		p.up(t)
		p.s.Check = p.tunnelAlwaysUp(t)
		p.s.run(13*time.Hour, nil)
		p.checkTunnel(t)
		childRekeys := p.l.inst.Installs - 1
		if childRekeys < 12 || childRekeys > 30 {
			t.Errorf("seed %d: %d Child SA installs in 13h with rekey_time 1h", seed, childRekeys)
		}
		if n := p.l.e.nextUnique.Load() + p.r.e.nextUnique.Load(); n < 2+2*3 {
			t.Errorf("seed %d: only %d IKE SAs created in 13h with rekey_time 4h", seed, n)
		}
	}
}

// TestSimRekeyBytes: the data plane's counters trigger a rekey at
// rekey_bytes and a delete at life_bytes (without rekey), as soon as the
// data plane counts the packet that reaches the limit (no polling: a
// fast transfer would pass the hard limit before the next look).
func TestSimRekeyBytes(t *testing.T) {
	p := newSimPair(t, 11, simOpts{childLife: ChildLifetimes{RekeyBytes: 1 << 20, LifeBytes: 2 << 20}})
	p.up(t)
	old := p.checkTunnel(t)
	in := p.l.inst.all()[0]
	in.CountOut(1 << 19)
	p.s.run(time.Minute, nil)
	if sas := p.l.inst.all(); len(sas) != 1 || sas[0].In.SPI() != old {
		t.Fatal("rekeyed below rekey_bytes")
	}
	in.CountOut(1<<19 + 1)
	p.s.mustRun(100*time.Millisecond+deleteRekeyedDelay, "rekeyed on bytes", func() bool {
		sas := p.l.inst.all()
		return len(sas) == 1 && sas[0].In.SPI() != old && len(p.r.inst.all()) == 1
	})
	p.checkTunnel(t)

	q := newSimPair(t, 12, simOpts{childLife: ChildLifetimes{LifePackets: 1000}})
	q.up(t)
	rin := q.r.inst.all()[0]
	for range 999 {
		rin.CountIn(100)
	}
	if rin.Expired() {
		t.Fatal("expired one packet before life_packets")
	}
	rin.CountIn(100)
	if !rin.Expired() {
		t.Fatal("not expired at life_packets")
	}
	q.s.mustRun(100*time.Millisecond, "deleted on life_packets", func() bool {
		return len(q.l.inst.all()) == 0 && len(q.r.inst.all()) == 0
	})
}

// TestSimHardLifetime: without rekey_time, life_time deletes the Child
// SA; the IKE SA stays.
func TestSimHardLifetime(t *testing.T) {
	p := newSimPair(t, 13, simOpts{childLife: ChildLifetimes{LifeTime: 10 * time.Minute}})
	p.up(t)
	start := p.s.clock.Now()
	p.s.mustRun(time.Hour, "child deleted", func() bool { return len(p.l.inst.all()) == 0 && len(p.r.inst.all()) == 0 })
	if d := p.s.clock.Now().Sub(start); d < 10*time.Minute || d > 10*time.Minute+time.Second {
		t.Errorf("deleted after %v, want 10m", d)
	}
	if len(p.l.established()) != 1 {
		t.Error("IKE SA went with the child")
	}
}

// TestSimDPD: the peer dies (every packet to and from it lost). After
// dpd_delay of silence we send an empty INFORMATIONAL, retransmit it,
// give up and clear the SAs; with dpd_action=restart we initiate again
// and get the tunnel back once the peer is reachable.
func TestSimDPD(t *testing.T) {
	t.Run("clear", func(t *testing.T) {
		p := newSimPair(t, 21, simOpts{dpdDelay: 30 * time.Second, dpdAction: ActionClear})
		p.up(t)
		start := p.s.clock.Now()
		p.s.Cut[rightAddr] = true
		p.s.mustRun(10*time.Minute, "left cleared", func() bool { return len(p.l.e.snapshot()) == 0 })
		// 30s of silence, then 1+2+4+8+16+32s of retransmissions.
		if d := p.s.clock.Now().Sub(start); d < 30*time.Second+63*time.Second || d > 30*time.Second+64*time.Second {
			t.Errorf("peer declared dead after %v, want 93s", d)
		}
		if len(p.l.inst.all()) != 0 {
			t.Error("Child SA left installed")
		}
		checkZeroed(t, p.r.inst.all(), false)
	})
	t.Run("restart", func(t *testing.T) {
		p := newSimPair(t, 22, simOpts{dpdDelay: 30 * time.Second, dpdAction: ActionRestart, keyingTries: -1})
		p.up(t)
		first := p.l.inst.all()[0]
		p.s.Cut[rightAddr] = true
		p.s.mustRun(10*time.Minute, "left cleared", func() bool { return len(p.l.inst.all()) == 0 })
		checkZeroed(t, []*sadb.ChildSA{first}, true)
		// Right found left dead as well by now; heal, and left gets through.
		p.s.run(5*time.Minute, nil)
		delete(p.s.Cut, rightAddr)
		p.s.mustRun(30*time.Minute, "tunnel back", func() bool {
			return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1 && len(p.r.established()) == 1
		})
		p.checkTunnel(t)
	})
	t.Run("traffic-keeps-quiet", func(t *testing.T) {
		// ESP arriving counts as life: no liveness check while it flows.
		p := newSimPair(t, 23, simOpts{dpdDelay: 30 * time.Second})
		p.up(t)
		before := len(p.l.Sent) + len(p.r.Sent)
		for range 10 {
			for _, n := range []*simNode{p.l, p.r} {
				n.inst.all()[0].Stats.LastIn.Store(p.s.clock.Now().UnixNano())
			}
			p.s.run(20*time.Second, nil)
		}
		if got := len(p.l.Sent) + len(p.r.Sent) - before; got != 0 {
			t.Errorf("%d IKE messages sent while ESP arrived", got)
		}
	})
}

// TestSimCloseActionStart: the peer deletes the IKE SA; close_action =
// start sets the connection up again.
func TestSimCloseActionStart(t *testing.T) {
	p := newSimPair(t, 31, simOpts{closeAction: ActionRestart})
	p.up(t)
	oldSPI := p.l.established()[0].spiI
	reply := p.r.command(cmdDeleteIKE, "")
	p.s.mustRun(time.Minute, "deleted", func() bool { return len(reply) > 0 })
	p.s.mustRun(time.Minute, "up again", func() bool {
		l := p.l.established()
		return len(l) == 1 && l[0].spiI != oldSPI && len(p.r.inst.all()) == 1 && len(p.l.inst.all()) == 1
	})
	p.checkTunnel(t)
}

// TestSimKeysCleared: the keys of a replaced IKE SA and of deleted Child
// SAs are overwritten.
func TestSimKeysCleared(t *testing.T) {
	p := newSimPair(t, 41, simOpts{})
	p.up(t)
	old := p.l.established()[0]
	keys := old.keys
	child := p.l.inst.all()[0]
	reply := p.l.command(cmdRekeyIKE, "")
	p.s.mustRun(time.Minute, "rekeyed", func() bool { return len(reply) > 0 && len(p.l.e.snapshot()) == 1 })
	for i, b := range keys.rawKeyed {
		for _, x := range b {
			if x != 0 {
				t.Fatalf("key %d of the replaced IKE SA not cleared", i)
			}
		}
	}
	reply = p.l.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "child rekeyed", func() bool { return len(reply) > 0 && len(p.l.inst.all()) == 1 })
	checkZeroed(t, []*sadb.ChildSA{child}, true)
}

func checkZeroed(t *testing.T, sas []*sadb.ChildSA, want bool) {
	t.Helper()
	for _, c := range sas {
		buf := make([]byte, 256)
		_, err := c.Seal(buf, 10, 4)
		if got := errors.Is(err, sadb.ErrDeleted); got != want {
			t.Errorf("SA %v: deleted %v, want %v (%v)", c, got, want, err)
		}
	}
}

// TestSimStatusShowsLifetimes: SAs reports the time left until the
// rekeys and the hard lifetime (VICI list-sas rekey-time, life-time).
func TestSimStatusShowsLifetimes(t *testing.T) {
	p := newSimPair(t, 51, simOpts{
		ikeLife:   IKELifetimes{RekeyTime: 4 * time.Hour, OverTime: 24 * time.Minute, RandTime: 24 * time.Minute},
		childLife: ChildLifetimes{RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute},
	})
	p.up(t)
	p.s.run(10*time.Minute, nil)
	in := p.l.e.SAs()[0]
	if in.RekeyIn < 4*time.Hour-34*time.Minute || in.RekeyIn > 4*time.Hour-10*time.Minute || in.ExpireIn != 4*time.Hour+14*time.Minute {
		t.Errorf("IKE SA: rekey in %v, expires in %v", in.RekeyIn, in.ExpireIn)
	}
	c := in.Children[0]
	if c.RekeyIn < 44*time.Minute || c.RekeyIn > 50*time.Minute || c.ExpireIn != 56*time.Minute {
		t.Errorf("Child SA: rekey in %v, expires in %v", c.RekeyIn, c.ExpireIn)
	}
}
