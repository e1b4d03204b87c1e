package ike

import (
	"net/netip"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// This file exposes the responder's decisions (IKE_SA_INIT proposal
// choice, Child SA selection with traffic selector narrowing) to `goipsec
// check`, which explains them to operators. The explanations come from the
// very functions the exchanges call (selectProposalTrace, chooseChild,
// acceptIKEProposal), run with a trace: there is no second implementation
// that could drift from the engine.

// TransformChoice is one transform type's outcome when one of our
// proposals meets one of the peer's (RFC 7296 2.7): both sides' transforms
// of that type (NONE integrity and KE transforms left out, as RFC 7296
// 3.3.3 treats them as absent) and the one picked, if any.
type TransformChoice struct {
	Type         wire.TransformType
	Ours, Theirs []wire.Transform
	Chosen       wire.Transform // valid if OK
	OK           bool
}

// ProposalComparison is one pair of proposals the responder compared, in
// the order it compared them: our proposal Ours (1-based, in configuration
// order) against the offered proposal numbered Theirs. Types is empty
// when the protocols differ.
type ProposalComparison struct {
	Ours, Theirs                 int
	OursProtocol, TheirsProtocol wire.ProtocolID
	Types                        []TransformChoice
	OK                           bool
}

// IKEExplanation is what the responder would answer to an IKE_SA_INIT
// that offers some proposals with a KE payload for one group.
type IKEExplanation struct {
	Compared []ProposalComparison
	// Chosen is the proposal the responder selects (valid if
	// Compared has a comparison with OK set).
	Chosen wire.Proposal
	// Notify is 0 when the IKE SA can be set up at once,
	// NO_PROPOSAL_CHOSEN, or INVALID_KE_PAYLOAD (RFC 7296 1.2: the
	// initiator retries with WantGroup, and then succeeds).
	Notify    wire.NotifyType
	WantGroup uint16
	// Reason says why the chosen proposal is refused after all, if so.
	Reason string
}

// ExplainIKESA replays the responder's IKE_SA_INIT choice for peer p (the
// connection already found by its addresses): offered are the initiator's
// proposals, keGroup the group of its KE payload and intermediate whether
// it announced IKE_INTERMEDIATE support (RFC 9242).
func ExplainIKESA(p *PeerConfig, offered []wire.Proposal, keGroup uint16, intermediate bool) IKEExplanation {
	var x IKEExplanation
	chosen, ok := selectProposalTrace(p.Proposals, offered, keGroup, &x.Compared)
	if !ok {
		x.Notify = wire.NotifyNoProposalChosen
		return x
	}
	x.Chosen = chosen
	s, refuse, why := acceptIKEProposal(chosen, keGroup, intermediate)
	x.Notify, x.Reason = refuse, why
	if refuse == wire.NotifyInvalidKEPayload {
		x.WantGroup = s.group
	}
	return x
}

// acceptIKEProposal checks the proposal the responder selected before it
// answers IKE_SA_INIT: it must be one this build can run (NO_PROPOSAL_CHOSEN
// otherwise), additional key exchanges need IKE_INTERMEDIATE support (RFC
// 9370 2.2), and the KE payload must be for the chosen group
// (INVALID_KE_PAYLOAD otherwise, RFC 7296 1.2). why explains a refusal.
func acceptIKEProposal(chosen wire.Proposal, keGroup uint16, intermediate bool) (s ikeSuite, refuse wire.NotifyType, why string) {
	s, err := suiteOf(chosen)
	if err != nil {
		return s, wire.NotifyNoProposalChosen, err.Error()
	}
	if len(s.addKE) > 0 && !intermediate {
		return s, wire.NotifyNoProposalChosen, "additional key exchanges (RFC 9370) need IKE_INTERMEDIATE, which the initiator did not announce (RFC 9242 3)"
	}
	if keGroup != s.group {
		return s, wire.NotifyInvalidKEPayload, "the KE payload is for " + wire.TransformName(wire.TransformKE, keGroup) +
			", the chosen group is " + wire.TransformName(wire.TransformKE, s.group)
	}
	return s, 0, ""
}

// ChildCandidate is one child config the responder looked at for a Child
// SA request, in configuration order: its selectors (dynamic ones
// resolved with the IKE addresses), what narrowing left of the offered
// ones (RFC 7296 2.9), the ESP proposals compared and the outcome.
type ChildCandidate struct {
	Child                             string
	LocalConfigured, RemoteConfigured []ts.Selector
	// Local narrows the offered TSr, Remote the offered TSi.
	Local, Remote []ts.Selector
	Proposals     []ProposalComparison
	// ProposalsWithoutKE is the second try in IKE_AUTH, with key
	// exchange transforms removed on both sides (RFC 7296 1.2).
	ProposalsWithoutKE []ProposalComparison
	Chosen             wire.Proposal
	// Result is 0 if this child was chosen, else TS_UNACCEPTABLE or
	// NO_PROPOSAL_CHOSEN.
	Result wire.NotifyType
}

// ChildExplanation is what the responder would answer to a Child SA
// request.
type ChildExplanation struct {
	Candidates []ChildCandidate
	// Child is the chosen child config's name ("" if none).
	Child string
	// Chosen is the ESP proposal and Local, Remote the narrowed
	// selectors (TSr, TSi) of the response.
	Chosen        wire.Proposal
	Local, Remote []ts.Selector
	// Notify is 0 on success, TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN, or
	// INVALID_KE_PAYLOAD with WantGroup (CREATE_CHILD_SA only: the
	// initiator retries with that group).
	Notify    wire.NotifyType
	WantGroup uint16
}

// ExplainChildSA replays the responder's choice of a Child SA for peer p:
// local and remote are the IKE SA's addresses (for dynamic selectors), tsi
// and tsr the offered selectors, offered the ESP proposals, group the
// group of the KE payload (0 if none), and inIKEAuth whether the request
// is the first Child SA inside IKE_AUTH rather than CREATE_CHILD_SA.
func ExplainChildSA(p *PeerConfig, local, remote netip.Addr, tsi, tsr []ts.Selector, offered []wire.Proposal, group uint16, inIKEAuth bool) ChildExplanation {
	var x ChildExplanation
	c := chooseChild(p.Children,
		func(cfg []ts.Selector) []ts.Selector { return resolveTS(cfg, local) },
		func(cfg []ts.Selector) []ts.Selector { return resolveTS(cfg, remote) }, tsi, tsr, offered, group, inIKEAuth, &x.Candidates)
	if c.cfg == nil {
		x.Notify = c.notify
		return x
	}
	x.Child, x.Chosen, x.Local, x.Remote = c.cfg.Name, c.chosen, c.local, c.remote
	if inIKEAuth {
		x.Chosen = withoutType(x.Chosen, wire.TransformKE)
	} else if want, retry := childKERetry(c.chosen, group); retry {
		x.Notify, x.WantGroup = wire.NotifyInvalidKEPayload, want
	}
	return x
}

// InitiatorGroup is the group an initiator offering ps sends its KE
// payload for: the first key exchange method of its proposals (0 if they
// have none), as this engine's initiator does.
func InitiatorGroup(ps []wire.Proposal) uint16 { return firstGroup(ps) }
