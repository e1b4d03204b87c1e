package ike

import (
	"sync"
	"testing"
	"time"
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
