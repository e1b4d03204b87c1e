package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// This file builds what `goipsec check` reports: what each connection
// will negotiate, and, for a peer's offer, what the responder would
// answer. The answer comes from the IKE engine's own decision code
// (ike.ExplainIKESA, ike.ExplainChildSA); this file only converts and
// labels. explain_text.go renders the report for humans.

// CheckOffer is what a peer would send us, in strongSwan's syntax, as
// the initiator of an IKE SA with the connection being checked.
type CheckOffer struct {
	// IKEProposals are the peer's IKE proposals (its `proposals`); the
	// KE payload of its IKE_SA_INIT is for the first group of the first
	// one, as goipsec and strongSwan initiators do.
	IKEProposals []string
	// ESPProposals are the peer's ESP proposals (its `esp_proposals`);
	// empty means the same as ours.
	ESPProposals []string
	// TS is "TSi=TSr" in the peer's words: its local_ts, "=", its
	// remote_ts, each a comma-separated ts list ("10.1.0.0/16=10.2.0.0/24").
	// Empty means the mirror of our selectors, as a peer configured to
	// match would send.
	TS string
	// LocalAddr and PeerAddr are the IKE addresses, for "dynamic"
	// selectors; invalid means the connection's first single address.
	LocalAddr, PeerAddr netip.Addr
}

// Empty reports whether the offer asks for no match at all.
func (o CheckOffer) Empty() bool {
	return len(o.IKEProposals) == 0 && len(o.ESPProposals) == 0 && o.TS == ""
}

// ConnReport describes one connection as `goipsec check` shows it.
type ConnReport struct {
	Name          string           `json:"name"`
	Version       int              `json:"version"`
	LocalAddrs    []string         `json:"local_addrs"`
	RemoteAddrs   []string         `json:"remote_addrs"`
	LocalPort     int              `json:"local_port"`
	RemotePort    int              `json:"remote_port"`
	Proposals     []ProposalReport `json:"proposals"`
	Local         AuthReport       `json:"local"`
	Remote        AuthReport       `json:"remote"`
	RekeyTime     string           `json:"rekey_time"`
	ReauthTime    string           `json:"reauth_time"`
	OverTime      string           `json:"over_time"`
	RandTime      string           `json:"rand_time"`
	DPDDelay      string           `json:"dpd_delay"`
	KeyingTries   int              `json:"keyingtries"`
	Fragmentation string           `json:"fragmentation"`
	Unique        string           `json:"unique"`
	Childless     string           `json:"childless"`
	VIPs          []string         `json:"vips,omitempty"`
	Pools         []PoolReport     `json:"pools,omitempty"`
	Children      []ChildReport    `json:"children"`
	Match         *MatchReport     `json:"match,omitempty"`
}

// ProposalReport is one proposal: strongSwan's one-line form and its
// transforms with their IANA names.
type ProposalReport struct {
	Number     int               `json:"number"`
	Text       string            `json:"text"`
	Transforms []TransformReport `json:"transforms"`
}

// TransformReport is one transform (RFC 7296 3.3.2).
type TransformReport struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	KeyBits int    `json:"key_bits,omitempty"`
	RFC     string `json:"rfc,omitempty"`
}

// AuthReport is one side's authentication.
type AuthReport struct {
	Auth    string   `json:"auth"`
	ID      string   `json:"id"`
	Certs   []string `json:"certs,omitempty"`
	PubKeys []string `json:"pubkeys,omitempty"`
	CACerts []string `json:"cacerts,omitempty"`
}

// ChildReport describes one child.
type ChildReport struct {
	Name         string           `json:"name"`
	LocalTS      []string         `json:"local_ts"`
	RemoteTS     []string         `json:"remote_ts"`
	Mode         string           `json:"mode"`
	ESPProposals []ProposalReport `json:"esp_proposals"`
	RekeyTime    string           `json:"rekey_time"`
	LifeTime     string           `json:"life_time"`
	RandTime     string           `json:"rand_time"`
	RekeyBytes   uint64           `json:"rekey_bytes"`
	LifeBytes    uint64           `json:"life_bytes"`
	RandBytes    uint64           `json:"rand_bytes"`
	RekeyPackets uint64           `json:"rekey_packets"`
	LifePackets  uint64           `json:"life_packets"`
	RandPackets  uint64           `json:"rand_packets"`
	StartAction  string           `json:"start_action"`
	DPDAction    string           `json:"dpd_action"`
	CloseAction  string           `json:"close_action"`
	ReplayWindow int              `json:"replay_window"` // packets, 0: no replay check
	TFCPadding   int              `json:"tfc_padding"`   // octets, 0: none
}

// MatchReport is the verdict on a peer's offer.
type MatchReport struct {
	// OK is true if every part that was checked would succeed
	// (INVALID_KE_PAYLOAD counts as success: the peer retries).
	OK bool `json:"ok"`
	// Unsupported lists keywords of the peer's proposals this build
	// does not implement; they can never be chosen.
	Unsupported []string     `json:"unsupported_keywords,omitempty"`
	IKE         *IKEMatch    `json:"ike,omitempty"`
	Children    []ChildMatch `json:"children,omitempty"`
	// Error is set when the offer could not be checked (e.g. dynamic
	// selectors without an address).
	Error string `json:"error,omitempty"`
}

// IKEMatch is the responder's answer to the peer's IKE_SA_INIT.
type IKEMatch struct {
	Offered     []ProposalReport   `json:"offered"`
	KEGroup     string             `json:"ke_group"`
	Comparisons []ComparisonReport `json:"comparisons"`
	// Result is "ok", "NO_PROPOSAL_CHOSEN" or "INVALID_KE_PAYLOAD".
	Result    string `json:"result"`
	Chosen    string `json:"chosen,omitempty"`
	WantGroup string `json:"want_group,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// ComparisonReport is one pair of proposals the responder compared.
type ComparisonReport struct {
	Ours       int              `json:"ours"`
	Theirs     int              `json:"theirs"`
	Match      bool             `json:"match"`
	Reason     string           `json:"reason,omitempty"`
	Transforms []TransformMatch `json:"transforms,omitempty"`
}

// TransformMatch is one transform type of a comparison.
type TransformMatch struct {
	Type   string   `json:"type"`
	Ours   []string `json:"ours"`
	Theirs []string `json:"theirs"`
	Chosen string   `json:"chosen,omitempty"`
	Match  bool     `json:"match"`
	Reason string   `json:"reason,omitempty"`
}

// ChildMatch is the responder's answer to a Child SA request in one
// exchange: IKE_AUTH (the first Child SA) or CREATE_CHILD_SA (later
// ones and rekeys, where PFS groups count).
type ChildMatch struct {
	Exchange   string            `json:"exchange"`
	TSi        []string          `json:"tsi"`
	TSr        []string          `json:"tsr"`
	Assumed    string            `json:"assumed,omitempty"`
	Offered    []ProposalReport  `json:"offered"`
	KEGroup    string            `json:"ke_group,omitempty"`
	Candidates []CandidateReport `json:"candidates"`
	// Result is "ok", "TS_UNACCEPTABLE", "NO_PROPOSAL_CHOSEN" or
	// "INVALID_KE_PAYLOAD".
	Result    string   `json:"result"`
	Child     string   `json:"child,omitempty"`
	Chosen    string   `json:"chosen,omitempty"`
	Local     []string `json:"narrowed_local,omitempty"`
	Remote    []string `json:"narrowed_remote,omitempty"`
	WantGroup string   `json:"want_group,omitempty"`
}

// CandidateReport is one child config the responder tried.
type CandidateReport struct {
	Child            string             `json:"child"`
	Result           string             `json:"result"`
	LocalConfigured  []string           `json:"local_ts"`
	RemoteConfigured []string           `json:"remote_ts"`
	Local            []string           `json:"narrowed_local"`
	Remote           []string           `json:"narrowed_remote"`
	Pairs            []TSPair           `json:"ts_pairs"`
	Comparisons      []ComparisonReport `json:"comparisons,omitempty"`
	WithoutKE        []ComparisonReport `json:"comparisons_without_ke,omitempty"`
	Chosen           string             `json:"chosen,omitempty"`
}

// TSPair is one offered selector against one configured one (RFC 7296
// 2.9): their intersection, or why there is none.
type TSPair struct {
	Side       string `json:"side"` // "TSi" (our remote) or "TSr" (our local)
	Offered    string `json:"offered"`
	Configured string `json:"configured"`
	Result     string `json:"result,omitempty"`
	Why        string `json:"why,omitempty"`
}

// Explain describes the connections of cfg (only the one named conn, if
// not empty) and, if offer is not empty, what the responder would answer
// to that peer.
func Explain(ctx context.Context, cfg *config.Config, conn string, offer CheckOffer) ([]ConnReport, error) {
	if err := checkPolicies(ctx, cfg); err != nil {
		return nil, err
	}
	var out []ConnReport
	for _, c := range cfg.Connections {
		if conn != "" && c.Name != conn {
			continue
		}
		r := describeConn(c)
		r.VIPs, r.Pools = vipReport(c, cfg)
		if !offer.Empty() {
			p, key, err := peerFromConnection(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("%v: connections.%s.%s: %w", c.Pos, c.Name, key, err)
			}
			m, err := explainOffer(c, p, offer)
			if err != nil {
				return nil, err
			}
			r.Match = m
		}
		out = append(out, r)
	}
	if conn != "" && len(out) == 0 {
		return nil, fmt.Errorf("no connection %q in the configuration", conn)
	}
	return out, nil
}

// checkPolicies runs the daemon's checks of trap and shunt policies
// (trap.go), which look across connections, so that check refuses what
// the daemon would refuse.
func checkPolicies(ctx context.Context, cfg *config.Config) error {
	peers := map[string]*ike.PeerConfig{}
	for _, c := range cfg.Connections {
		if p, _, err := peerFromConnection(ctx, c); err == nil {
			peers[c.Name] = p
		}
	}
	_, err := wantPolicies(cfg, peers)
	return err
}

func describeConn(c *config.Connection) ConnReport {
	r := ConnReport{
		Name: c.Name, Version: c.Version, LocalAddrs: c.LocalAddrs, RemoteAddrs: c.RemoteAddrs,
		LocalPort: c.LocalPort, RemotePort: c.RemotePort, Proposals: proposalReports(c.Proposals),
		Local: authReport(c.Local, false), Remote: authReport(c.Remote, true),
		RekeyTime: durOrNever(c.Life.RekeyTime), ReauthTime: durOrNever(c.Life.ReauthTime), OverTime: c.Life.OverTime.String(), RandTime: c.Life.RandTime.String(),
		DPDDelay: durOrNever(c.DPDDelay), KeyingTries: c.KeyingTries, Fragmentation: c.Fragmentation, Unique: c.Unique, Childless: c.Childless,
	}
	for _, ch := range c.Children {
		l := ch.Life
		r.Children = append(r.Children, ChildReport{
			Name: ch.Name, LocalTS: ch.LocalTS, RemoteTS: ch.RemoteTS, Mode: ch.Mode,
			ESPProposals: proposalReports(ch.ESPProposals),
			RekeyTime:    durOrNever(l.RekeyTime), LifeTime: durOrNever(l.LifeTime), RandTime: l.RandTime.String(),
			RekeyBytes: l.RekeyBytes, LifeBytes: l.LifeBytes, RandBytes: l.RandBytes,
			RekeyPackets: l.RekeyPackets, LifePackets: l.LifePackets, RandPackets: l.RandPackets,
			StartAction: ch.StartAction, DPDAction: orDefault(ch.DPDAction, "clear"), CloseAction: orDefault(ch.CloseAction, "none"),
			ReplayWindow: ch.ReplayWindow, TFCPadding: tfcPaddingOf(ch.TFCPadding),
		})
	}
	return r
}

func authReport(a config.AuthRound, remote bool) AuthReport {
	id := a.ID
	if id == "" {
		id = "(the IKE address, or the certificate's subject)"
		if remote {
			id = "%any"
		}
	}
	auth := a.Auth
	if a.KeyType != "" {
		auth += " (" + a.KeyType + " keys)"
	}
	return AuthReport{Auth: auth, ID: id, Certs: a.Certs, PubKeys: a.PubKeys, CACerts: a.CACerts}
}

// durOrNever renders a lifetime, where 0 means "no limit".
func durOrNever(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func proposalReports(ps []wire.Proposal) []ProposalReport {
	out := make([]ProposalReport, 0, len(ps))
	for i, p := range ps {
		pr := ProposalReport{Number: i + 1, Text: suite.Describe(p)}
		for _, t := range p.Transforms {
			pr.Transforms = append(pr.Transforms, TransformReport{
				Type: transformTypeName(t.Type), Name: wire.TransformName(t.Type, t.ID),
				KeyBits: int(t.KeyLength), RFC: suite.TransformRFC(t),
			})
		}
		out = append(out, pr)
	}
	return out
}

// transformTypeName spells transform types as RFC 7296 3.3.2 and RFC
// 9370 2.2.1 do.
func transformTypeName(t wire.TransformType) string {
	switch t {
	case wire.TransformENCR:
		return "ENCR"
	case wire.TransformPRF:
		return "PRF"
	case wire.TransformINTEG:
		return "INTEG"
	case wire.TransformKE:
		return "KE"
	case wire.TransformESN:
		return "ESN"
	}
	if t >= 6 && t <= 12 {
		return fmt.Sprintf("ADDKE%d", t-5)
	}
	return t.String()
}

func labels(ts []wire.Transform) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, suite.TransformLabel(t))
	}
	return out
}

func comparisonReports(cs []ike.ProposalComparison) []ComparisonReport {
	var out []ComparisonReport
	for _, c := range cs {
		r := ComparisonReport{Ours: c.Ours, Theirs: c.Theirs, Match: c.OK}
		if c.OursProtocol != c.TheirsProtocol {
			r.Reason = fmt.Sprintf("protocol %v against %v", c.TheirsProtocol, c.OursProtocol)
		}
		for _, t := range c.Types {
			tm := TransformMatch{Type: transformTypeName(t.Type), Ours: labels(t.Ours), Theirs: labels(t.Theirs), Match: t.OK}
			switch {
			case t.OK:
				tm.Chosen = suite.TransformLabel(t.Chosen)
			case len(t.Theirs) == 0:
				tm.Reason = "we require one of ours, the peer offers none"
			case len(t.Ours) == 0:
				tm.Reason = "the peer requires one of its own, we accept none"
			default:
				tm.Reason = "no transform in common"
			}
			if !t.OK && r.Reason == "" {
				r.Reason = tm.Type + ": " + tm.Reason
			}
			r.Transforms = append(r.Transforms, tm)
		}
		out = append(out, r)
	}
	return out
}

// parseOffered parses the peer's proposals, numbered from 1 with a
// four-octet SPI for ESP (RFC 7296 3.3.1), as they would arrive.
func parseOffered(proto wire.ProtocolID, list []string, unsupported *[]string) ([]wire.Proposal, error) {
	var out []wire.Proposal
	for _, s := range list {
		for _, one := range strings.Split(s, ",") {
			p, dropped, err := suite.ParsePeerProposal(proto, one)
			if err != nil {
				return nil, fmt.Errorf("peer %v proposal %q: %w", proto, one, err)
			}
			*unsupported = append(*unsupported, dropped...)
			p.Number = uint8(len(out) + 1)
			if proto == wire.ProtoESP {
				p.SPI = []byte{0, 0, 0x10, byte(p.Number)}
			}
			out = append(out, p)
		}
	}
	return out, nil
}
