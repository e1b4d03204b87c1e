package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// rekeyIKE replaces this IKE SA with a new one (RFC 7296 1.3.2, 2.18):
//
//	HDR, SK {SA, Ni, KEi}  -->
//	                 <--  HDR, SK {SA, Nr, KEr}
//
// The new SA's keys come from the old SK_d; the Child SAs move to it, and
// the old SA is deleted (by us, unless a collision says otherwise).
func (sa *ikeSA) rekeyIKE() error {
	if sa.State() != StateEstablished || sa.rekeyed {
		return nil
	}
	for _, c := range sa.childList() {
		if c.rekeyed {
			// A Child SA rekey is not finished: the peer still has to
			// delete the old SA, or to complete its own exchange (which
			// deleting this IKE SA would cut off). Rekey a little later.
			sa.lifetimes.rekeyAt = sa.retryAt()
			sa.log.Debug("IKE SA rekey waits for a Child SA rekey to finish", "child", c.cfg.Name)
			return nil
		}
	}
	e := sa.e
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	n := e.newSA(sa.peer, true)
	e.sas[n.spiI] = n // reserve the SPI; n runs once the exchange is done
	e.indexConn(n)
	e.mu.Unlock()
	a := &activeExchange{kind: activeRekeyIKE}
	sa.active = a
	err := sa.rekeyIKEExchange(n, a)
	sa.active = nil
	col := a.collision
	if err != nil {
		e.mu.Lock()
		delete(e.sas, n.spiI)
		e.unindexConn(n)
		e.unindexID(n)
		e.mu.Unlock()
		var ne *NotifyError
		switch {
		case col != nil:
			sa.log.Info("our IKE SA rekey failed, the peer's succeeded", "err", err)
			sa.handOver(col.ike)
			return nil
		case errors.As(err, &ne) && ne.Type == wire.NotifyTemporaryFailure:
			sa.lifetimes.rekeyAt = sa.retryAt()
			sa.log.Info("peer is busy; rekeying the IKE SA later", "at", sa.lifetimes.rekeyAt)
			return nil
		}
		if !sa.lifetimes.rekeyAt.IsZero() {
			sa.lifetimes.rekeyAt = sa.retryAt()
		}
		return fmt.Errorf("ike: rekey IKE SA: %w", err)
	}
	sa.log.Info("IKE SA rekeyed", "new_ike_sa", n.unique)
	if col != nil && col.weLose(a.ni, a.nr) {
		// RFC 7296 2.8.1: ours is redundant; we delete it, the peer
		// deletes the old SA, and the peer's new SA carries on.
		sa.log.Info("IKE SA rekey collision lost; deleting our redundant IKE SA", "redundant", n.unique)
		e.start(n)
		n.enqueue(command{kind: cmdDeleteIKE})
		sa.handOver(col.ike)
		return nil
	}
	if col != nil {
		// The peer deletes its redundant IKE SA; should its DELETE never
		// come (our answer to it lost, then the old SA gone), it expires.
		sa.log.Info("IKE SA rekey collision won; the peer deletes its redundant IKE SA")
		col.ike.enqueue(command{kind: cmdRedundant})
	}
	sa.moveChildren(n)
	e.start(n)
	sa.markRekeyed()
	err = sa.deleteIKE(e.cfg.RetransmitTries)
	if errors.Is(err, ErrTimeout) {
		err = nil // the new SA is up; the peer may have dropped the old one
	}
	return err
}

func (sa *ikeSA) rekeyIKEExchange(n *ikeSA, a *activeExchange) error {
	ni := make([]byte, nonceLen)
	sa.e.random(ni)
	a.ni = ni
	var spi [8]byte
	binary.BigEndian.PutUint64(spi[:], n.spiI)
	offered := numbered(withoutADDKE(sa.peer.Proposals), spi[:])
	group := sa.suite.group
	if !offersGroup(offered, group) {
		group = firstGroup(offered)
	}
	for attempt := 0; ; attempt++ {
		kex, err := suite.NewKeyExchange(group, sa.e.cfg.Rand)
		if err != nil {
			return err
		}
		ps := []wire.Payload{&wire.SA{Proposals: offered}, &wire.Nonce{Data: ni}, &wire.KE{Group: group, Data: kex.PublicValue()}}
		_, resp, err := sa.exchange(wire.CreateChildSA, ps, sa.e.cfg.RetransmitTries)
		if err != nil {
			return err
		}
		if nt := wire.FindNotify(resp, wire.NotifyInvalidKEPayload); nt != nil && attempt == 0 && len(nt.Data) == 2 {
			if want := binary.BigEndian.Uint16(nt.Data); want != group && offersGroup(offered, want) {
				group = want
				continue
			}
		}
		if nt := firstErrorNotify(resp); nt != nil && !hasPayload(resp, wire.PayloadSA) {
			return &NotifyError{Type: nt.NotifyType}
		}
		var saP *wire.SA
		var ker *wire.KE
		var nr []byte
		for _, p := range resp {
			switch p := p.(type) {
			case *wire.SA:
				saP = p
			case *wire.KE:
				ker = p
			case *wire.Nonce:
				nr = slices.Clone(p.Data)
			}
		}
		a.nr = nr
		chosen, ok := checkChosen(offered, saP)
		if !ok || len(chosen.SPI) != 8 || ker == nil {
			return errors.New("responder's IKE SA proposal is not one we offered")
		}
		s, err := suiteOf(chosen)
		if err != nil {
			return err
		}
		if s.group != group || ker.Group != group {
			return errors.New("responder's key exchange group differs from ours")
		}
		shared, err := kex.SharedSecret(ker.Data)
		if err != nil {
			return fmt.Errorf("responder's KE payload: %w", err)
		}
		defer clear(shared)
		spiR := binary.BigEndian.Uint64(chosen.SPI)
		if spiR == 0 {
			return errMalformed("zero SPI in IKE SA rekey")
		}
		n.spiR = spiR
		keys, err := sa.keys.rekeyIKEKeys(s, ni, nr, shared, n.spiI, n.spiR)
		if err != nil {
			return err
		}
		sa.inherit(n, keys, s, ni, nr)
		sa.e.mu.Lock()
		sa.e.indexID(n) // inherit made it established
		sa.e.mu.Unlock()
		sa.inheritVIPs(n)
		sa.log.Info("IKE SA rekey negotiated", "proposal", suite.Describe(chosen))
		return nil
	}
}

// inherit makes n the successor of sa: the same peer, addresses and
// identities, new keys, established at once (RFC 7296 2.18: message IDs
// start from zero).
func (sa *ikeSA) inherit(n *ikeSA, keys *ikeKeys, s ikeSuite, ni, nr []byte) {
	n.keys, n.suite = keys, s
	n.nonceI, n.nonceR = ni, nr
	n.local, n.remote, n.initRemote = sa.local, sa.remote, sa.remote
	n.natLocal, n.natRemote, n.natFake = sa.natLocal, sa.natRemote, sa.natFake
	n.localID, n.remoteID = sa.localID, sa.remoteID
	n.frag = sa.frag.inherited()
	n.fromRekey = true
	n.relog()
	n.state = StateEstablished
	n.established = n.e.clock.Now()
	n.startIKELifetimes()
	if at := sa.lifetimes.reauthAt; !at.IsZero() {
		// A rekey does not authenticate again: the reauthentication
		// deadline stays, and so does the hard lifetime it implies
		// (strongSwan: "rescheduling reauthentication ... after rekeying").
		n.lifetimes.reauthAt = at
		if over := sa.peer.IKELife.OverTime; over > 0 {
			n.lifetimes.expireAt = at.Add(over)
		}
	}
	n.logIKEKeys()
}

// moveChildren hands the Child SAs over to the new IKE SA n. It reports
// false, keeping them, if n is gone already (its teardown and this move
// both hold n.mu, so no Child SA falls between the two).
func (sa *ikeSA) moveChildren(n *ikeSA) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == StateDeleted {
		return false
	}
	sa.mu.Lock()
	moved := sa.children
	sa.children = nil
	sa.mu.Unlock()
	n.children = append(n.children, moved...)
	for _, c := range moved {
		c.owner.Store(n)
	}
	// The replaced Child SAs still in their inbound grace go too: the
	// old IKE SA's teardown would cut it short and drop ESP the peer
	// sealed just before its Child SA rekey (sa.draining is ours: this
	// runs on sa's goroutine).
	n.adopted = append(n.adopted, sa.draining...)
	for _, c := range sa.draining {
		c.owner.Store(n)
	}
	clear(sa.draining)
	sa.draining = sa.draining[:0]
	// To Config.Events the rekey is invisible: the old SA goes silently
	// and the new one will announce the tunnel's end.
	if sa.announced.Swap(false) {
		n.announced.Store(true)
	}
	sa.e.Stats.IKERekeys.Add(1)
	return true
}

// handOver gives the Child SAs to n, the surviving SA the peer created,
// which runs already; the old SA waits for the peer's DELETE. If n is
// gone meanwhile, the Child SAs stay and go with this SA.
func (sa *ikeSA) handOver(n *ikeSA) {
	if sa.moveChildren(n) {
		n.enqueue(command{kind: cmdWake})
	}
	sa.markRekeyed()
}

// enqueue hands a command to the SA goroutine without waiting for it.
func (sa *ikeSA) enqueue(c command) { sa.tryEnqueue(c) }

// tryEnqueue is enqueue reporting whether the command was queued (the
// queue may be full: counted QueueFull).
func (sa *ikeSA) tryEnqueue(c command) bool {
	c.reply = make(chan error, 1)
	sa.sched.delivered.Add(1)
	select {
	case sa.commands <- c:
		return true
	default:
		sa.sched.delivered.Add(^uint64(0))
		sa.e.Stats.QueueFull.Add(1)
		return false
	}
}

// childElsewhere reports whether an SA of the same connection other than
// sa has a Child SA named name.
func (e *Engine) childElsewhere(sa *ikeSA, name string) bool {
	if sa.peer == nil {
		return false
	}
	for _, o := range e.connSAs(sa.peer.Name) {
		if o != sa && o.State() != StateDeleted && o.hasChild(name) {
			return true
		}
	}
	return false
}
