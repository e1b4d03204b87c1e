package daemon

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// explainOffer runs the engine's responder decisions on the peer's offer
// for one connection.
func explainOffer(c *config.Connection, p *ike.PeerConfig, offer CheckOffer) (*MatchReport, error) {
	m := &MatchReport{OK: true}
	if len(offer.IKEProposals) > 0 {
		offered, err := parseOffered(wire.ProtoIKE, offer.IKEProposals, &m.Unsupported)
		if err != nil {
			return nil, err
		}
		group := ike.InitiatorGroup(offered)
		// A peer that offers additional key exchanges announces
		// IKE_INTERMEDIATE (RFC 9242 3), or it could not run them.
		x := ike.ExplainIKESA(p, offered, group, offersADDKE(offered))
		im := &IKEMatch{
			Offered: proposalReports(offered), KEGroup: wire.TransformName(wire.TransformKE, group),
			Comparisons: comparisonReports(x.Compared), Result: notifyResult(x.Notify), Reason: x.Reason,
		}
		if x.Notify != wire.NotifyNoProposalChosen {
			im.Chosen = describeChosen(x.Chosen)
		}
		if x.Notify == wire.NotifyInvalidKEPayload {
			im.WantGroup = wire.TransformName(wire.TransformKE, x.WantGroup)
		}
		m.IKE = im
		m.OK = m.OK && x.Notify != wire.NotifyNoProposalChosen
	}
	if len(offer.ESPProposals) == 0 && offer.TS == "" {
		return m, nil
	}
	if len(c.Children) == 0 {
		m.OK, m.Error = false, "the connection has no children"
		return m, nil
	}
	local, remote := offer.LocalAddr, offer.PeerAddr
	if !local.IsValid() {
		local = firstHost(p.LocalAddrs)
	}
	if !remote.IsValid() {
		remote = p.RemoteHost
	}
	var assumed []string
	var espOffered []wire.Proposal
	if len(offer.ESPProposals) > 0 {
		var err error
		if espOffered, err = parseOffered(wire.ProtoESP, offer.ESPProposals, &m.Unsupported); err != nil {
			return nil, err
		}
	} else {
		assumed = append(assumed, "ESP proposals: the same as child "+c.Children[0].Name+"'s")
		for i, pr := range c.Children[0].ESPProposals {
			pr.Number, pr.SPI = uint8(i+1), []byte{0, 0, 0x10, byte(i + 1)}
			espOffered = append(espOffered, pr)
		}
	}
	tsi, tsr, how, err := offeredTS(c.Children[0], offer.TS)
	if err != nil {
		return nil, err
	}
	if how != "" {
		assumed = append(assumed, how)
	}
	if len(c.VIPs) > 0 || len(c.Pools) > 0 {
		// The lease is only known in IKE_AUTH (RFC 7296 2.19).
		assumed = append(assumed, "virtual IPs (vips, pools) are not modelled: dynamic selectors stand for the IKE addresses, not a lease")
	}
	if needsAddr(tsi, remote) || needsAddr(tsr, local) || needsAddr(c.Children[0].LocalSelectors, local) || needsAddr(c.Children[0].RemoteSelectors, remote) {
		m.OK, m.Error = false, "dynamic traffic selectors need the IKE addresses: give --local-addr and --peer-addr"
		return m, nil
	}
	// The peer's dynamic selectors stand for its own address (TSi) and
	// ours (TSr), as ours do (RFC 7296 2.9).
	tsi, tsr = resolveAll(tsi, remote), resolveAll(tsr, local)
	exchanges := []bool{true}
	if anyKE(espOffered) || anyChildKE(p) {
		exchanges = append(exchanges, false)
	}
	for _, inAuth := range exchanges {
		group := uint16(0)
		if !inAuth {
			group = ike.InitiatorGroup(espOffered)
		}
		x := ike.ExplainChildSA(p, local, remote, tsi, tsr, espOffered, group, inAuth)
		cm := ChildMatch{
			Exchange: "IKE_AUTH", TSi: tsStrings(tsi), TSr: tsStrings(tsr), Assumed: strings.Join(assumed, "; "),
			Offered: proposalReports(espOffered), Result: notifyResult(x.Notify),
		}
		if !inAuth {
			cm.Exchange = "CREATE_CHILD_SA"
			if group != 0 {
				cm.KEGroup = wire.TransformName(wire.TransformKE, group)
			}
		}
		for _, cand := range x.Candidates {
			cm.Candidates = append(cm.Candidates, candidateReport(cand, tsi, tsr))
		}
		if x.Child != "" {
			cm.Child, cm.Chosen = x.Child, describeChosen(x.Chosen)
			cm.Local, cm.Remote = tsStrings(x.Local), tsStrings(x.Remote)
		}
		if x.Notify == wire.NotifyInvalidKEPayload {
			cm.WantGroup = wire.TransformName(wire.TransformKE, x.WantGroup)
		}
		m.OK = m.OK && x.Child != ""
		m.Children = append(m.Children, cm)
	}
	return m, nil
}

func candidateReport(c ike.ChildCandidate, tsi, tsr []ts.Selector) CandidateReport {
	r := CandidateReport{
		Child: c.Child, Result: notifyResult(c.Result),
		LocalConfigured: tsStrings(c.LocalConfigured), RemoteConfigured: tsStrings(c.RemoteConfigured),
		Local: tsStrings(c.Local), Remote: tsStrings(c.Remote),
		Comparisons: comparisonReports(c.Proposals), WithoutKE: comparisonReports(c.ProposalsWithoutKE),
	}
	if c.Result == 0 {
		r.Chosen = describeChosen(c.Chosen)
	}
	// The pairs narrowing looked at (ts.Narrow intersects each offered
	// selector with each configured one).
	pairs := func(side string, offered, configured []ts.Selector) {
		for _, o := range offered {
			for _, cf := range configured {
				tp := TSPair{Side: side, Offered: o.String(), Configured: cf.String()}
				if n, why := o.IntersectWhy(cf); why == ts.Overlap {
					tp.Result = n.String()
				} else {
					tp.Why = why.String()
				}
				r.Pairs = append(r.Pairs, tp)
			}
		}
	}
	pairs("TSi", tsi, c.RemoteConfigured)
	pairs("TSr", tsr, c.LocalConfigured)
	return r
}

// offeredTS parses "TSi=TSr" (the peer's local_ts=remote_ts); empty means
// the mirror of child's selectors.
func offeredTS(child *config.Child, s string) (tsi, tsr []ts.Selector, assumed string, err error) {
	if s == "" {
		return child.RemoteSelectors, child.LocalSelectors, "traffic selectors: the mirror of child " + child.Name + "'s", nil
	}
	left, right, ok := strings.Cut(s, "=")
	if !ok {
		return nil, nil, "", fmt.Errorf("--peer-ts %q: want TSi=TSr (the peer's local_ts=remote_ts)", s)
	}
	if tsi, err = ts.ParseList(left); err != nil {
		return nil, nil, "", fmt.Errorf("--peer-ts %q: %w", s, err)
	}
	if tsr, err = ts.ParseList(right); err != nil {
		return nil, nil, "", fmt.Errorf("--peer-ts %q: %w", s, err)
	}
	return tsi, tsr, "", nil
}

func needsAddr(sels []ts.Selector, a netip.Addr) bool {
	if a.IsValid() {
		return false
	}
	for _, s := range sels {
		if s.IsDynamic() {
			return true
		}
	}
	return false
}

func resolveAll(sels []ts.Selector, a netip.Addr) []ts.Selector {
	out := make([]ts.Selector, len(sels))
	for i, s := range sels {
		out[i] = s.Resolve(a.Unmap())
	}
	return out
}

func firstHost(ps []netip.Prefix) netip.Addr {
	for _, p := range ps {
		if p.IsSingleIP() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

func notifyResult(n wire.NotifyType) string {
	if n == 0 {
		return "ok"
	}
	return n.String()
}

// describeChosen renders a chosen proposal with the IANA names.
func describeChosen(p wire.Proposal) string {
	var parts []string
	for _, t := range p.Transforms {
		if t.Type == wire.TransformESN && t.ID == wire.ESNNone && p.Protocol != wire.ProtoESP {
			continue
		}
		parts = append(parts, suite.TransformLabel(t))
	}
	return strings.Join(parts, ", ")
}

func offersADDKE(ps []wire.Proposal) bool {
	for _, p := range ps {
		for _, t := range p.Transforms {
			if t.Type >= 6 && t.Type <= 12 && t.ID != 0 {
				return true
			}
		}
	}
	return false
}

func anyKE(ps []wire.Proposal) bool { return ike.InitiatorGroup(ps) != 0 }

func anyChildKE(p *ike.PeerConfig) bool {
	for _, c := range p.Children {
		if anyKE(c.ESPProposals) {
			return true
		}
	}
	return false
}
