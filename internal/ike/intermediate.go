package ike

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// intermediateState tracks the IKE_INTERMEDIATE exchanges (RFC 9242) run
// between IKE_SA_INIT and IKE_AUTH for additional key exchanges (RFC 9370
// 2.2.1).
type intermediateState struct {
	peerSupports bool // the peer sent INTERMEDIATE_EXCHANGE_SUPPORTED
	count        int  // IKE_INTERMEDIATE exchanges completed
	// authI and authR are IntAuth_iN and IntAuth_rN (RFC 9242 3.3.1),
	// nil before the first exchange.
	authI, authR []byte
	// responder: the shared secret of the exchange being answered, applied
	// once the response (protected with the old keys) has left.
	pendingSecret []byte
}

// isADDKE reports whether tt is one of the Additional Key Exchange
// transform types 6 to 12 (RFC 9370 2.2.1).
func isADDKE(tt wire.TransformType) bool { return tt >= 6 && tt <= 12 }

// hasADDKE reports whether any proposal carries an additional key exchange.
func hasADDKE(ps []wire.Proposal) bool {
	for _, p := range ps {
		for _, t := range p.Transforms {
			if isADDKE(t.Type) && t.ID != 0 {
				return true
			}
		}
	}
	return false
}

// withoutADDKE returns copies of ps without additional key exchanges. An
// IKE SA rekey would need IKE_FOLLOWUP_KE (RFC 9370 2.2.3), which we do not
// do; the rekeyed SA's SKEYSEED still depends on the old SK_d and thus on
// every key exchange of the original SA (RFC 7296 2.18).
func withoutADDKE(ps []wire.Proposal) []wire.Proposal {
	out := make([]wire.Proposal, len(ps))
	for i, p := range ps {
		p.Transforms = append([]wire.Transform(nil), p.Transforms...)
		kept := p.Transforms[:0]
		for _, t := range p.Transforms {
			if !isADDKE(t.Type) {
				kept = append(kept, t)
			}
		}
		p.Transforms = kept
		out[i] = p
	}
	return out
}

// intermediateNotify is INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 3.1),
// sent by the initiator when it offers additional key exchanges and by
// the responder when the initiator sent it.
func intermediateNotify() wire.Payload {
	return &wire.Notify{NotifyType: wire.NotifyIntermediateExchangeSupported}
}

// intAuthStep is one step of RFC 9242 3.3.1:
//
//	IntAuth_[i|r]n = prf(SK_p[i|r], IntAuth_[i|r](n-1) | IntAuth_[i|r]n_A | IntAuth_[i|r]n_P)
//
// where A runs from the first octet of the IKE header to the last octet of
// the Encrypted payload header and P is the inner payloads in clear. The
// length fields in A are those of a message whose Encrypted payload held
// just P, so that the value is the same whether or not the message was
// fragmented (RFC 9242 3.3.2) and does not depend on the padding.
func intAuthStep(prf *suite.PRF, skP, prev []byte, h wire.Header, first wire.PayloadType, inner []byte) []byte {
	return prf.Compute(skP, prev, wire.SKPrefix(h, first, len(inner)), inner)
}

// intAuth is what RFC 9242 3.3 appends to the signed octets of IKE_AUTH:
// IntAuth = IntAuth_iN | IntAuth_rN | IKE_AUTH_MID, or nothing when no
// IKE_INTERMEDIATE exchange took place.
func (sa *ikeSA) intAuth() []byte {
	if sa.inter.count == 0 {
		return nil
	}
	// IKE_SA_INIT has ID 0 and every IKE_INTERMEDIATE one more.
	return binary.BigEndian.AppendUint32(concat(sa.inter.authI, sa.inter.authR), uint32(sa.inter.count+1))
}

// applyADDKE replaces the IKE SA keys after an additional key exchange
// (RFC 9370 2.2.2):
//
//	SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}(n)
//	        = prf+ (SKEYSEED(n), Ni | Nr | SPIi | SPIr)
func (sa *ikeSA) applyADDKE(secret []byte) error {
	k, err := sa.keys.rekeyIKEKeys(sa.suite, sa.nonceI, sa.nonceR, secret, sa.spiI, sa.spiR)
	if err != nil {
		return err
	}
	sa.keys.zero()
	sa.keys = k
	sa.logIKEKeys()
	return nil
}

// initiatorIntermediate runs one IKE_INTERMEDIATE exchange per additional
// key exchange negotiated in IKE_SA_INIT (RFC 9370 2.2.1), in transform
// type order, updating the keys after each.
func (sa *ikeSA) initiatorIntermediate() error {
	for n, group := range sa.suite.addKE {
		kex, err := suite.NewKeyExchange(group, sa.e.cfg.Rand)
		if err != nil {
			return fmt.Errorf("ike: additional key exchange %d: %w", group, err)
		}
		ps := []wire.Payload{&wire.KE{Group: group, Data: kex.PublicValue()}}
		first, inner, err := wire.MarshalPayloads(ps)
		if err != nil {
			return err
		}
		reqHeader := sa.header(wire.IKEIntermediate, false, sa.nextReqID)
		authI := intAuthStep(sa.keys.prf, sa.keys.skPi, sa.inter.authI, reqHeader, first, inner)
		ev, resp, err := sa.exchange(wire.IKEIntermediate, ps, sa.e.cfg.RetransmitTries)
		if err != nil {
			return fmt.Errorf("ike: IKE_INTERMEDIATE %d: %w", n+1, err)
		}
		if n := firstErrorNotify(resp); n != nil {
			return &NotifyError{Type: n.NotifyType, Detail: "in IKE_INTERMEDIATE"}
		}
		var ke *wire.KE
		for _, p := range resp {
			if k, ok := p.(*wire.KE); ok {
				ke = k
			}
		}
		if ke == nil || ke.Group != group {
			return errMalformed("IKE_INTERMEDIATE response without the KE payload of the additional key exchange")
		}
		authR := intAuthStep(sa.keys.prf, sa.keys.skPr, sa.inter.authR, ev.msg.Header, ev.first, ev.inner)
		secret, err := kex.SharedSecret(ke.Data)
		if err != nil {
			return fmt.Errorf("ike: responder's additional KE payload: %w", err)
		}
		sa.inter.authI, sa.inter.authR = authI, authR
		sa.inter.count++
		err = sa.applyADDKE(secret)
		clear(secret)
		if err != nil {
			return err
		}
		sa.log.Debug("additional key exchange done", "n", n+1, "method", wire.TransformName(wire.TransformKE, group))
	}
	return nil
}

// respondIntermediate answers an IKE_INTERMEDIATE request (RFC 9242 3.2)
// carrying the initiator's next additional key exchange (RFC 9370 2.2.1).
// The new keys take effect once the response, which the old keys
// protect, has been sent (afterIntermediateResponse).
func (sa *ikeSA) respondIntermediate(h wire.Header, ev packetEvent, ps []wire.Payload) []wire.Payload {
	refuse := func(reason string) []wire.Payload {
		sa.log.Info("refused IKE_INTERMEDIATE: " + reason)
		if sa.State() == StateConnecting {
			sa.setState(StateDeleting) // the handshake cannot go on
		}
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	if sa.State() != StateConnecting || sa.initiator || !sa.inter.peerSupports {
		return refuse("not expected now")
	}
	if sa.inter.count >= len(sa.suite.addKE) {
		return refuse("no additional key exchange left")
	}
	group := sa.suite.addKE[sa.inter.count]
	var ke *wire.KE
	for _, p := range ps {
		if k, ok := p.(*wire.KE); ok {
			ke = k
		}
	}
	if ke == nil || ke.Group != group {
		return refuse(fmt.Sprintf("KE payload missing or not for %s", wire.TransformName(wire.TransformKE, group)))
	}
	public, secret, err := suite.Respond(group, ke.Data, sa.e.cfg.Rand)
	if err != nil {
		return refuse("initiator's KE payload: " + err.Error())
	}
	sa.inter.authI = intAuthStep(sa.keys.prf, sa.keys.skPi, sa.inter.authI, ev.msg.Header, ev.first, ev.inner)
	sa.inter.pendingSecret = secret
	return []wire.Payload{&wire.KE{Group: group, Data: public}}
}

// afterIntermediateResponse completes an IKE_INTERMEDIATE exchange we
// answered: IntAuth_r over our response, then the new keys.
func (sa *ikeSA) afterIntermediateResponse(id uint32, resp []wire.Payload) {
	secret := sa.inter.pendingSecret
	sa.inter.pendingSecret = nil
	if secret == nil {
		return // refused
	}
	defer clear(secret)
	first, inner, err := wire.MarshalPayloads(resp)
	if err == nil {
		sa.inter.authR = intAuthStep(sa.keys.prf, sa.keys.skPr, sa.inter.authR, sa.header(wire.IKEIntermediate, true, id), first, inner)
		sa.inter.count++
		err = sa.applyADDKE(secret)
	}
	if err != nil {
		sa.log.Error("additional key exchange failed", "err", err)
		sa.setState(StateDeleted)
		return
	}
	sa.log.Debug("additional key exchange done", "n", sa.inter.count)
}

// errIntermediatePending refuses IKE_AUTH before every negotiated
// additional key exchange is done (RFC 9370 2.2.1).
var errIntermediatePending = errors.New("IKE_AUTH before the additional key exchanges")
