package ike

import (
	"slices"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// transformTypes lists the transform types a proposal for proto may carry
// (RFC 7296 3.3.3).
var transformTypes = []wire.TransformType{
	wire.TransformENCR, wire.TransformPRF, wire.TransformINTEG, wire.TransformKE, wire.TransformESN,
	6, 7, 8, 9, 10, 11, 12, // Additional Key Exchange 1..7 (RFC 9370 2.2.1)
}

// selectProposal is the responder's choice (RFC 7296 2.7): our configured
// proposals in our order of preference, each against every offered
// proposal; the first pair whose every transform type has a common
// transform wins. preferGroup, if non-zero, is picked for TransformKE when
// both sides accept it (the initiator already sent a KE payload for it).
// The chosen proposal carries the offered proposal's number and SPI.
func selectProposal(configured, offered []wire.Proposal, preferGroup uint16) (wire.Proposal, bool) {
	return selectProposalTrace(configured, offered, preferGroup, nil)
}

// selectProposalTrace is selectProposal; if trace is non-nil it also
// appends one ProposalComparison per pair it looked at, in the order it
// looked (what `goipsec check` explains). The decision is the same with
// and without a trace.
func selectProposalTrace(configured, offered []wire.Proposal, preferGroup uint16, trace *[]ProposalComparison) (wire.Proposal, bool) {
	for ci, c := range configured {
		for _, o := range offered {
			var pc *ProposalComparison
			if trace != nil {
				*trace = append(*trace, ProposalComparison{Ours: ci + 1, Theirs: int(o.Number), OursProtocol: c.Protocol, TheirsProtocol: o.Protocol})
				pc = &(*trace)[len(*trace)-1]
			}
			if o.Protocol != c.Protocol {
				continue
			}
			if chosen, ok := intersect(c, o, preferGroup, pc); ok {
				chosen.Number = o.Number
				chosen.SPI = o.SPI
				if pc != nil {
					pc.OK = true
				}
				return chosen, true
			}
		}
	}
	return wire.Proposal{}, false
}

// intersect picks one transform of each type from ours and theirs. With
// a non-nil trace it records every type's outcome and, for the trace's
// sake only, goes on past the first type without a common transform.
func intersect(ours, theirs wire.Proposal, preferGroup uint16, trace *ProposalComparison) (wire.Proposal, bool) {
	out := wire.Proposal{Protocol: ours.Protocol}
	failed := false
	note := func(tt wire.TransformType, mine, peer []wire.Transform, pick wire.Transform, ok bool) {
		if trace != nil {
			trace.Types = append(trace.Types, TransformChoice{Type: tt, Ours: mine, Theirs: peer, Chosen: pick, OK: ok})
		}
	}
	for _, tt := range transformTypes {
		mine, peer := ours.Get(tt), theirs.Get(tt)
		if isADDKE(tt) {
			// One of each type the peer offered; NONE only if offered
			// and we have no method of that type (RFC 9370 2.2.1, as
			// strongSwan does).
			pick, ok := firstCommon(mine, peer)
			if !ok && len(withoutNone(wire.TransformKE, mine)) == 0 && containsTransform(peer, wire.Transform{Type: tt}) {
				pick, ok = wire.Transform{Type: tt}, true
			}
			if !ok && (len(mine) != 0 || len(peer) != 0) {
				note(tt, mine, peer, pick, false)
				if trace == nil {
					return out, false
				}
				failed = true
				continue
			}
			if ok {
				note(tt, mine, peer, pick, true)
				out.Transforms = append(out.Transforms, pick)
			}
			continue
		}
		mine, peer = withoutNone(tt, mine), withoutNone(tt, peer)
		if len(mine) == 0 && len(peer) == 0 {
			continue
		}
		pick, ok := firstCommon(mine, peer)
		if !ok {
			note(tt, mine, peer, pick, false)
			if trace == nil {
				return out, false
			}
			failed = true
			continue
		}
		if tt == wire.TransformKE && preferGroup != 0 {
			want := wire.Transform{Type: tt, ID: preferGroup}
			if containsTransform(mine, want) && containsTransform(peer, want) {
				pick = want
			}
		}
		note(tt, mine, peer, pick, true)
		out.Transforms = append(out.Transforms, pick)
	}
	return out, !failed
}

// withoutNone drops "NONE" integrity and KE transforms, which RFC 7296
// 3.3.3 treats like an absent transform type. ESN is kept: NoESN (0) is a
// real choice.
func withoutNone(tt wire.TransformType, ts []wire.Transform) []wire.Transform {
	if tt != wire.TransformINTEG && tt != wire.TransformKE {
		return ts
	}
	return slices.DeleteFunc(slices.Clone(ts), func(t wire.Transform) bool { return t.ID == 0 })
}

func firstCommon(mine, peer []wire.Transform) (wire.Transform, bool) {
	for _, m := range mine {
		if containsTransform(peer, m) {
			return m, true
		}
	}
	return wire.Transform{}, false
}

func containsTransform(list []wire.Transform, t wire.Transform) bool {
	for _, x := range list {
		if !x.Unknown && x.Type == t.Type && x.ID == t.ID && x.KeyLength == t.KeyLength {
			return true
		}
	}
	return false
}

// checkChosen is the initiator's check of the responder's choice (RFC 7296
// 2.7): exactly one proposal, with one transform of each type, each of
// which we offered in the proposal with that number.
func checkChosen(offered []wire.Proposal, sa *wire.SA) (wire.Proposal, bool) {
	if sa == nil || len(sa.Proposals) != 1 {
		return wire.Proposal{}, false
	}
	chosen := sa.Proposals[0]
	for _, o := range offered {
		if o.Number != chosen.Number || o.Protocol != chosen.Protocol {
			continue
		}
		seen := map[wire.TransformType]bool{}
		for _, t := range chosen.Transforms {
			if seen[t.Type] || !containsTransform(o.Transforms, t) {
				if !(t.ID == 0 && (t.Type == wire.TransformINTEG || t.Type == wire.TransformKE) && len(o.Get(t.Type)) == 0) {
					return wire.Proposal{}, false
				}
			}
			seen[t.Type] = true
		}
		for _, tt := range transformTypes {
			if (len(withoutNone(tt, o.Get(tt))) > 0 || (isADDKE(tt) && len(o.Get(tt)) > 0)) && !seen[tt] {
				return wire.Proposal{}, false
			}
		}
		return chosen, true
	}
	return wire.Proposal{}, false
}

// numbered returns copies of ps numbered 1..n with spi set (RFC 7296 3.3.1).
func numbered(ps []wire.Proposal, spi []byte) []wire.Proposal {
	out := make([]wire.Proposal, len(ps))
	for i, p := range ps {
		p.Number = uint8(i + 1)
		p.SPI = spi
		out[i] = p
	}
	return out
}
