package ike

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// respondInit answers an IKE_SA_INIT request (RFC 7296 1.2). Error answers
// (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD) keep no state: the SA ends and
// the initiator starts over with a new request. A retransmitted request
// gets the cached response.
func (sa *ikeSA) respondInit(ev packetEvent) {
	if sa.msg1 != nil {
		if string(ev.raw) == string(sa.msg1) {
			sa.e.Stats.CachedResponses.Add(1)
			sa.send(sa.msg2)
		}
		return
	}
	sa.initRemote = ev.remote
	sa.relog()
	ps := ev.msg.Payloads
	if err := wire.Verify(wire.IKESAInit, false, ps); err != nil {
		sa.log.Info("rejected IKE_SA_INIT", "err", err)
		sa.refuseInit(wire.NotifyInvalidSyntax, nil)
		return
	}
	var offered *wire.SA
	var ke *wire.KE
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.SA:
			offered = p
		case *wire.KE:
			ke = p
		case *wire.Nonce:
			sa.nonceI = slices.Clone(p.Data)
		}
	}
	// The connection is not known before IKE_AUTH; candidates are those
	// whose addresses match, and the first with a common proposal wins.
	var chosen wire.Proposal
	var candidate *PeerConfig
	found := false
	for _, p := range sa.e.Peers() {
		if !prefixesMatch(p.LocalAddrs, ev.local.Addr()) || !prefixesMatch(p.RemoteAddrs, ev.remote.Addr()) {
			continue
		}
		if chosen, found = selectProposal(p.Proposals, offered.Proposals, ke.Group); found {
			candidate = p
			break
		}
	}
	if !found {
		sa.log.Info("no acceptable IKE proposal", "offered", describeAll(offered.Proposals))
		sa.refuseInit(wire.NotifyNoProposalChosen, nil)
		return
	}
	sa.inter.peerSupports = wire.FindNotify(ps, wire.NotifyIntermediateExchangeSupported) != nil
	s, refuse, why := acceptIKEProposal(chosen, ke.Group, sa.inter.peerSupports)
	switch refuse {
	case wire.NotifyNoProposalChosen:
		sa.log.Info("refused the chosen IKE proposal: "+why, "proposal", suite.Describe(chosen))
		sa.refuseInit(wire.NotifyNoProposalChosen, nil)
		return
	case wire.NotifyInvalidKEPayload:
		// RFC 7296 1.2: tell the initiator which group we want.
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], s.group)
		sa.log.Info("asking initiator for another key exchange group", "offered", ke.Group, "want", s.group)
		sa.refuseInit(wire.NotifyInvalidKEPayload, g[:])
		return
	}
	// A fresh key pair for Diffie-Hellman, an encapsulation for ML-KEM
	// (RFC 9370 2.2.2).
	public, shared, err := suite.Respond(s.group, ke.Data, sa.e.cfg.Rand)
	if err != nil && !errors.Is(err, suite.ErrInvalidPublicValue) {
		sa.refuseInit(wire.NotifyNoProposalChosen, nil)
		return
	}
	if err != nil {
		// An invalid public value is an invalid message (RFC 6989 2).
		sa.log.Info("invalid KE payload from initiator", "err", err)
		sa.refuseInit(wire.NotifyInvalidSyntax, nil)
		return
	}
	defer clear(shared)
	sa.nonceR = make([]byte, nonceLen)
	sa.e.random(sa.nonceR)
	sa.suite = s
	if sa.keys, err = deriveIKEKeys(s, sa.nonceI, sa.nonceR, shared, sa.spiI, sa.spiR); err != nil {
		sa.log.Error("key derivation failed", "err", err)
		sa.setState(StateDeleted)
		return
	}
	sa.logIKEKeys()
	// The initiator hashed the SPIs as its header had them, with SPIr
	// still zero (RFC 7296 2.23: "in the order they appear in the header").
	supported, natLocal, natRemote := natResult(ps, sa.spiI, 0, ev.local, ev.remote)
	sa.setNAT(supported, natLocal, natRemote)
	chosen.SPI = nil
	resp := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen}},
		&wire.KE{Group: s.group, Data: public},
		&wire.Nonce{Data: sa.nonceR},
	}
	resp = append(resp, sa.respondInitAuth(ps, ev)...)
	if supported {
		resp = append(resp, natNotifies(sa.spiI, sa.spiR, ev.local, ev.remote, true, sa.e.random)...)
	}
	resp = append(resp, sa.fragRespond(candidate, ps)...)
	if candidate.childless() != ChildlessNever {
		resp = append(resp, childlessNotify())
	}
	if sa.inter.peerSupports {
		resp = append(resp, intermediateNotify())
	}
	pkt, err := sa.encode(wire.IKESAInit, true, 0, resp)
	if err != nil {
		sa.log.Error("cannot encode IKE_SA_INIT response", "err", err)
		sa.setState(StateDeleted)
		return
	}
	sa.msg1, sa.msg2 = slices.Clone(ev.raw), pkt
	sa.expectReqID = 1
	sa.relog()
	sa.log.Debug("IKE_SA_INIT answered", "proposal", suite.Describe(chosen))
	sa.send(pkt)
}

// refuseInit sends a stateless error response (SPIr zero) and ends the SA.
func (sa *ikeSA) refuseInit(t wire.NotifyType, data []byte) {
	h := wire.Header{SPIi: sa.spiI, Version: 0x20, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}
	m := &wire.Message{Header: h, Payloads: []wire.Payload{&wire.Notify{NotifyType: t, Data: data}}}
	if pkt, err := m.Marshal(); err == nil {
		sa.send(pkt)
	}
	sa.setState(StateDeleted)
}

// respondAuth authenticates the initiator and answers IKE_AUTH (RFC 7296
// 1.2, 2.15), setting up the first Child SA if one was requested. On
// failure it answers AUTHENTICATION_FAILED and the SA is deleted.
func (sa *ikeSA) respondAuth(ps []wire.Payload) []wire.Payload {
	if sa.State() != StateConnecting {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	if sa.inter.count < len(sa.suite.addKE) {
		sa.log.Info("refused IKE_AUTH", "err", errIntermediatePending)
		sa.setState(StateDeleting)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	var idi, idr *wire.ID
	var auth *wire.Auth
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.ID:
			if p.Responder {
				idr = p
			} else {
				idi = p
			}
		case *wire.Auth:
			auth = p
		}
	}
	sa.remoteID = Identity{Type: idi.IDType, Data: slices.Clone(idi.Data)}
	var wantLocal Identity
	if idr != nil {
		wantLocal = Identity{Type: idr.IDType, Data: slices.Clone(idr.Data)}
	}
	fail := func(reason string, args ...any) []wire.Payload {
		sa.log.Warn("authentication of peer failed: "+reason, append(args, "remote_id", sa.remoteID)...)
		sa.setState(StateDeleting) // deleted once the response is out
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyAuthenticationFailed}}
	}
	sa.noteAuthPayloads(ps) // CERTREQ
	peer, err := sa.authenticateInitiator(ps, idi, auth, sa.matchPeers(sa.remoteID, wantLocal))
	if peer == nil {
		return fail("no connection matches the peer's identity")
	}
	sa.setPeer(peer)
	sa.relog()
	switch withChild := hasPayload(ps, wire.PayloadSA); {
	case !withChild && peer.childless() == ChildlessNever:
		return fail("childless IKE SA refused (childless = never, RFC 6023)")
	case withChild && peer.childless() == ChildlessForce:
		return fail("Child SA in IKE_AUTH refused (childless = force, RFC 6023)")
	}
	sa.localID = localIDOf(peer, sa.local.Addr())
	if err != nil {
		return fail(err.Error(), "method", auth.Method, "local_id", sa.localID)
	}
	idrOut := &wire.ID{Responder: true, IDType: sa.localID.Type, Data: sa.localID.Data}
	certs, authOut, err := sa.localAuthPayloads(idrOut, sa.msg2, sa.nonceI, sa.keys.skPr)
	if err != nil {
		// Our own credentials are broken; the peer hears only that
		// authentication failed (RFC 7296 2.21.2).
		return fail("cannot authenticate ourselves: "+err.Error(), "local_id", sa.localID)
	}
	// IDr, [CERT,] AUTH (RFC 7296 1.2)
	resp := append(append([]wire.Payload{idrOut}, certs...), authOut)
	sa.setState(StateEstablished)
	sa.e.established(sa)
	if sa.enforceUnique(wire.FindNotify(ps, wire.NotifyInitialContact) != nil) {
		return fail("the peer already has an IKE SA of this connection (unique = keep)")
	}
	sa.log.Info("IKE SA established", "local_id", sa.localID, "remote_id", sa.remoteID, "proposal", sa.describeSuite())
	sa.announceUp()
	// IKE_AUTH: IDr, [CERT,] AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr (RFC 7296 1.2, 2.19)
	cp, noAddress := sa.assignVIPs(ps)
	if cp != nil {
		resp = append(resp, cp)
	}
	if n := sa.authLifetimeNotify(); n != nil {
		resp = append(resp, n)
	}
	if hasPayload(ps, wire.PayloadSA) && !noAddress {
		resp = append(resp, sa.respondChild(ps, childRequest{inIKEAuth: true, ni: sa.nonceI, nr: sa.nonceR})...)
	}
	return resp
}

// matchPeers finds the configured connections for the initiator's
// identity, in configuration order: addresses must match, the remote ID
// (if configured) must equal IDi, and our local ID must equal IDr when
// the initiator sent one.
func (sa *ikeSA) matchPeers(idi, idr Identity) []*PeerConfig {
	var out []*PeerConfig
	for _, p := range sa.e.Peers() {
		if !prefixesMatch(p.LocalAddrs, sa.local.Addr()) || !prefixesMatch(p.RemoteAddrs, sa.remote.Addr()) {
			continue
		}
		if !p.RemoteID.IsZero() && !p.RemoteID.Equal(idi) {
			continue
		}
		if !idr.IsZero() {
			local := p.LocalID
			if local.IsZero() {
				local = IdentityFromAddr(sa.local.Addr())
			}
			if !local.Equal(idr) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

func describeAll(ps []wire.Proposal) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += suite.Describe(p)
	}
	return s
}

func hasPayload(ps []wire.Payload, t wire.PayloadType) bool {
	for _, p := range ps {
		if p.Type() == t {
			return true
		}
	}
	return false
}
