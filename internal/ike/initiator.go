package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// nonceLen is our nonce size: at least half the PRF key size and at least
// 128 bits (RFC 7296 2.10); 32 octets covers every PRF we offer.
const nonceLen = 32

// maxInitAttempts bounds IKE_SA_INIT retries after INVALID_KE_PAYLOAD or
// COOKIE (RFC 7296 1.2, 2.6).
const maxInitAttempts = 3

// initiate runs IKE_SA_INIT and IKE_AUTH as the initiator (RFC 7296 1.2),
// creating the first Child SA inside IKE_AUTH.
func (sa *ikeSA) initiate() error {
	sa.relog()
	sa.log.Info("initiating IKE SA")
	if err := sa.initiatorInit(); err != nil {
		return err
	}
	if err := sa.initiatorIntermediate(); err != nil {
		return err
	}
	return sa.initiatorAuth()
}

func (sa *ikeSA) initiatorInit() error {
	p := sa.peer
	if len(p.Proposals) == 0 {
		return errors.New("ike: no IKE proposals configured")
	}
	group := firstGroup(p.Proposals)
	var cookie []byte
	var kex suite.KeyExchange
	for attempt := 0; ; attempt++ {
		if attempt >= maxInitAttempts {
			return errors.New("ike: IKE_SA_INIT: too many retries")
		}
		// A retry after COOKIE repeats the request unchanged but for the
		// cookie (RFC 7296 2.6): responders compute the cookie over Ni.
		if kex == nil || kex.Group() != group {
			var err error
			if kex, err = suite.NewKeyExchange(group, sa.e.cfg.Rand); err != nil {
				return fmt.Errorf("ike: key exchange %d: %w", group, err)
			}
		}
		if sa.nonceI == nil {
			sa.nonceI = make([]byte, nonceLen)
			sa.e.random(sa.nonceI)
		}
		var ps []wire.Payload
		if cookie != nil {
			// The COOKIE notify goes first (RFC 7296 2.6).
			ps = append(ps, &wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie})
		}
		ps = append(ps,
			&wire.SA{Proposals: numbered(p.Proposals, nil)},
			&wire.KE{Group: group, Data: kex.PublicValue()},
			&wire.Nonce{Data: sa.nonceI},
		)
		ps = append(ps, sa.initAuthPayloads(nil)...)
		ps = append(ps, natNotifies(sa.spiI, 0, sa.local, sa.remote, true, sa.e.random)...)
		ps = append(ps, sa.fragNotify(p)...)
		if p.childless() != ChildlessNever {
			ps = append(ps, childlessNotify())
		}
		if hasADDKE(p.Proposals) {
			ps = append(ps, intermediateNotify())
		}
		sa.spiR = 0
		req, err := sa.encode(wire.IKESAInit, false, 0, ps)
		if err != nil {
			return err
		}
		ev, resp, err := sa.roundTrip(wire.IKESAInit, 0, req, sa.e.cfg.RetransmitTries)
		if err != nil {
			return fmt.Errorf("ike: IKE_SA_INIT: %w", err)
		}
		// A response without SPIr can only carry an error (RFC 7296 2.6).
		if n := wire.FindNotify(resp, wire.NotifyCookie); n != nil {
			cookie = slices.Clone(n.Data)
			sa.nextReqID = 0
			continue
		}
		if n := wire.FindNotify(resp, wire.NotifyInvalidKEPayload); n != nil {
			// Retry only with a group we proposed ourselves (RFC 7296 1.2).
			if len(n.Data) != 2 {
				return errMalformed("INVALID_KE_PAYLOAD without a group")
			}
			want := binary.BigEndian.Uint16(n.Data)
			if want == group || !offersGroup(p.Proposals, want) {
				return &NotifyError{Type: wire.NotifyInvalidKEPayload, Detail: fmt.Sprintf("peer wants group %d, which we do not offer", want)}
			}
			sa.log.Info("peer asked for another key exchange group", "group", want)
			group = want
			sa.nextReqID = 0
			continue
		}
		if n := firstErrorNotify(resp); n != nil {
			return &NotifyError{Type: n.NotifyType}
		}
		return sa.finishInit(kex, ev, req, resp)
	}
}

func (sa *ikeSA) finishInit(kex suite.KeyExchange, ev *packetEvent, req []byte, resp []wire.Payload) error {
	sa.spiR = ev.msg.SPIr
	if sa.spiR == 0 {
		return errMalformed("IKE_SA_INIT response without responder SPI")
	}
	var saPayload *wire.SA
	var ke *wire.KE
	for _, p := range resp {
		switch p := p.(type) {
		case *wire.SA:
			saPayload = p
		case *wire.KE:
			ke = p
		case *wire.Nonce:
			sa.nonceR = slices.Clone(p.Data)
		}
	}
	chosen, ok := checkChosen(numbered(sa.peer.Proposals, nil), saPayload)
	if !ok {
		return errors.New("ike: responder chose a proposal we did not offer")
	}
	s, err := suiteOf(chosen)
	if err != nil {
		return fmt.Errorf("ike: responder's proposal: %w", err)
	}
	if s.group != kex.Group() || ke.Group != kex.Group() {
		return errors.New("ike: responder's key exchange group differs from ours")
	}
	shared, err := kex.SharedSecret(ke.Data)
	if err != nil {
		return fmt.Errorf("ike: responder's KE payload: %w", err)
	}
	defer clear(shared)
	sa.inter.peerSupports = wire.FindNotify(resp, wire.NotifyIntermediateExchangeSupported) != nil
	sa.peerChildless = wire.FindNotify(resp, wire.NotifyChildlessIKEv2Supported) != nil
	if len(s.addKE) > 0 && !sa.inter.peerSupports {
		return errors.New("ike: responder chose additional key exchanges without INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 3.1)")
	}
	sa.suite = s
	if sa.keys, err = deriveIKEKeys(s, sa.nonceI, sa.nonceR, shared, sa.spiI, sa.spiR); err != nil {
		return err
	}
	sa.msg1, sa.msg2 = req, ev.raw
	sa.noteAuthPayloads(resp)
	sa.logIKEKeys()
	supported, local, remote := natResult(resp, sa.spiI, sa.spiR, ev.local, ev.remote)
	sa.setNAT(supported, local, remote)
	sa.fragNegotiated(resp)
	// We always encapsulate ESP, so always float (we faked our own hash).
	if supported {
		sa.floatToNATT()
	}
	sa.relog()
	sa.log.Debug("IKE_SA_INIT done", "proposal", suite.Describe(chosen), "nat_local", local, "nat_remote", remote)
	return nil
}

func (sa *ikeSA) initiatorAuth() error {
	p := sa.peer
	sa.localID = p.LocalID
	if sa.localID.IsZero() {
		sa.localID = IdentityFromAddr(sa.local.Addr())
	}
	idi := &wire.ID{IDType: sa.localID.Type, Data: sa.localID.Data}
	certs, auth, err := sa.localAuthPayloads(idi, sa.msg1, sa.nonceR, sa.keys.skPi)
	if err != nil {
		return fmt.Errorf("ike: %w", err)
	}
	// IDi, [CERT,] [CERTREQ,] [IDr,] AUTH (RFC 7296 1.2)
	ps := append([]wire.Payload{idi}, certs...)
	ps = append(ps, sa.localCertReq()...)
	if !p.RemoteID.IsZero() {
		ps = append(ps, &wire.ID{Responder: true, IDType: p.RemoteID.Type, Data: p.RemoteID.Data})
	}
	ps = append(ps, auth)
	vips := p.VIPs
	if sa.wantVIPs != nil {
		vips = sa.wantVIPs // a reauthentication keeps the addresses (reauth.go)
	}
	if cp := cpRequest(vips); cp != nil {
		// IKE_AUTH: ... AUTH, [CP(CFG_REQUEST)], SAi2, ... (RFC 7296 1.2, 2.19)
		ps = append(ps, cp)
	}
	if p.unique() != UniqueNever && !sa.e.hasOtherSA(sa, p) {
		// We hold no other IKE SA with this peer: whatever it still has
		// from us is stale (RFC 7296 3.10.1, 2.4).
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyInitialContact})
	}
	childless, err := sa.goChildless()
	if err != nil {
		return err
	}
	var offer *childOffer
	if sa.initChild != nil && !childless {
		offer = sa.newChildOffer(sa.initChild)
		offer.applyTrigger(sa.initTrigger)
		ps = append(ps, offer.payloads()...)
	}
	_, resp, err := sa.exchange(wire.IKEAuth, ps, sa.e.cfg.RetransmitTries)
	if err != nil {
		sa.releaseOffer(offer)
		return fmt.Errorf("ike: IKE_AUTH: %w", err)
	}
	if err := sa.checkResponderAuth(resp); err != nil {
		sa.releaseOffer(offer)
		return err
	}
	if err := sa.acceptVIPs(resp); err != nil {
		// Authenticated but useless: our Child SAs would have no
		// source address. Tell the peer (RFC 7296 2.19).
		sa.releaseOffer(offer)
		sa.setState(StateEstablished)
		sa.log.Warn("deleting the IKE SA", "err", err)
		_ = sa.deleteIKE(sa.e.cfg.RetransmitTries)
		return err
	}
	sa.setState(StateEstablished)
	sa.applyAuthLifetime(resp)
	if sa.enforceUnique(false) {
		sa.releaseOffer(offer)
		sa.log.Warn("deleting the new IKE SA: an older one is up (unique = keep)")
		_ = sa.deleteIKE(sa.e.cfg.RetransmitTries)
		return ErrUniqueKeep
	}
	sa.log.Info("IKE SA established", "local_id", sa.localID, "remote_id", sa.remoteID,
		"proposal", sa.describeSuite())
	sa.announceUp()
	if childless && sa.initChild != nil {
		// RFC 6023: the first Child SA gets its own CREATE_CHILD_SA
		// (with its own key exchange if the proposal has one).
		if err := sa.createChildFor(sa.initChild, sa.initTrigger); err != nil {
			return fmt.Errorf("ike: child %s: %w", sa.initChild.Name, err)
		}
		return nil
	}
	if offer == nil {
		return nil
	}
	if err := sa.acceptChild(offer, resp); err != nil {
		sa.releaseOffer(offer)
		// The IKE SA stays up (RFC 7296 1.2); the user still hears why the child failed.
		return fmt.Errorf("ike: child %s: %w", offer.cfg.Name, err)
	}
	return nil
}

// checkResponderAuth verifies IDr and AUTH in the IKE_AUTH response. An
// error notify in its place (AUTHENTICATION_FAILED) ends the attempt.
func (sa *ikeSA) checkResponderAuth(resp []wire.Payload) error {
	var idr *wire.ID
	var auth *wire.Auth
	for _, p := range resp {
		switch p := p.(type) {
		case *wire.ID:
			idr = p
		case *wire.Auth:
			auth = p
		}
	}
	if idr == nil || auth == nil {
		if n := firstErrorNotify(resp); n != nil {
			return &NotifyError{Type: n.NotifyType}
		}
		return errMalformed("IKE_AUTH response without IDr/AUTH")
	}
	sa.remoteID = Identity{Type: idr.IDType, Data: slices.Clone(idr.Data)}
	if !sa.peer.RemoteID.IsZero() && !sa.peer.RemoteID.Equal(sa.remoteID) {
		sa.notifyAuthFailed()
		return &NotifyError{Type: wire.NotifyAuthenticationFailed, Sent: true,
			Detail: fmt.Sprintf("peer identity %v, expected %v", sa.remoteID, sa.peer.RemoteID)}
	}
	if err := sa.verifyPeerAuth(sa.peer, sa.localID, resp, idr, auth, sa.msg2, sa.nonceI, sa.keys.skPr); err != nil {
		sa.log.Warn("authentication of responder failed: "+err.Error(), "remote_id", sa.remoteID)
		sa.notifyAuthFailed()
		return &NotifyError{Type: wire.NotifyAuthenticationFailed, Sent: true, Detail: "responder: " + err.Error()}
	}
	return nil
}

// notifyAuthFailed tells the responder its AUTH did not verify, in an
// INFORMATIONAL exchange sent once (RFC 7296 2.21.2).
func (sa *ikeSA) notifyAuthFailed() {
	_, _, _ = sa.exchange(wire.Informational, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyAuthenticationFailed}}, 0)
}

func (sa *ikeSA) describeSuite() string {
	// In strongSwan's order: ENCR/INTEG/PRF/KE.
	p := wire.Proposal{Protocol: wire.ProtoIKE, Transforms: []wire.Transform{
		{Type: wire.TransformENCR, ID: sa.suite.encrID, KeyLength: uint16(sa.suite.keyBits)},
	}}
	if sa.suite.integID != wire.IntegNone {
		p.Transforms = append(p.Transforms, wire.Transform{Type: wire.TransformINTEG, ID: sa.suite.integID})
	}
	p.Transforms = append(p.Transforms,
		wire.Transform{Type: wire.TransformPRF, ID: sa.suite.prfID},
		wire.Transform{Type: wire.TransformKE, ID: sa.suite.group})
	for i, g := range sa.suite.addKE {
		p.Transforms = append(p.Transforms, wire.Transform{Type: sa.suite.addKEType[i], ID: g})
	}
	return suite.Describe(p)
}

func firstGroup(ps []wire.Proposal) uint16 {
	for _, p := range ps {
		for _, t := range p.Get(wire.TransformKE) {
			if t.ID != 0 {
				return t.ID
			}
		}
	}
	return 0
}

func offersGroup(ps []wire.Proposal, g uint16) bool {
	for _, p := range ps {
		for _, t := range p.Get(wire.TransformKE) {
			if t.ID == g {
				return true
			}
		}
	}
	return false
}

func firstErrorNotify(ps []wire.Payload) *wire.Notify {
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType.IsError() {
			return n
		}
	}
	return nil
}
