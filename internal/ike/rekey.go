package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// OutboundRetirer may be implemented by the ChildInstaller. RetireOutbound
// stops sending on a Child SA that is being replaced while it still
// accepts inbound packets, so that a rekey loses nothing: the new SA is
// installed first, outbound traffic moves to it, and the old one is
// removed only once the peer confirmed its DELETE (RFC 7296 2.8).
type OutboundRetirer interface {
	RetireOutbound(inSPI uint32)
}

// createChild creates a Child SA with CREATE_CHILD_SA (RFC 7296 1.3.1).
func (sa *ikeSA) createChild(cfg *ChildConfig) error { return sa.createChildFor(cfg, nil) }

// createChildFor is createChild for an acquire: trig (if not nil) goes
// first in the traffic selectors.
func (sa *ikeSA) createChildFor(cfg *ChildConfig, trig *Trigger) error {
	if sa.State() != StateEstablished || sa.rekeyed {
		return fmt.Errorf("ike: child %s: IKE SA is not usable (%v)", cfg.Name, sa.State())
	}
	if sa.hasChild(cfg.Name) {
		return nil
	}
	o := sa.childOfferFor(cfg, sa.resolveLocalTS(cfg.LocalTS), sa.resolveRemoteTS(cfg.RemoteTS))
	o.applyTrigger(trig)
	sa.active = &activeExchange{kind: activeCreateChild}
	defer func() { sa.active = nil }()
	if _, err := sa.childExchange(o, nil); err != nil {
		sa.releaseOffer(o)
		return fmt.Errorf("ike: child %s: %w", cfg.Name, err)
	}
	return nil
}

// childOfferFor is a CREATE_CHILD_SA offer: the configured proposals with
// their KE transforms (PFS, RFC 7296 1.3.1) and the given selectors.
func (sa *ikeSA) childOfferFor(cfg *ChildConfig, tsi, tsr []ts.Selector) *childOffer {
	o := &childOffer{cfg: cfg, inSPI: sa.e.allocChildSPI(), tsi: tsi, tsr: tsr, mode: cfg.Mode}
	var spi [4]byte
	binary.BigEndian.PutUint32(spi[:], o.inSPI)
	o.proposals = numbered(cfg.ESPProposals, spi[:])
	return o
}

// childExchange runs CREATE_CHILD_SA for offer o, rekeying old if it is
// not nil (RFC 7296 1.3.1, 1.3.3):
//
//	HDR, SK {[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}  -->
//	                      <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
//
// It returns the installed Child SA.
func (sa *ikeSA) childExchange(o *childOffer, old *childSA) (*childSA, error) {
	ni := make([]byte, nonceLen)
	sa.e.random(ni)
	if sa.active != nil {
		sa.active.ni = ni
	}
	group := firstGroup(o.proposals)
	for attempt := 0; ; attempt++ {
		var ps []wire.Payload
		if old != nil {
			var spi [4]byte
			binary.BigEndian.PutUint32(spi[:], old.inSPI)
			ps = append(ps, &wire.Notify{Protocol: wire.ProtoESP, SPI: spi[:], NotifyType: wire.NotifyRekeySA})
		}
		ps = append(ps, &wire.SA{Proposals: o.proposals}, &wire.Nonce{Data: ni})
		var kex suite.KeyExchange
		if group != 0 {
			var err error
			if kex, err = suite.NewKeyExchange(group, sa.e.cfg.Rand); err != nil {
				return nil, err
			}
			ps = append(ps, &wire.KE{Group: group, Data: kex.PublicValue()})
		}
		ps = o.withMode(append(ps, &wire.TS{Selectors: toWireTS(o.tsi)}, &wire.TS{Responder: true, Selectors: toWireTS(o.tsr)}))
		_, resp, err := sa.exchange(wire.CreateChildSA, ps, sa.e.cfg.RetransmitTries)
		if err != nil {
			return nil, err
		}
		if n := wire.FindNotify(resp, wire.NotifyInvalidKEPayload); n != nil && attempt == 0 && len(n.Data) == 2 {
			// RFC 7296 1.3: retry with the group the responder wants, if ours.
			if want := binary.BigEndian.Uint16(n.Data); want != group && offersGroup(o.proposals, want) {
				group = want
				continue
			}
		}
		if n := firstErrorNotify(resp); n != nil && !hasPayload(resp, wire.PayloadSA) {
			return nil, &NotifyError{Type: n.NotifyType}
		}
		seed := childSeed{ni: ni, weInitiated: true}
		var ker *wire.KE
		for _, p := range resp {
			switch p := p.(type) {
			case *wire.Nonce:
				seed.nr = slices.Clone(p.Data)
			case *wire.KE:
				ker = p
			}
		}
		if sa.active != nil {
			sa.active.collisionNr(seed.nr)
		}
		if kex != nil {
			if ker == nil || ker.Group != group {
				return nil, errors.New("responder answered without the KE payload of our group")
			}
			shared, err := kex.SharedSecret(ker.Data)
			if err != nil {
				return nil, fmt.Errorf("responder's KE payload: %w", err)
			}
			defer clear(shared)
			seed.sharedSecret = shared
		}
		if err := sa.checkChildGroup(o, resp, group); err != nil {
			return nil, err
		}
		sa.lastInstalled = nil
		if err := sa.acceptChildSeed(o, resp, seed); err != nil {
			return nil, err
		}
		return sa.lastInstalled, nil
	}
}

// collisionNr remembers the responder's nonce of our own exchange, which
// decides collisions together with ours.
func (a *activeExchange) collisionNr(nr []byte) { a.nr = nr }

// checkChildGroup makes sure the chosen proposal's KE transform is the
// group we sent a KE payload for, or none if we sent none.
func (sa *ikeSA) checkChildGroup(o *childOffer, resp []wire.Payload, group uint16) error {
	for _, p := range resp {
		if s, ok := p.(*wire.SA); ok && len(s.Proposals) == 1 {
			g := uint16(0)
			if ke := s.Proposals[0].Get(wire.TransformKE); len(ke) == 1 {
				g = ke[0].ID
			}
			if g != group {
				return fmt.Errorf("responder chose key exchange group %d, we sent %d", g, group)
			}
		}
	}
	return nil
}

func (sa *ikeSA) rekeyChildByName(name string) error {
	for _, c := range sa.childList() {
		if c.cfg.Name == name && !c.rekeyed {
			return sa.rekeyChild(c)
		}
	}
	return fmt.Errorf("ike: no Child SA %q to rekey", name)
}

// rekeyChild replaces Child SA c with a new one (RFC 7296 1.3.3, 2.8),
// make-before-break: the new SA is installed, outbound traffic moves to
// it, and only then is the old one deleted.
func (sa *ikeSA) rekeyChild(c *childSA) error {
	if sa.State() != StateEstablished || sa.rekeyed || c.rekeyed {
		return nil
	}
	o := sa.childOfferFor(c.cfg, c.installed.LocalTS, c.installed.RemoteTS)
	o.mode = c.installed.Mode // RFC 7296 1.3.3: the new SA keeps the mode
	a := &activeExchange{kind: activeRekeyChild, child: c}
	sa.active = a
	n, err := sa.childExchange(o, c)
	sa.active = nil
	col := a.collision
	if err != nil {
		sa.releaseOffer(o)
		var ne *NotifyError
		switch {
		case col != nil:
			// Only the peer's rekey happened; it deletes the old SA.
			sa.log.Info("our Child SA rekey failed, the peer's succeeded", "child", c.cfg.Name, "err", err)
			sa.awaitDelete(c)
			return nil
		case errors.As(err, &ne) && ne.Type == wire.NotifyTemporaryFailure:
			c.life.rekeyAt = sa.retryAt()
			sa.log.Info("peer is busy; rekeying the Child SA later", "child", c.cfg.Name, "at", c.life.rekeyAt)
			return nil
		case errors.As(err, &ne) && ne.Type == wire.NotifyChildSANotFound && a.childDeleted:
			// The peer deleted it before our request arrived: as it wished.
			sa.dropChild(c)
			return nil
		case errors.As(err, &ne) && ne.Type == wire.NotifyChildSANotFound:
			// RFC 7296 2.25: the peer has no such SA; ours is useless. The
			// peer did not delete it on purpose (we would have heard), so
			// set the Child SA up afresh, as strongSwan does.
			sa.log.Info("peer does not know the Child SA; deleting and creating it again", "child", c.cfg.Name)
			sa.dropChild(c)
			sa.ensureChild(c.cfg)
			return nil
		}
		if !c.life.rekeyAt.IsZero() {
			c.life.rekeyAt = sa.retryAt()
		}
		return fmt.Errorf("ike: rekey child %s: %w", c.cfg.Name, err)
	}
	sa.log.Info("Child SA rekeyed", "child", c.cfg.Name, "old_spi_in", fmt.Sprintf("%08x", c.inSPI),
		"new_spi_in", fmt.Sprintf("%08x", n.inSPI))
	switch {
	case a.childDeleted:
		// The peer deleted the SA we were rekeying: it wants no Child SA.
		return sa.deleteChildSA(n)
	case col != nil && col.weLose(a.ni, a.nr):
		// RFC 7296 2.8.1: our SA is the redundant one; we delete it and
		// the peer deletes the old one.
		sa.log.Info("Child SA rekey collision lost; deleting our redundant SA", "child", c.cfg.Name)
		sa.awaitDelete(c)
		return sa.deleteChildSA(n)
	}
	c.rekeyed = true
	if col == nil {
		// (In a collision the peer's rekey was counted when we answered it.)
		sa.e.Stats.ChildRekeys.Add(1)
	}
	if col != nil {
		// The peer's SA is redundant: not for sending (the peer deletes
		// it), and ours is the one both sides have installed by now.
		sa.log.Info("Child SA rekey collision won; the peer deletes its redundant SA", "child", c.cfg.Name)
		sa.awaitDelete(col.child)
		sa.retireOutbound(col.child)
	}
	return sa.deleteChildSA(c)
}

// awaitDelete marks c as replaced; the peer deletes it, or its hard
// lifetime does.
func (sa *ikeSA) awaitDelete(c *childSA) {
	c.rekeyed = true
	limit := sa.e.clock.Now().Add(sa.e.rekeyedWait())
	if c.life.expireAt.IsZero() || limit.Before(c.life.expireAt) {
		c.life.expireAt = limit
	}
}

// detachChild takes c out of the SA's list; false if it was not there.
func (sa *ikeSA) detachChild(c *childSA) bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i:i], sa.children[i+1:]...)
			return true
		}
	}
	return false
}

// dropChild deletes c locally, without telling the peer.
func (sa *ikeSA) dropChild(c *childSA) {
	if sa.detachChild(c) {
		sa.uninstall(c)
	}
}

// deleteChildSA deletes c with an INFORMATIONAL DELETE of our inbound SPI
// (RFC 7296 1.4.1). Outbound traffic stops using c at once; inbound
// packets still in flight are accepted until the peer's answer.
func (sa *ikeSA) deleteChildSA(c *childSA) error {
	if !sa.detachChild(c) {
		return nil
	}
	sa.retireOutbound(c)
	sa.active = &activeExchange{kind: activeDeleteChild, child: c}
	defer func() { sa.active = nil }()
	var spi [4]byte
	binary.BigEndian.PutUint32(spi[:], c.inSPI)
	_, _, err := sa.exchange(wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPIs: [][]byte{spi[:]}}}, sa.e.cfg.RetransmitTries)
	sa.retire(c)
	if err != nil {
		return fmt.Errorf("ike: delete child %s: %w", c.cfg.Name, err)
	}
	return nil
}

// deleteRekeyedDelay is how long a Child SA replaced by a rekey keeps
// accepting inbound packets after its DELETE: ESP sealed just before the
// peer switched may still be queued in its data plane or on the way and
// arrive after the DELETE (strongSwan's charon.delete_rekeyed_delay).
const deleteRekeyedDelay = 5 * time.Second

// retire removes a detached Child SA: at once if it was simply deleted,
// after deleteRekeyedDelay if a rekey replaced it (only inbound packets
// use it meanwhile).
func (sa *ikeSA) retire(c *childSA) {
	if !c.rekeyed {
		sa.uninstall(c)
		return
	}
	sa.retireOutbound(c)
	c.drainAt = sa.e.clock.Now().Add(deleteRekeyedDelay)
	sa.draining = append(sa.draining, c)
}

// removeDrained uninstalls the replaced Child SAs whose delay is over
// (all of them if all is set).
func (sa *ikeSA) removeDrained(all bool) {
	sa.adoptDraining()
	now := sa.e.clock.Now()
	keep := sa.draining[:0]
	for _, c := range sa.draining {
		if all || !now.Before(c.drainAt) {
			sa.uninstall(c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(sa.draining[len(keep):])
	sa.draining = keep
}

// adoptDraining takes the draining Child SAs a replaced IKE SA handed over
// (moveChildren) into sa.draining. Called on sa's goroutine.
func (sa *ikeSA) adoptDraining() {
	sa.mu.Lock()
	sa.draining = append(sa.draining, sa.adopted...)
	clear(sa.adopted)
	sa.adopted = nil
	sa.mu.Unlock()
}

// retireOutbound stops sending on c, if the data plane can (OutboundRetirer).
func (sa *ikeSA) retireOutbound(c *childSA) {
	if r, ok := sa.e.cfg.Installer.(OutboundRetirer); ok && c != nil {
		r.RetireOutbound(c.inSPI)
	}
}

func (sa *ikeSA) isRekeyed() bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.rekeyedFlag
}

func (sa *ikeSA) markRekeyed() {
	sa.rekeyed = true
	sa.mu.Lock()
	sa.rekeyedFlag = true
	sa.mu.Unlock()
	limit := sa.e.clock.Now().Add(sa.e.rekeyedWait())
	if sa.lifetimes.expireAt.IsZero() || limit.Before(sa.lifetimes.expireAt) {
		sa.lifetimes.expireAt = limit
	}
}

// ensureChild queues the creation of a Child SA for cfg unless one that
// is not being replaced exists (or is queued already).
func (sa *ikeSA) ensureChild(cfg *ChildConfig) {
	for _, c := range sa.childList() {
		if c.cfg == cfg && !c.rekeyed {
			return
		}
	}
	for _, p := range sa.pending {
		if p.kind == cmdCreateChild && p.cfg == cfg {
			return
		}
	}
	sa.pending = append(sa.pending, command{kind: cmdCreateChild, cfg: cfg, reply: make(chan error, 1)})
}
