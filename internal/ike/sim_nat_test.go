package ike

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// simNAT is a NAT in front of one sim node: packets from private get the
// source public:<mapped port>, packets to a mapped public port go back to
// private. Mappings are made on the first outbound packet of a flow and
// forgotten by flush, after which new flows get new ports (a rebooted NAT).
type simNAT struct {
	private, public netip.Addr
	next            uint16
	out             map[uint16]uint16 // private port -> public port
	in              map[uint16]uint16
}

func newSimNAT(s *simNet, private, public netip.Addr) *simNAT {
	n := &simNAT{private: private, public: public, next: 20000}
	n.flush()
	s.Translate = n.translate
	return n
}

func (n *simNAT) flush() {
	n.out, n.in = map[uint16]uint16{}, map[uint16]uint16{}
	n.next += 1000
}

func (n *simNAT) mapped(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(n.public, n.out[port])
}

func (n *simNAT) translate(p *simPacket) bool {
	switch {
	case p.from.Addr() == n.private:
		pub, ok := n.out[p.from.Port()]
		if !ok {
			pub = n.next
			n.next++
			n.out[p.from.Port()], n.in[pub] = pub, p.from.Port()
		}
		p.from = netip.AddrPortFrom(n.public, pub)
	case p.to.Addr() == n.public:
		priv, ok := n.in[p.to.Port()]
		if !ok {
			return false // no mapping: the NAT drops it
		}
		p.to = netip.AddrPortFrom(n.private, priv)
	}
	return true
}

var natPublic = netip.MustParseAddr("198.51.100.1")

// natPair is a simPair with the left node behind a simNAT; the right
// node accepts the left from the NAT's public address.
func natPair(t *testing.T, o simOpts) (*simPair, *simNAT) {
	p := newSimPair(t, 7, o)
	p.r.peer.RemoteAddrs = []netip.Prefix{netip.PrefixFrom(natPublic, 32)}
	return p, newSimNAT(p.s, leftAddr, natPublic)
}

func natFlags(t *testing.T, n *simNode) SAInfo {
	t.Helper()
	sas := n.established()
	if len(sas) != 1 {
		t.Fatalf("%v: %d IKE SAs, want 1", n.addr, len(sas))
	}
	return sas[0].info()
}

// TestSimNATFlags: the NAT conditions each side reports (swanctl's
// nat-local, nat-remote, nat-fake), as strongSwan sets them (ike_natd.c):
// nat-local when the peer's NAT_DETECTION_DESTINATION_IP does not match
// our address, nat-remote when its NAT_DETECTION_SOURCE_IP does not match
// the packet's source, nat-fake when neither but we force encapsulation
// (encap = yes, which fakes our source hash, so the peer sees nat-remote).
// The Child SAs follow COND_NAT_ANY as child_create.c does: ESP in UDP on
// 4500 (RFC 3948) with any flag, raw ESP with the IKE SA left on port 500
// without.
func TestSimNATFlags(t *testing.T) {
	type flags struct{ local, remote, fake bool }
	get := func(in SAInfo) flags { return flags{in.NATLocal, in.NATRemote, in.NATFake} }
	for _, tc := range []struct {
		name           string
		nat            bool // the initiator is behind a NAT
		lEncap, rEncap bool
		l, r           flags
		encap          bool
	}{
		{name: "no-NAT", l: flags{}, r: flags{}, encap: false},
		{name: "no-NAT-both-encap", lEncap: true, rEncap: true, l: flags{remote: true}, r: flags{remote: true}, encap: true},
		{name: "no-NAT-initiator-encap", lEncap: true, l: flags{fake: true}, r: flags{remote: true}, encap: true},
		{name: "no-NAT-responder-encap", rEncap: true, l: flags{remote: true}, r: flags{fake: true}, encap: true},
		{name: "initiator-behind-NAT", nat: true, l: flags{local: true}, r: flags{remote: true}, encap: true},
		{name: "initiator-behind-NAT-encap", nat: true, lEncap: true, rEncap: true, l: flags{local: true, remote: true}, r: flags{remote: true}, encap: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *simPair
			var nat *simNAT
			if tc.nat {
				p, nat = natPair(t, simOpts{})
			} else {
				p = newSimPair(t, 3, simOpts{})
			}
			p.l.peer.Encap, p.r.peer.Encap = tc.lEncap, tc.rEncap
			p.up(t)
			l, r := natFlags(t, p.l), natFlags(t, p.r)
			if got := get(l); got != tc.l {
				t.Errorf("initiator: %+v, want %+v", got, tc.l)
			}
			if got := get(r); got != tc.r {
				t.Errorf("responder: %+v, want %+v", got, tc.r)
			}
			wantPort := uint16(500)
			if tc.encap {
				wantPort = 4500
			}
			if l.Local.Port() != wantPort || l.Remote.Port() != wantPort {
				t.Errorf("initiator's IKE SA %v -> %v, want port %d", l.Local, l.Remote, wantPort)
			}
			for _, n := range []*simNode{p.l, p.r} {
				c := n.inst.all()
				if len(c) != 1 || c[0].Encap != tc.encap {
					t.Fatalf("%v: Child SAs %v, want one with Encap %v", n.addr, c, tc.encap)
				}
				if in := natFlags(t, n).Children; len(in) != 1 || in[0].Encap != tc.encap {
					t.Errorf("%v: status says encap %+v, want %v", n.addr, in, tc.encap)
				}
			}
			if nat == nil {
				return
			}
			// The server answers the NAT's mapping of the client's port
			// 4500, not anything configured, and so does its ESP.
			if want := nat.mapped(4500); r.Remote != want {
				t.Errorf("server's IKE SA talks to %v, want the mapping %v", r.Remote, want)
			}
			if c := p.r.inst.all(); c[0].PeerAddr() != nat.mapped(4500) {
				t.Errorf("server's Child SA sends ESP to %v, want %v", c[0].PeerAddr(), nat.mapped(4500))
			}
			if l.Remote != netip.AddrPortFrom(rightAddr, 4500) {
				t.Errorf("client did not float to the server's 4500: %v", l.Remote)
			}
		})
	}
}

// TestNATFakeWithHonestPeer: a peer that sends true NAT detection hashes
// and no NAT between us: with encap = yes goipsec still encapsulates and
// says so as strongSwan does (nat-fake, and so nat-any); with encap = no
// nothing is set (raw ESP). A peer without NAT detection payloads never
// makes nat-fake.
func TestNATFakeWithHonestPeer(t *testing.T) {
	l, r := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	honest := natNotifies(1, 2, r, l, false, nil)
	var sa ikeSA
	supported, local, remote := natResult(honest, 1, 2, l, r)
	sa.setNAT(supported, local, remote, true)
	if sa.natLocal || sa.natRemote || !sa.natFake || !sa.natAny() {
		t.Errorf("no NAT, honest peer, encap = yes: local %v remote %v fake %v; want fake only", sa.natLocal, sa.natRemote, sa.natFake)
	}
	sa.setNAT(supported, local, remote, false)
	if sa.natAny() {
		t.Errorf("no NAT, honest peer, encap = no: local %v remote %v fake %v; want none", sa.natLocal, sa.natRemote, sa.natFake)
	}
	supported, local, remote = natResult([]wire.Payload{}, 1, 2, l, r)
	sa.setNAT(supported, local, remote, true)
	if sa.natFake {
		t.Error("nat-fake without NAT detection payloads from the peer")
	}
}

// TestSimNATMappingChange: the NAT forgets its mappings (RFC 7296 2.23);
// the client's next authenticated message (its DPD) comes from a new
// port, and the server, not behind a NAT, moves its IKE SA and its Child
// SA's ESP there; the client, behind the NAT, never follows anything.
func TestSimNATMappingChange(t *testing.T) {
	p, nat := natPair(t, simOpts{dpdDelay: 30 * time.Second})
	p.up(t)
	old := nat.mapped(4500)
	nat.flush()
	p.s.mustRun(2*time.Minute, "server following the new mapping", func() bool {
		return nat.out[4500] != 0 && natFlags(t, p.r).Remote == nat.mapped(4500)
	})
	if nat.mapped(4500) == old {
		t.Fatal("the NAT did not change the mapping")
	}
	if c := p.r.inst.all(); len(c) != 1 || c[0].PeerAddr() != nat.mapped(4500) {
		t.Fatalf("server's ESP goes to %v, want %v", c[0].PeerAddr(), nat.mapped(4500))
	}
	if n := p.r.e.Stats.PeerMoved.Load(); n != 1 {
		t.Errorf("PeerMoved = %d, want 1", n)
	}
	// Both keep running DPD through the new mapping: nothing times out.
	p.s.run(3*time.Minute, nil)
	if len(p.l.established()) != 1 || len(p.r.established()) != 1 {
		t.Fatalf("tunnel lost after the mapping change: left %d right %d", len(p.l.established()), len(p.r.established()))
	}
	if n := p.l.e.Stats.PeerMoved.Load(); n != 0 {
		t.Errorf("the client behind the NAT followed an address change (%d)", n)
	}
}

// TestSimNATKeepalive: behind a NAT, an idle IKE SA sends a NAT-keepalive
// every KeepAlive from the NAT-T port (RFC 3948 4); the server, not
// behind one, sends none, and neither does anyone without a NAT.
func TestSimNATKeepalive(t *testing.T) {
	for _, behindNAT := range []bool{true, false} {
		name := map[bool]string{true: "behind-NAT", false: "no-NAT"}[behindNAT]
		t.Run(name, func(t *testing.T) {
			var p *simPair
			if behindNAT {
				p, _ = natPair(t, simOpts{})
			} else {
				p = newSimPair(t, 5, simOpts{})
			}
			var mu sync.Mutex
			sent := map[netip.Addr][]netip.AddrPort{}
			for _, n := range []*simNode{p.l, p.r} {
				n.e.cfg.KeepAlive = 20 * time.Second
				n.e.cfg.SendKeepalive = func(local, remote netip.AddrPort) error {
					mu.Lock()
					defer mu.Unlock()
					if local.Port() != 4500 || remote.Port() != 4500 {
						t.Errorf("keepalive %v -> %v, want NAT-T port to NAT-T port", local, remote)
					}
					sent[n.addr] = append(sent[n.addr], remote)
					return nil
				}
			}
			p.up(t)
			start := p.s.clock.Now()
			p.s.run(65*time.Second, nil)
			mu.Lock()
			defer mu.Unlock()
			want := 0
			if behindNAT {
				want = 3 // at 20, 40 and 60 s of silence
			}
			if n := len(sent[leftAddr]); n != want {
				t.Errorf("client sent %d keepalives in %v, want %d", n, p.s.clock.Now().Sub(start), want)
			}
			if n := len(sent[rightAddr]); n != 0 {
				t.Errorf("server, not behind a NAT, sent %d keepalives", n)
			}
		})
	}
}

// TestSimNATClientDoesNotFollow: the client, behind a NAT and the original
// initiator, keeps sending to the server's address it knows even when the
// server's messages seem to come from elsewhere (strongSwan's rule in
// ike_sa.c update_hosts: only a peer without a NAT of its own, or a
// responder, follows) — a NAT in front of us rewriting the server's port
// must not pull our IKE SA away from the server's real address.
func TestSimNATClientDoesNotFollow(t *testing.T) {
	p, nat := natPair(t, simOpts{dpdDelay: 30 * time.Second})
	p.up(t)
	inner := p.s.Translate
	p.s.Translate = func(q *simPacket) bool {
		if q.from.Addr() == rightAddr {
			q.from = netip.AddrPortFrom(rightAddr, 4501)
		}
		return inner(q)
	}
	p.s.run(2*time.Minute, nil)
	l := natFlags(t, p.l)
	if want := netip.AddrPortFrom(rightAddr, 4500); l.Remote != want {
		t.Errorf("client followed the server to %v, want it to stay at %v", l.Remote, want)
	}
	if n := p.l.e.Stats.PeerMoved.Load(); n != 0 {
		t.Errorf("client PeerMoved = %d, want 0", n)
	}
	if r := natFlags(t, p.r); r.Remote != nat.mapped(4500) {
		t.Errorf("server moved to %v, want %v", r.Remote, nat.mapped(4500))
	}
}

// TestSimNATESPMoves: the data plane reports authenticated ESP from a new
// address (sadb.ChildSA.OnPeerMoved): on the server the IKE SA follows, so
// its next IKE messages go there too; the client behind the NAT gets no
// such callback at all.
func TestSimNATESPMoves(t *testing.T) {
	p, nat := natPair(t, simOpts{})
	p.up(t)
	if c := p.l.inst.all(); len(c) != 1 || c[0].OnPeerMoved != nil {
		t.Fatalf("client behind the NAT may be moved by ESP")
	}
	c := p.r.inst.all()
	if len(c) != 1 || c[0].OnPeerMoved == nil {
		t.Fatalf("server cannot be moved by ESP")
	}
	nat.flush()
	newAddr := netip.AddrPortFrom(natPublic, nat.next) // the port the NAT will give 4500 next
	c[0].PeerMovedTo(newAddr)
	p.s.mustRun(time.Second, "server's IKE SA following the ESP", func() bool { return natFlags(t, p.r).Remote == newAddr })
	// The client's next packet creates that mapping; the server's next
	// request, a rekey, must go through it.
	p.s.Translate(&simPacket{from: netip.AddrPortFrom(leftAddr, 4500), to: netip.AddrPortFrom(rightAddr, 4500)})
	done := p.r.command(cmdRekeyChild, "net")
	p.s.mustRun(time.Minute, "server rekey through the new mapping", func() bool { return len(done) > 0 })
	if err := <-done; err != nil {
		t.Fatalf("rekey after the ESP move: %v", err)
	}
	if c := p.r.inst.all(); c[len(c)-1].Remote != newAddr {
		t.Errorf("new Child SA installed towards %v, want %v", c[len(c)-1].Remote, newAddr)
	}
}
