package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// respondCreateChild answers a CREATE_CHILD_SA request (RFC 7296 1.3): a
// new Child SA, the rekey of a Child SA (REKEY_SA notify, 1.3.3), or the
// rekey of this IKE SA (an IKE proposal, 1.3.2). The peer deletes the old
// SA once the new one is up; if we are rekeying the same SA ourselves,
// the collision is noted and resolved when our exchange ends (collision.go).
func (sa *ikeSA) respondCreateChild(ps []wire.Payload) []wire.Payload {
	if sa.State() != StateEstablished {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}}
	}
	var offered *wire.SA
	var ni *wire.Nonce
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.SA:
			offered = p
		case *wire.Nonce:
			ni = p
		}
	}
	if len(offered.Proposals) == 0 {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	nr := make([]byte, nonceLen)
	sa.e.random(nr)
	if offered.Proposals[0].Protocol == wire.ProtoIKE {
		if sa.refuseIKERekey() {
			sa.log.Info("peer rekeys the IKE SA during another exchange; asking it to retry")
			return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}}
		}
		return sa.respondRekeyIKE(ps, offered, slices.Clone(ni.Data), nr)
	}
	req := childRequest{ni: slices.Clone(ni.Data), nr: nr}
	var old *childSA
	if n := wire.FindNotify(ps, wire.NotifyRekeySA); n != nil {
		if n.Protocol != wire.ProtoESP || len(n.SPI) != 4 {
			return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
		}
		// The SPI is the one the peer receives on: our outbound SPI.
		spi := binary.BigEndian.Uint32(n.SPI)
		if old = sa.childByOutSPI(spi); old == nil {
			if sa.deletingChild(spi) {
				// RFC 7296 2.25: a Child SA we are closing.
				return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}}
			}
			return []wire.Payload{&wire.Notify{Protocol: wire.ProtoESP, SPI: n.SPI, NotifyType: wire.NotifyChildSANotFound}}
		}
		req.only = old.cfg
		sa.log.Info("peer rekeys Child SA", "child", old.cfg.Name, "spi_in", fmt.Sprintf("%08x", old.inSPI))
	}
	if t, refuse := sa.refuseChildRequest(old); refuse {
		return []wire.Payload{&wire.Notify{NotifyType: t}}
	}
	if old == nil && len(sa.childList()) >= MaxChildSAs {
		// A peer may ask for copies of a configured child without end;
		// each costs memory and data-plane state (RFC 7296 3.10.1).
		sa.log.Warn("peer asks for more Child SAs than allowed on one IKE SA; refusing", "max", MaxChildSAs)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoAdditionalSAs}}
	}
	sa.lastInstalled = nil
	resp := sa.respondChild(ps, req)
	if created := sa.lastInstalled; created != nil && old != nil {
		sa.e.Stats.ChildRekeys.Add(1)
		sa.noteChildRekey(old, req.ni, nr, created)
	}
	return resp
}

// MaxChildSAs bounds the Child SAs a peer may create on one IKE SA with
// CREATE_CHILD_SA (rekeys, which replace one, are not counted against it).
const MaxChildSAs = 64

func (sa *ikeSA) childByOutSPI(spi uint32) *childSA {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	for _, c := range sa.children {
		if c.outSPI == spi {
			return c
		}
	}
	return nil
}

// respondRekeyIKE creates the IKE SA that replaces this one (RFC 7296
// 1.3.2, 2.18). The peer initiated the exchange, so it is the original
// initiator of the new IKE SA; the Child SAs move over to it at once, and
// the old IKE SA, which the peer deletes next, leaves them alone.
func (sa *ikeSA) respondRekeyIKE(ps []wire.Payload, offered *wire.SA, ni, nr []byte) []wire.Payload {
	var kei *wire.KE
	for _, p := range ps {
		if k, ok := p.(*wire.KE); ok {
			kei = k
		}
	}
	if kei == nil {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	chosen, ok := selectProposal(withoutADDKE(sa.peer.Proposals), offered.Proposals, kei.Group)
	if !ok || len(chosen.SPI) != 8 {
		sa.log.Info("no acceptable proposal to rekey the IKE SA", "offered", describeAll(offered.Proposals))
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}}
	}
	s, err := suiteOf(chosen)
	if err != nil {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}}
	}
	if kei.Group != s.group {
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], s.group)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidKEPayload, Data: g[:]}}
	}
	public, shared, err := suite.Respond(s.group, kei.Data, sa.e.cfg.Rand)
	if err != nil {
		if !errors.Is(err, suite.ErrInvalidPublicValue) {
			return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}}
		}
		sa.log.Info("invalid KE payload in IKE SA rekey", "err", err)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	defer clear(shared)

	e := sa.e
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}}
	}
	n := e.newSA(sa.peer, false)
	n.spiI = binary.BigEndian.Uint64(chosen.SPI)
	keys, err := sa.keys.rekeyIKEKeys(s, ni, nr, shared, n.spiI, n.spiR)
	if err != nil {
		e.mu.Unlock()
		sa.log.Error("IKE SA rekey: key derivation failed", "err", err)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}}
	}
	sa.inherit(n, keys, s, ni, nr)
	e.sas[n.spiR] = n
	e.indexConn(n)
	e.indexID(n) // inherit made it established
	e.mu.Unlock()
	// Outside the engine lock: VIPInstaller may make system calls.
	sa.inheritVIPs(n)

	if sa.ikeRekeyCollides() {
		// Both rekey: the Child SAs stay until our exchange decides
		// which new IKE SA survives (RFC 7296 2.8.1).
		sa.log.Info("IKE SA rekey collision", "peer_new_ike_sa", n.unique)
		sa.active.collision = &collision{ni: ni, nr: nr, ike: n}
	} else {
		sa.moveChildren(n)
		sa.markRekeyed()
	}
	sa.log.Info("peer rekeyed the IKE SA", "new_ike_sa", n.unique, "proposal", suite.Describe(chosen))
	e.start(n)

	var spi [8]byte
	binary.BigEndian.PutUint64(spi[:], n.spiR)
	chosen.SPI = spi[:]
	return []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen}},
		&wire.Nonce{Data: nr},
		&wire.KE{Group: s.group, Data: public},
	}
}
