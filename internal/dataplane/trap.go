package dataplane

// Trap policies (swanctl start_action = trap; RFC 4301 5.1 step 3c: the
// policy says PROTECT but the SA "does not exist yet", so the packet makes
// IKE negotiate one). The data plane's part:
//
//	packet hits a trap policy (policy.go)
//	-> copy it into the trap's bounded queue (sadb.Acquires: packets,
//	   bytes, age and the number of traps holding packets are bounded;
//	   past the bound: dropped, counted trap_queue_full)
//	-> on the first packet, and again after HoldLimits.Retry while packets
//	   keep coming, Config.Acquire(name) asks the daemon for the Child SA
//	   (one acquire per trap at a time: no initiation storm)
//	-> the Child SA is installed (InstallChild): the held packets are looked
//	   up again and sent on it, in arrival order
//	-> or the daemon reports failure (TrapFailed): the held packets are
//	   dropped, counted trap_failed, and the next packet acquires again.
//
// The trap itself stays installed whatever happens to its SAs (delete,
// DPD, close): only RemoveTrap takes it away.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// Trap describes one trap: a child's configured selectors (dynamic ones
// resolved to addresses) and the peer it would negotiate with.
type Trap struct {
	Name              string // "conn/child", the name of the Child SAs it waits for
	LocalTS, RemoteTS []ts.Selector
	// Peer is the peer's IKE address: no route into the TUN may cover it
	// (the IKE and ESP packets themselves would be trapped).
	Peer netip.Addr
}

// installedTrap is what a trap holds in the SPD and the route table.
type installedTrap struct {
	spec  Trap
	reqID uint32
	ids   []sadb.PolicyID
}

// InstallTrap installs (or, for a name already installed, replaces) the
// trap policies of t and routes its remote selectors into the TUN, so
// packets for them reach the data plane. It changes nothing on error.
func (d *Dataplane) InstallTrap(t Trap) error {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	if d.closing.Load() {
		return errors.New("dataplane: closed")
	}
	if old := d.pol.traps[t.Name]; old != nil {
		d.removeTrapLocked(old)
	}
	d.pol.init()
	d.pol.nextTrapReq++
	it := &installedTrap{spec: t, reqID: trapReqIDBase + d.pol.nextTrapReq}
	pols := sadb.ChildPolicies(t.Name, it.reqID, sadb.Protect, t.LocalTS, t.RemoteTS)
	if len(pols) == 0 {
		return fmt.Errorf("dataplane: trap %s: no (local, remote) selector pair of one address family", t.Name)
	}
	if d.routes != nil {
		if err := d.routes.addTrap(it.reqID, t); err != nil {
			return fmt.Errorf("dataplane: trap %s: %w", t.Name, err)
		}
	}
	for _, p := range pols {
		p.Priority = policyPriority(sadb.ClassDefault, p.Local, p.Remote, true)
		id, err := d.pol.spd.Add(p)
		if err != nil {
			it.ids = append(it.ids, id)
			d.removeTrapLocked(it)
			return fmt.Errorf("dataplane: trap %s: %w", t.Name, err)
		}
		it.ids = append(it.ids, id)
	}
	d.pol.traps[t.Name] = it
	d.log.Debug("trap installed", "trap", t.Name, "local_ts", t.LocalTS, "remote_ts", t.RemoteTS)
	return nil
}

// RemoveTrap removes the trap named name (its held packets are dropped,
// counted trap_failed). It reports whether there was one.
func (d *Dataplane) RemoveTrap(name string) bool {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	it := d.pol.traps[name]
	if it == nil {
		return false
	}
	d.removeTrapLocked(it)
	return true
}

func (d *Dataplane) removeTrapLocked(it *installedTrap) {
	for _, id := range it.ids {
		if id != 0 {
			d.pol.spd.Remove(id)
		}
	}
	if d.routes != nil {
		d.routes.removeTrap(it.reqID)
	}
	d.acq.Flush(it.reqID)
	if d.pol.traps[it.spec.Name] == it {
		delete(d.pol.traps, it.spec.Name)
	}
}

// Traps returns the names of the installed traps.
func (d *Dataplane) Traps() []string {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	out := make([]string, 0, len(d.pol.traps))
	for n := range d.pol.traps {
		out = append(out, n)
	}
	return out
}

// TrapFailed tells the data plane that the negotiation started for the
// trap named name failed: its held packets are dropped (counted
// trap_failed) and the next packet raises a new acquire.
func (d *Dataplane) TrapFailed(name string) {
	d.installMu.Lock()
	it := d.pol.traps[name]
	d.installMu.Unlock()
	if it != nil {
		d.acq.Flush(it.reqID)
	}
}

// Pending returns the number of packets held for the trap named name.
func (d *Dataplane) Pending(name string) int {
	d.installMu.Lock()
	it := d.pol.traps[name]
	d.installMu.Unlock()
	if it == nil {
		return 0
	}
	return d.acq.Pending(it.reqID)
}

// TrapStats counts what the traps did that is not a drop: packets held,
// packets sent once their SA was installed, and acquires raised.
type TrapStats struct {
	Held, Released, Acquires uint64
}

// TrapStats returns the trap counters (drops are in Counters).
func (d *Dataplane) TrapStats() TrapStats {
	st := &d.acq.Stats
	return TrapStats{Held: st.Held.Load(), Released: st.Released.Load(), Acquires: st.Acquires.Load()}
}

// childInstalled sends what the trap of c's child held, now that c is
// installed. d.installMu is held.
func (d *Dataplane) childInstalled(c *sadb.ChildSA) {
	if it := d.pol.traps[c.Name]; it != nil {
		d.acq.Drain(it.reqID, time.Now(), d.sendHeld)
	}
}

// noSAOut handles an outbound packet the SPD gave no SA (prepareOut): a
// trap holds it, anything else drops it by reason. pkt is the inner packet
// in a pooled buffer (copied if held).
func (d *Dataplane) noSAOut(dec sadb.Decision, pkt []byte) {
	switch {
	case dec.Policy == nil:
		// RFC 4301 5.1: no policy matches: discard. Never leak the
		// packet in the clear.
		inc(&d.counters.NoPolicy)
	case dec.Action == sadb.Discard:
		inc(&d.counters.ShuntDrop) // mode = drop
	case dec.Action == sadb.Bypass:
		// mode = pass: such packets are routed around the TUN (shunt.go);
		// one that still got here cannot be sent in the clear from the
		// TUN, so it is dropped and counted.
		inc(&d.counters.BypassInTUN)
	case dec.Policy.ReqID < trapReqIDBase:
		// An SA's policy whose SA just went (a lookup raced RemoveChild).
		inc(&d.counters.NoSA)
	default:
		d.hold(dec.Policy.ReqID, dec.Policy.Name, pkt)
	}
}

// An Acquire asks for the Child SA of a trap (Config.Acquire). Name is
// the trap's (Trap.Name); Local and Remote describe the packet that hit
// it (its source and destination, protocol and, for TCP, UDP and SCTP,
// ports), which the IKE initiator offers as its first traffic selectors
// (RFC 7296 2.9).
type Acquire struct {
	Name          string
	Local, Remote ts.Selector
}

// acquireFor is the Acquire of trap name for packet ip.
func acquireFor(name string, ip *innerPacket) Acquire {
	host := func(a netip.Addr, port uint16) ts.Selector {
		s := ts.Selector{Proto: ip.proto, Start: a, End: a, StartPort: 0, EndPort: 65535}
		switch ip.proto {
		case 6, 17, 132: // TCP, UDP, SCTP: the ports are the packet's
			s.StartPort, s.EndPort = port, port
		}
		return s
	}
	return Acquire{Name: name, Local: host(ip.src, ip.sport), Remote: host(ip.dst, ip.dport)}
}

// hold queues a copy of pkt for the trap reqID and raises an acquire when
// the queue says so. Only trapped packets allocate: at most
// HoldLimits.Packets per trap and acquire round.
func (d *Dataplane) hold(reqID uint32, name string, pkt []byte) {
	var ip innerPacket
	parsed := parseInner(pkt, &ip)
	buf := make([]byte, outHeadroom+len(pkt), outHeadroom+len(pkt)+outTailroom)
	copy(buf[outHeadroom:], pkt)
	now := time.Now()
	held, acquire := d.acq.Hold(reqID, buf, now)
	if acquire && d.acquire != nil {
		a := Acquire{Name: name}
		if parsed {
			a = acquireFor(name, &ip)
		}
		d.acquire(a)
	}
	if !held || !parsed {
		return // counted by the queue (trap_queue_full)
	}
	// The SA may have been installed between the lookup and Hold, after
	// InstallChild drained the queue: look again so nothing waits for a
	// drain that already happened.
	if d.pol.lookupOut(ip.src, ip.dst, ip.proto, ip.sport, ip.dport).SA != nil {
		d.acq.Drain(reqID, now, d.sendHeld)
	}
}

// sendHeld seals and sends one packet released from a trap queue: buf
// holds outHeadroom bytes, then the inner packet, with outTailroom spare
// capacity. It looks the packet up again, as the SA that was negotiated
// may cover less than the trap (narrowing, RFC 7296 2.9).
func (d *Dataplane) sendHeld(buf []byte) {
	pkt := buf[outHeadroom:]
	var ip innerPacket
	if !parseInner(pkt, &ip) {
		inc(&d.counters.Malformed)
		return
	}
	dec := d.pol.lookupOut(ip.src, ip.dst, ip.proto, ip.sport, ip.dport)
	c := dec.SA
	if c == nil {
		d.noSAOut(dec, pkt) // still trapped (held again) or dropped
		return
	}
	sock := d.socketFor(true, c.PeerAddr().Addr())
	if !c.Encap || sock == nil || c.Out == nil {
		inc(&d.counters.Unsupported)
		return
	}
	if c.Expired() {
		inc(&d.counters.Expired)
		return
	}
	full := buf[:cap(buf)]
	n := len(pkt)
	start := outHeadroom - c.Out.PayloadOffset()
	if start < 0 {
		start = 0
		copy(full[c.Out.PayloadOffset():], pkt)
	}
	out, err := c.Seal(full[start:], n, ip.nextHeader)
	if err != nil {
		if errors.Is(err, esp.ErrBufferTooSmall) {
			inc(&d.counters.TooBig)
		} else {
			inc(&d.counters.NoSA)
		}
		return
	}
	peer := c.PeerAddr()
	msg := [1]ipv4.Message{{
		Buffers: [][]byte{out},
		Addr:    net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())),
		OOB:     sock.pktinfo(make([]byte, 0, pktinfoLen), c.Local.Addr()),
	}}
	if _, err := sock.pc.WriteBatch(msg[:], 0); err != nil {
		inc(&d.counters.SendErrors)
		return
	}
	c.CountOut(uint64(n))
	c.Stats.LastOut.Store(time.Now().UnixNano())
}

// routineExpireHeld returns expired held packets (counted trap_expired)
// once a second, so they do not wait for the next packet of their trap.
func (d *Dataplane) routineExpireHeld() {
	defer d.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.acq.Expire(now)
		}
	}
}
