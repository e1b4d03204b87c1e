package daemon

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteExplanation renders Explain's reports for humans: per connection
// what it negotiates, then, for a peer's offer, the responder's decision
// transform by transform.
func WriteExplanation(w io.Writer, reports []ConnReport) {
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeConn(w, r)
		if r.Match != nil {
			writeMatch(w, r.Match)
		}
	}
}

func writeConn(w io.Writer, r ConnReport) {
	fmt.Fprintf(w, "%s: IKEv%d %s:%d -> %s:%d\n", r.Name, r.Version,
		strings.Join(r.LocalAddrs, ","), r.LocalPort, strings.Join(r.RemoteAddrs, ","), r.RemotePort)
	fmt.Fprintf(w, "  local:  auth %s, id %s%s\n", r.Local.Auth, r.Local.ID, creds(r.Local))
	fmt.Fprintf(w, "  remote: auth %s, id %s%s\n", r.Remote.Auth, r.Remote.ID, creds(r.Remote))
	fmt.Fprintf(w, "  IKE proposals, in our order of preference (RFC 7296 2.7):\n")
	writeProposals(w, "    ", r.Proposals)
	fmt.Fprintf(w, "  IKE SA: rekey_time %s, reauth_time %s, over_time %s, rand_time %s%s\n", r.RekeyTime, r.ReauthTime, r.OverTime, r.RandTime,
		ikeWindow(r))
	fmt.Fprintf(w, "  dpd_delay %s, keyingtries %s, fragmentation %s, unique %s, childless %s\n", r.DPDDelay, tries(r.KeyingTries), r.Fragmentation, r.Unique, r.Childless)
	writeVIPs(w, r)
	for _, c := range r.Children {
		fmt.Fprintf(w, "  child %s: %s === %s, mode %s\n", c.Name, strings.Join(c.LocalTS, ","), strings.Join(c.RemoteTS, ","), c.Mode)
		switch c.Mode {
		case "pass":
			fmt.Fprintf(w, "    a BYPASS shunt policy (RFC 4301 4.4.1), installed at start-up: matching traffic goes in the clear, nothing is negotiated\n")
			continue
		case "drop":
			fmt.Fprintf(w, "    a DISCARD shunt policy (RFC 4301 4.4.1), installed at start-up: matching traffic is dropped, nothing is negotiated\n")
			continue
		}
		fmt.Fprintf(w, "    ESP proposals, in our order of preference:\n")
		writeProposals(w, "      ", c.ESPProposals)
		fmt.Fprintf(w, "    time: rekey_time %s, life_time %s, rand_time %s%s\n", c.RekeyTime, c.LifeTime, c.RandTime, childWindow(c))
		fmt.Fprintf(w, "    volume: %s; %s\n", volume("bytes", c.RekeyBytes, c.LifeBytes, c.RandBytes),
			volume("packets", c.RekeyPackets, c.LifePackets, c.RandPackets))
		fmt.Fprintf(w, "    start_action %s, dpd_action %s, close_action %s\n", c.StartAction, c.DPDAction, c.CloseAction)
		fmt.Fprintf(w, "    replay_window %s, tfc_padding %s\n", replayText(c.ReplayWindow), tfcText(c.TFCPadding))
	}
}

func creds(a AuthReport) string {
	var b strings.Builder
	for _, x := range []struct {
		k string
		v []string
	}{{"certs", a.Certs}, {"pubkeys", a.PubKeys}, {"cacerts", a.CACerts}} {
		if len(x.v) > 0 {
			fmt.Fprintf(&b, ", %s %s", x.k, strings.Join(x.v, ","))
		}
	}
	return b.String()
}

func replayText(n int) string {
	if n == 0 {
		return "off (no anti-replay check)"
	}
	return fmt.Sprintf("%d packets", n)
}

func tfcText(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d octets (RFC 4303 2.4)", n)
}

func tries(n int) string {
	if n == 0 {
		return "0 (forever)"
	}
	return fmt.Sprint(n)
}

func writeProposals(w io.Writer, indent string, ps []ProposalReport) {
	for _, p := range ps {
		fmt.Fprintf(w, "%s%d: %s\n", indent, p.Number, p.Text)
		for _, t := range p.Transforms {
			name := t.Name
			if t.KeyBits != 0 {
				name += fmt.Sprintf(" (%d bits)", t.KeyBits)
			}
			fmt.Fprintf(w, "%s   %-6s %-32s %s\n", indent, t.Type, name, t.RFC)
		}
	}
}

// ikeWindow says when the IKE SA is rekeyed, reauthenticated and
// deleted: each time minus up to rand_time, and the earlier of them plus
// over_time (swanctl.conf(5)).
func ikeWindow(r ConnReport) string {
	rekey, err1 := time.ParseDuration(r.RekeyTime)
	reauth, err2 := time.ParseDuration(r.ReauthTime)
	over, err3 := time.ParseDuration(r.OverTime)
	rnd, err4 := time.ParseDuration(r.RandTime)
	if err3 != nil || err4 != nil || (err1 != nil && err2 != nil) {
		return " (never rekeyed)"
	}
	var parts []string
	first := time.Duration(0)
	for _, t := range []struct {
		what string
		d    time.Duration
		err  error
	}{{"rekeyed", rekey, err1}, {"reauthenticated", reauth, err2}} {
		if t.err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s..%s after setup", t.what, t.d-min(rnd, t.d), t.d))
		if first == 0 || t.d < first {
			first = t.d
		}
	}
	return fmt.Sprintf(" (%s, deleted at %s if that fails)", strings.Join(parts, ", "), first+over)
}

func childWindow(c ChildReport) string {
	rekey, err1 := time.ParseDuration(c.RekeyTime)
	rnd, err2 := time.ParseDuration(c.RandTime)
	if err1 != nil || err2 != nil {
		if c.LifeTime != "never" {
			return " (never rekeyed, deleted at life_time)"
		}
		return ""
	}
	return fmt.Sprintf(" (rekeyed %s..%s after setup, deleted at life_time)", rekey-min(rnd, rekey), rekey)
}

func volume(unit string, rekey, life, rnd uint64) string {
	if rekey == 0 && life == 0 {
		return "no " + unit + " limit"
	}
	return fmt.Sprintf("rekey_%s %d, life_%s %d, rand_%s %d", unit, rekey, unit, life, unit, rnd)
}

func writeMatch(w io.Writer, m *MatchReport) {
	verdict := "WOULD MATCH"
	if !m.OK {
		verdict = "WOULD NOT MATCH"
	}
	fmt.Fprintf(w, "  peer's offer %s\n", verdict)
	if len(m.Unsupported) > 0 {
		fmt.Fprintf(w, "    not implemented by goipsec, never chosen: %s\n", strings.Join(m.Unsupported, ", "))
	}
	if m.Error != "" {
		fmt.Fprintf(w, "    cannot check: %s\n", m.Error)
	}
	if x := m.IKE; x != nil {
		fmt.Fprintf(w, "  IKE_SA_INIT (we respond; KE payload for %s):\n", x.KEGroup)
		writeOffered(w, "    ", x.Offered)
		writeComparisons(w, "    ", x.Comparisons)
		switch x.Result {
		case "ok":
			fmt.Fprintf(w, "    => chosen: %s\n", x.Chosen)
		case "INVALID_KE_PAYLOAD":
			fmt.Fprintf(w, "    => chosen: %s\n    => INVALID_KE_PAYLOAD asking for %s (%s); the peer retries with it (RFC 7296 1.2)\n", x.Chosen, x.WantGroup, x.Reason)
		default:
			reason := x.Reason
			if reason == "" {
				reason = "no pair of proposals has a common transform of every type (RFC 7296 2.7)"
			}
			fmt.Fprintf(w, "    => NO_PROPOSAL_CHOSEN: %s\n", reason)
		}
	}
	for _, c := range m.Children {
		fmt.Fprintf(w, "  Child SA in %s: TSi %s, TSr %s", c.Exchange, strings.Join(c.TSi, ","), strings.Join(c.TSr, ","))
		if c.KEGroup != "" {
			fmt.Fprintf(w, ", KE payload for %s", c.KEGroup)
		}
		fmt.Fprintln(w)
		if c.Assumed != "" {
			fmt.Fprintf(w, "    assumed: %s\n", c.Assumed)
		}
		writeOffered(w, "    ", c.Offered)
		for _, cand := range c.Candidates {
			fmt.Fprintf(w, "    child %s (local_ts %s, remote_ts %s): %s\n", cand.Child,
				strings.Join(cand.LocalConfigured, ","), strings.Join(cand.RemoteConfigured, ","), cand.Result)
			for _, p := range cand.Pairs {
				if p.Why != "" {
					fmt.Fprintf(w, "      %s %s vs %s: no overlap, %s\n", p.Side, p.Offered, p.Configured, p.Why)
				} else {
					fmt.Fprintf(w, "      %s %s vs %s: narrowed to %s\n", p.Side, p.Offered, p.Configured, p.Result)
				}
			}
			if cand.Result == "TS_UNACCEPTABLE" {
				side := "TSi (our remote_ts)"
				if len(cand.Remote) > 0 {
					side = "TSr (our local_ts)"
				}
				fmt.Fprintf(w, "      nothing of %s is left after narrowing (RFC 7296 2.9)\n", side)
				continue
			}
			writeComparisons(w, "      ", cand.Comparisons)
			if len(cand.WithoutKE) > 0 {
				fmt.Fprintf(w, "      again without key exchange transforms (PFS applies to CREATE_CHILD_SA only, RFC 7296 1.2):\n")
				writeComparisons(w, "      ", cand.WithoutKE)
			}
		}
		switch c.Result {
		case "ok", "INVALID_KE_PAYLOAD":
			fmt.Fprintf(w, "    => child %s: %s\n    => narrowed: local %s, remote %s\n", c.Child, c.Chosen,
				strings.Join(c.Local, ","), strings.Join(c.Remote, ","))
			if c.Result == "INVALID_KE_PAYLOAD" {
				fmt.Fprintf(w, "    => INVALID_KE_PAYLOAD asking for %s; the peer retries with it (RFC 7296 1.3)\n", c.WantGroup)
			}
		case "TS_UNACCEPTABLE":
			fmt.Fprintf(w, "    => TS_UNACCEPTABLE: no child's selectors overlap the offered ones on both sides (RFC 7296 2.9)\n")
		default:
			fmt.Fprintf(w, "    => %s: selectors fit, but no ESP proposal does (RFC 7296 2.7)\n", c.Result)
		}
	}
}

func writeOffered(w io.Writer, indent string, ps []ProposalReport) {
	for _, p := range ps {
		fmt.Fprintf(w, "%soffered %d: %s\n", indent, p.Number, p.Text)
	}
}

func writeComparisons(w io.Writer, indent string, cs []ComparisonReport) {
	for _, c := range cs {
		verdict := "match"
		if !c.Match {
			verdict = "no match: " + c.Reason
		}
		fmt.Fprintf(w, "%sour %d vs offered %d: %s\n", indent, c.Ours, c.Theirs, verdict)
		for _, t := range c.Transforms {
			if t.Match {
				fmt.Fprintf(w, "%s  %-6s %s\n", indent, t.Type, t.Chosen)
				continue
			}
			fmt.Fprintf(w, "%s  %-6s NO MATCH (%s): ours [%s], offered [%s]\n", indent, t.Type, t.Reason,
				strings.Join(t.Ours, ", "), strings.Join(t.Theirs, ", "))
		}
	}
}
