package ike

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
)

// trapLog records Config.Trap calls.
type trapLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *trapLog) record(peer, child string) {
	l.mu.Lock()
	l.calls = append(l.calls, peer+"/"+child)
	l.mu.Unlock()
}

func (l *trapLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// TestSimTrapActions: dpd_action = trap clears the SAs of a dead peer and
// asks for a trap (without setting anything up again); close_action = trap
// does the same when the peer deletes the IKE SA or the Child SA; our own
// delete asks for nothing.
func TestSimTrapActions(t *testing.T) {
	t.Run("dpd", func(t *testing.T) {
		p := newSimPair(t, 61, simOpts{dpdDelay: 30 * time.Second, dpdAction: ActionTrap})
		var log trapLog
		p.l.e.cfg.Trap = log.record
		p.up(t)
		p.s.Cut[rightAddr] = true
		p.s.mustRun(10*time.Minute, "left cleared", func() bool { return len(p.l.inst.all()) == 0 })
		p.s.run(10*time.Minute, nil)
		if got := log.get(); len(got) != 1 || got[0] != "site/net" {
			t.Fatalf("trap calls %v, want [site/net]", got)
		}
		if n := len(p.l.e.snapshot()); n != 0 {
			t.Errorf("%d IKE SAs: dpd_action = trap set something up again", n)
		}
	})
	t.Run("close-ike", func(t *testing.T) {
		p := newSimPair(t, 62, simOpts{closeAction: ActionTrap})
		var log trapLog
		p.l.e.cfg.Trap = log.record
		p.up(t)
		reply := p.r.command(cmdDeleteIKE, "")
		p.s.mustRun(time.Minute, "deleted", func() bool { return len(reply) > 0 && len(p.l.inst.all()) == 0 })
		p.s.run(time.Minute, nil)
		if got := log.get(); len(got) != 1 || got[0] != "site/net" {
			t.Fatalf("trap calls %v, want [site/net]", got)
		}
		if n := len(p.l.e.snapshot()); n != 0 {
			t.Errorf("%d IKE SAs after close_action = trap", n)
		}
	})
	t.Run("close-child", func(t *testing.T) {
		p := newSimPair(t, 63, simOpts{closeAction: ActionTrap})
		var log trapLog
		p.l.e.cfg.Trap = log.record
		p.up(t)
		reply := p.r.command(cmdDeleteChild, "net")
		p.s.mustRun(time.Minute, "deleted", func() bool { return len(reply) > 0 && len(p.l.inst.all()) == 0 })
		if got := log.get(); len(got) != 1 || got[0] != "site/net" {
			t.Fatalf("trap calls %v, want [site/net]", got)
		}
	})
	t.Run("own-delete", func(t *testing.T) {
		p := newSimPair(t, 64, simOpts{closeAction: ActionTrap, dpdAction: ActionTrap})
		var log trapLog
		p.l.e.cfg.Trap = log.record
		p.up(t)
		reply := p.l.command(cmdDeleteIKE, "")
		p.s.mustRun(time.Minute, "deleted", func() bool { return len(reply) > 0 && len(p.l.inst.all()) == 0 })
		if got := log.get(); len(got) != 0 {
			t.Fatalf("trap calls %v after our own delete", got)
		}
	})
}

// TestSimAcquireTrigger: a Child SA asked for by a trapped packet offers
// that packet's addresses, protocol and ports as the first TSi and TSr
// (RFC 7296 2.9), in IKE_AUTH and in CREATE_CHILD_SA; the responder's
// narrowing keeps them, followed by the configured subnets. A trigger
// outside the configured selectors is not offered.
func TestSimAcquireTrigger(t *testing.T) {
	trig := &Trigger{
		Local:  mustTSOf(t, "10.1.0.5[udp/1234]"),
		Remote: mustTSOf(t, "10.2.0.7[udp/53]"),
	}
	want := func(t *testing.T, c *childSA, first bool) {
		t.Helper()
		got := fmt.Sprint(c.installed.LocalTS, c.installed.RemoteTS)
		w := "[10.2.0.0/24] [10.1.0.0/24]"
		if first {
			w = "[10.2.0.7/32[udp/53] 10.2.0.0/24] [10.1.0.5/32[udp/1234] 10.1.0.0/24]"
		}
		if got != w {
			t.Errorf("responder's %s selectors %s, want %s", c.cfg.Name, got, w)
		}
	}
	t.Run("IKE_AUTH", func(t *testing.T) {
		p := newSimPair(t, 71, simOpts{})
		done := p.l.initiateFor(trig)
		p.s.mustRun(time.Minute, "up", func() bool { return len(done) > 0 })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		p.s.mustRun(time.Minute, "responder has the child", func() bool { return len(p.r.inst.all()) == 1 })
		want(t, p.r.established()[0].childList()[0], true)
	})
	t.Run("CREATE_CHILD_SA", func(t *testing.T) {
		p := newSimPair(t, 72, simOpts{})
		p.up(t)
		reply := p.l.command(cmdDeleteChild, "net")
		p.s.mustRun(time.Minute, "child deleted", func() bool { return len(reply) > 0 && len(p.r.inst.all()) == 0 })
		done := p.l.createChild(p.l.peer.Children[0], trig)
		p.s.mustRun(time.Minute, "child again", func() bool { return len(done) > 0 && len(p.r.inst.all()) == 1 })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want(t, p.r.established()[0].childList()[0], true)
	})
	t.Run("outside", func(t *testing.T) {
		p := newSimPair(t, 73, simOpts{})
		out := &Trigger{Local: mustTSOf(t, "10.9.0.5"), Remote: mustTSOf(t, "10.2.0.7")}
		done := p.l.initiateFor(out)
		p.s.mustRun(time.Minute, "up", func() bool { return len(done) > 0 && len(p.r.inst.all()) == 1 })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want(t, p.r.established()[0].childList()[0], false)
	})
}

// initiateFor is initiate for an acquire of the first child.
func (n *simNode) initiateFor(trig *Trigger) chan error {
	done := make(chan error, 1)
	if _, err := n.e.spawnInitiatorFor(n.peer, n.peer.Children[0], nil, done, 0, trig); err != nil {
		done <- err
	}
	return done
}

func mustTSOf(t *testing.T, s string) ts.Selector {
	t.Helper()
	sel, err := ts.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
