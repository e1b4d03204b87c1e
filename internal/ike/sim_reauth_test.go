package ike

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Reauthentication (reauth.go, swanctl.conf reauth_time) on the virtual
// clock.

// initRequests counts the IKE_SA_INIT requests n sent: each is a new IKE
// SA set up from scratch (a rekey is a CREATE_CHILD_SA).
func initRequests(n *simNode) int {
	c := 0
	for _, p := range n.Sent {
		if h := p.header(); h.Exchange == wire.IKESAInit && !h.IsResponse() {
			c++
		}
	}
	return c
}

// TestSimReauth: with reauth_time 1h on the left only, the left sets up
// a new IKE SA with IKE_SA_INIT and IKE_AUTH every hour or so (minus up
// to rand_time), recreates its Child SAs on it and then deletes the old
// IKE SA: make-before-break, so neither side ever sends on an SA the
// other cannot receive, with or without loss.
func TestSimReauth(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		p := newSimPair(t, seed, simOpts{retransmitTries: 10})
		p.l.peer.IKELife = IKELifetimes{ReauthTime: time.Hour, OverTime: 6 * time.Minute, RandTime: 6 * time.Minute}
		p.s.MinDelay, p.s.MaxDelay = time.Millisecond, 50*time.Millisecond
		if seed > 2 {
			p.s.Loss = 0.1
		}
		p.up(t)
		first := p.l.established()[0]
		p.s.Check = p.tunnelAlwaysUp(t)
		p.s.run(3*time.Hour+30*time.Minute, nil)
		p.s.Check = nil
		p.s.run(time.Minute, nil) // let the last DELETE finish
		p.checkTunnel(t)
		if n := initRequests(p.l); n < 4 {
			// The first setup plus one per hour: with 10% loss some are
			// retransmissions, so at least, not exactly.
			t.Errorf("seed %d: %d IKE_SA_INIT requests in 3.5h, want at least 4 (reauth_time 1h)", seed, n)
		}
		if n := initRequests(p.r); n != 0 {
			t.Errorf("seed %d: the right (no reauth_time) sent %d IKE_SA_INIT requests", seed, n)
		}
		now := p.l.established()[0]
		if now == first || now.fromRekey || now.spiI == first.spiI {
			t.Errorf("seed %d: the IKE SA was not set up anew (same SA %v, from a rekey %v)", seed, now == first, now.fromRekey)
		}
		if in := now.info(); in.ReauthIn <= 0 || in.ReauthIn > time.Hour {
			t.Errorf("seed %d: next reauthentication in %v, want within the hour", seed, in.ReauthIn)
		}
	}
}

// TestSimReauthTwoChildren: every Child SA of the IKE SA is recreated on
// the new one (the first in IKE_AUTH, the other with CREATE_CHILD_SA)
// before the old IKE SA goes.
func TestSimReauthTwoChildren(t *testing.T) {
	p := newSimPair(t, 7, simOpts{})
	p.l.peer.IKELife = IKELifetimes{ReauthTime: time.Hour, OverTime: 6 * time.Minute}
	for _, n := range []struct {
		node       *simNode
		lnet, rnet string
	}{{p.l, "10.1.1.0/24", "10.2.1.0/24"}, {p.r, "10.2.1.0/24", "10.1.1.0/24"}} {
		c := *n.node.peer.Children[0]
		c.Name = "net2"
		c.LocalTS = []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(n.lnet))}
		c.RemoteTS = []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(n.rnet))}
		n.node.peer.Children = append(n.node.peer.Children, &c)
	}
	p.up(t)
	reply := p.l.createChild(p.l.peer.Children[1], nil)
	p.s.mustRun(time.Minute, "second child", func() bool { return len(reply) > 0 })
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	names := func(n *simNode) []string {
		var out []string
		for _, sa := range n.established() {
			for _, c := range sa.childList() {
				out = append(out, c.cfg.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	old := p.l.established()[0].spiI
	p.s.mustRun(time.Hour+time.Minute, "reauthenticated", func() bool {
		sas := p.l.established()
		return len(sas) == 1 && sas[0].spiI != old && len(p.r.established()) == 1
	})
	p.s.run(time.Minute, nil) // the old IKE SA's DELETE
	for _, n := range []*simNode{p.l, p.r} {
		if got := names(n); !slices.Equal(got, []string{"net", "net2"}) {
			t.Errorf("%v: Child SAs %v after reauthentication, want [net net2]", n.addr, got)
		}
		if got := len(n.inst.all()); got != 2 {
			t.Errorf("%v: %d Child SAs installed, want 2", n.addr, got)
		}
	}
}

// TestSimReauthFails: the peer vanishes; each reauthentication attempt
// times out and is tried again, and the IKE SA ends at its hard lifetime,
// over_time after reauth_time.
func TestSimReauthFails(t *testing.T) {
	p := newSimPair(t, 8, simOpts{retransmitTries: 2})
	p.l.peer.IKELife = IKELifetimes{ReauthTime: time.Hour, OverTime: 10 * time.Minute}
	p.up(t)
	start := p.s.clock.Now()
	p.s.Cut[rightAddr] = true
	p.s.mustRun(2*time.Hour, "IKE SA expired", func() bool { return len(p.l.established()) == 0 })
	if d := p.s.clock.Now().Sub(start); d < 70*time.Minute || d > 71*time.Minute {
		t.Errorf("IKE SA gone after %v, want at the hard lifetime 1h10m", d)
	}
	if n := initRequests(p.l); n < 3 {
		t.Errorf("%d IKE_SA_INIT requests, want the setup and several reauthentication attempts", n)
	}
}

// TestSimAuthLifetime: a remote-access server with reauth_time that
// leased a virtual IP cannot reauthenticate itself; it sends
// AUTH_LIFETIME (RFC 4478) and the client, which has no reauth_time of
// its own, reauthenticates over_time before it ends, asking for and
// getting the same address.
func TestSimAuthLifetime(t *testing.T) {
	pool := mustPool(t, "10.3.0.1-10.3.0.254")
	p := newVIPPair(t, 9, pool)
	p.r.peer.IKELife = IKELifetimes{ReauthTime: 2 * time.Hour, OverTime: 15 * time.Minute}
	p.l.peer.IKELife = IKELifetimes{OverTime: 5 * time.Minute}
	p.up(t)
	vip := netip.MustParseAddr("10.3.0.1")
	if got := infoOf(p.l).ReauthIn; got < time.Hour+50*time.Minute || got > time.Hour+55*time.Minute {
		t.Fatalf("client reauthenticates in %v, want 2h minus over_time (5m)", got)
	}
	old := p.l.established()[0].spiI
	p.s.mustRun(2*time.Hour, "client reauthenticated", func() bool {
		sas := p.l.established()
		return len(sas) == 1 && sas[0].spiI != old && len(p.r.established()) == 1
	})
	p.s.run(time.Minute, nil) // the old IKE SA's DELETE
	if n := initRequests(p.r); n != 0 {
		t.Errorf("the server sent %d IKE_SA_INIT requests; it cannot reauthenticate a virtual IP client", n)
	}
	if got := infoOf(p.l).LocalVIPs; !slices.Equal(got, []netip.Addr{vip}) {
		t.Errorf("client virtual IPs after reauthentication: %v, want [%v]", got, vip)
	}
	if n := p.l.inst.vipCount(vip); n != 1 {
		t.Errorf("virtual IP installed %d times after reauthentication, want 1", n)
	}
	if s := pool.Stats(); s.Online != 1 || s.OnlineLeases[vip] == "" {
		t.Errorf("pool after reauthentication: %+v", s)
	}
}
