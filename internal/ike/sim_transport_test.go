package ike

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// hostToHost makes both sides' child "net" host to host (swanctl's
// local_ts = remote_ts = dynamic: the two IKE addresses) with the given
// modes.
func (p *simPair) hostToHost(t *testing.T, left, right sadb.Mode) {
	t.Helper()
	dyn, err := ts.Parse("dynamic")
	if err != nil {
		t.Fatal(err)
	}
	for n, m := range map[*simNode]sadb.Mode{p.l: left, p.r: right} {
		c := n.peer.Children[0]
		c.LocalTS, c.RemoteTS, c.Mode = []ts.Selector{dyn}, []ts.Selector{dyn}, m
	}
}

// checkModes asserts the mode of every installed Child SA on both sides and
// in the status (VICI list-sas "mode").
func (p *simPair) checkModes(t *testing.T, want sadb.Mode) {
	t.Helper()
	for _, n := range []*simNode{p.l, p.r} {
		for _, c := range n.inst.all() {
			if c.Mode != want {
				t.Errorf("%v: Child SA %s installed in %v mode, want %v", n.addr, c, c.Mode, want)
			}
			// RFC 4303 2.7: TFC padding needs a payload that knows its
			// length, which a transport payload does not here.
			if tfc := c.Out.TFCPadding(); want == sadb.ModeTransport && tfc != 0 {
				t.Errorf("%v: transport mode SA pads to %d", n.addr, tfc)
			}
		}
		for _, s := range n.e.SAs() {
			for _, c := range s.Children {
				if c.Mode != want {
					t.Errorf("%v: status shows %v mode, want %v", n.addr, c.Mode, want)
				}
			}
		}
	}
}

// TestSimTransportMode: USE_TRANSPORT_MODE (RFC 7296 1.3.1, 3.10.1) in
// IKE_AUTH, and in the CREATE_CHILD_SA of each side's rekey (RFC 7296
// 1.3.3: the rekeyed SA keeps transport mode).
//
//	initiator                          responder
//	IKE_AUTH {..., SA, TSi, TSr, N(USE_TRANSPORT_MODE)} -->
//	     <-- IKE_AUTH {..., SA, TSi, TSr, N(USE_TRANSPORT_MODE)}
//	CREATE_CHILD_SA {N(REKEY_SA), SA, Ni, TSi, TSr, N(USE_TRANSPORT_MODE)} -->
//	     <-- CREATE_CHILD_SA {SA, Nr, TSi, TSr, N(USE_TRANSPORT_MODE)}
func TestSimTransportMode(t *testing.T) {
	p := newSimPair(t, 31, simOpts{})
	p.hostToHost(t, sadb.ModeTransport, sadb.ModeTransport)
	p.l.peer.Children[0].TFCPadding, p.r.peer.Children[0].TFCPadding = 100, 100
	p.s.Check = p.makeBeforeBreak(t)
	p.up(t)
	old := p.checkTunnel(t)
	p.checkModes(t, sadb.ModeTransport)
	l := p.l.inst.all()[0]
	if !isHost(l.LocalTS, leftAddr) || !isHost(l.RemoteTS, rightAddr) {
		t.Fatalf("selectors %v === %v, want %v === %v", l.LocalTS, l.RemoteTS, leftAddr, rightAddr)
	}
	for _, by := range []*simNode{p.l, p.r} {
		reply := by.command(cmdRekeyChild, "net")
		p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
		if err := <-reply; err != nil {
			t.Fatalf("rekey by %v: %v", by.addr, err)
		}
		p.s.mustRun(time.Minute, "old SAs removed", func() bool {
			return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1
		})
		if now := p.checkTunnel(t); now == old {
			t.Fatalf("inbound SPI still %08x after the rekey", old)
		}
		p.checkModes(t, sadb.ModeTransport)
	}
}

// TestSimTransportModeDeclined: transport mode needs both sides; otherwise
// the Child SA is set up in tunnel mode, as strongSwan does (RFC 7296
// 1.3.1: "If the responder declines the request, the Child SA will be
// established in tunnel mode"). The same for selectors that are not host
// to host, and a rekey of the resulting tunnel SA stays tunnel.
func TestSimTransportModeDeclined(t *testing.T) {
	for _, tc := range []struct {
		name        string
		left, right sadb.Mode
		subnets     bool
	}{
		{"responder-tunnel", sadb.ModeTransport, sadb.ModeTunnel, false},
		{"initiator-tunnel", sadb.ModeTunnel, sadb.ModeTransport, false},
		{"not-host-to-host", sadb.ModeTransport, sadb.ModeTransport, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSimPair(t, 32, simOpts{})
			if tc.subnets {
				p.l.peer.Children[0].Mode, p.r.peer.Children[0].Mode = tc.left, tc.right
			} else {
				p.hostToHost(t, tc.left, tc.right)
			}
			p.up(t)
			p.checkTunnel(t)
			p.checkModes(t, sadb.ModeTunnel)
			reply := p.l.command(cmdRekeyChild, "net")
			p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
			if err := <-reply; err != nil {
				t.Fatalf("rekey: %v", err)
			}
			p.s.mustRun(time.Minute, "old SAs removed", func() bool {
				return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1
			})
			p.checkTunnel(t)
			p.checkModes(t, sadb.ModeTunnel)
		})
	}
}

// TestInitiatorModeUnsolicited: a USE_TRANSPORT_MODE answer to a tunnel
// mode request, or for selectors that are not host to host, fails the
// Child SA (strongSwan: "transport mode requested by responder is
// unacceptable"); no notify means tunnel mode.
func TestInitiatorModeUnsolicited(t *testing.T) {
	sa := &ikeSA{log: testLogger(t),
		local:  netip.AddrPortFrom(leftAddr, 4500),
		remote: netip.AddrPortFrom(rightAddr, 4500)}
	hostL := []ts.Selector{ts.FromPrefix(netip.PrefixFrom(leftAddr, 32))}
	hostR := []ts.Selector{ts.FromPrefix(netip.PrefixFrom(rightAddr, 32))}
	subnet := []ts.Selector{ts.FromPrefix(netip.MustParsePrefix("10.2.0.0/24"))}
	yes := []wire.Payload{transportNotify()}
	cfg := &ChildConfig{Name: "net"}
	for _, tc := range []struct {
		name   string
		asked  sadb.Mode
		resp   []wire.Payload
		remote []ts.Selector
		want   sadb.Mode
		fails  bool
	}{
		{"agreed", sadb.ModeTransport, yes, hostR, sadb.ModeTransport, false},
		{"declined", sadb.ModeTransport, nil, hostR, sadb.ModeTunnel, false},
		{"tunnel", sadb.ModeTunnel, nil, subnet, sadb.ModeTunnel, false},
		{"unsolicited", sadb.ModeTunnel, yes, hostR, 0, true},
		{"not-host", sadb.ModeTransport, yes, subnet, 0, true},
	} {
		got, err := sa.initiatorMode(&childOffer{cfg: cfg, mode: tc.asked}, tc.resp, hostL, tc.remote)
		if (err != nil) != tc.fails || (!tc.fails && got != tc.want) {
			t.Errorf("%s: mode %v, err %v; want %v, fails %v", tc.name, got, err, tc.want, tc.fails)
		}
	}
}

// TestSimFirstChildRefusedKeepsIKESA: when the responder refuses the Child
// SA of IKE_AUTH (here TS_UNACCEPTABLE, as strongSwan's kernel-libipsec
// answers a host-to-host tunnel), the initiator reports the notify but the
// IKE SA stays up on both sides (RFC 7296 1.2), as strongSwan keeps it; it
// used to vanish on our side only, leaving the peer's behind.
func TestSimFirstChildRefusedKeepsIKESA(t *testing.T) {
	p := newSimPair(t, 33, simOpts{})
	p.r.peer.Children[0].RemoteTS = []ts.Selector{ts.FromPrefix(netip.MustParsePrefix("10.9.0.0/24"))}
	done := p.l.initiate()
	p.s.mustRun(time.Minute, "initiate done", func() bool { return len(done) > 0 })
	var ne *NotifyError
	if err := <-done; !errors.As(err, &ne) || ne.Type != wire.NotifyTSUnacceptable {
		t.Fatalf("initiate: %v, want TS_UNACCEPTABLE", err)
	}
	p.s.run(time.Minute, nil)
	if l, r := p.l.established(), p.r.established(); len(l) != 1 || len(r) != 1 {
		t.Fatalf("IKE SAs: left %d, right %d; want 1 each", len(l), len(r))
	}
	if l, r := p.l.inst.all(), p.r.inst.all(); len(l) != 0 || len(r) != 0 {
		t.Fatalf("Child SAs installed: left %d, right %d", len(l), len(r))
	}
}

// TestSimTransportModeNAT: transport mode with the initiator behind a NAT,
// as strongSwan does it (child_create's get_transport_nat_ts): the server
// narrows the client's TSi (its private address) to the NAT's public
// address it sees, answers with that, and the client takes it back to its
// own; both SAs are host to host between the IKE addresses and remember
// the address the peer's checksums cover (RFC 3948 3.1.2): the server the
// client's private address, the client its public one. Rekeys by either
// side keep all of it.
func TestSimTransportModeNAT(t *testing.T) {
	p, _ := natPair(t, simOpts{})
	p.hostToHost(t, sadb.ModeTransport, sadb.ModeTransport)
	p.up(t)
	check := func(when string) {
		t.Helper()
		p.checkModes(t, sadb.ModeTransport)
		ls, rs := p.l.inst.all(), p.r.inst.all()
		if len(ls) != 1 || len(rs) != 1 {
			t.Fatalf("%s: %d and %d Child SAs", when, len(ls), len(rs))
		}
		l, r := ls[0], rs[0]
		if !isHost(l.LocalTS, leftAddr) || !isHost(l.RemoteTS, rightAddr) ||
			l.NATOrigLocal != natPublic || l.NATOrigRemote.IsValid() {
			t.Errorf("%s: client %v === %v, orig %v/%v", when, l.LocalTS, l.RemoteTS, l.NATOrigLocal, l.NATOrigRemote)
		}
		if !isHost(r.LocalTS, rightAddr) || !isHost(r.RemoteTS, natPublic) ||
			r.NATOrigRemote != leftAddr || r.NATOrigLocal.IsValid() {
			t.Errorf("%s: server %v === %v, orig %v/%v", when, r.LocalTS, r.RemoteTS, r.NATOrigLocal, r.NATOrigRemote)
		}
	}
	check("IKE_AUTH")
	for _, by := range []*simNode{p.l, p.r} {
		reply := by.command(cmdRekeyChild, "net")
		p.s.mustRun(time.Minute, "rekey done", func() bool { return len(reply) > 0 })
		if err := <-reply; err != nil {
			t.Fatalf("rekey by %v: %v", by.addr, err)
		}
		p.s.mustRun(time.Minute, "old SAs removed", func() bool {
			return len(p.l.inst.all()) == 1 && len(p.r.inst.all()) == 1
		})
		check("after a rekey by " + by.addr.String())
	}
}

// TestSimTunnelThroughNATAsked: a client behind a NAT asks for transport
// mode, the server's child is tunnel mode with the client's private
// network as remote selector: the selectors as they came make the tunnel
// (strongSwan would narrow them to the NAT's address and answer
// TS_UNACCEPTABLE).
func TestSimTunnelThroughNATAsked(t *testing.T) {
	p, _ := natPair(t, simOpts{})
	p.hostToHost(t, sadb.ModeTransport, sadb.ModeTunnel)
	priv, err := ts.Parse(netip.PrefixFrom(leftAddr, 24).Masked().String())
	if err != nil {
		t.Fatal(err)
	}
	p.r.peer.Children[0].RemoteTS = []ts.Selector{priv}
	p.up(t)
	p.checkModes(t, sadb.ModeTunnel)
	if r := p.r.inst.all(); len(r) != 1 || !isHost(r[0].RemoteTS, leftAddr) || r[0].NATOrigRemote.IsValid() {
		t.Fatalf("server Child SAs %v", r)
	}
}
