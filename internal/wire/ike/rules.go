package ike

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrPayloadRules is wrapped by every Verify error: the payloads are well
// formed but do not make a valid message of the exchange (RFC 7296 1.2-1.5;
// the answer to such a request is INVALID_SYNTAX, RFC 7296 3.10.1).
var ErrPayloadRules = errors.New("payloads do not match the exchange")

// bound is how often a payload type may appear: min..max times.
type bound struct{ min, max int }

const many = 1 << 30

var (
	one     = bound{1, 1}
	opt     = bound{0, 1}
	anyNum  = bound{0, many}
	oneOrMo = bound{1, many}
)

// refusal says how a shape relates to a response that refuses the request:
// one with an error notify or a COOKIE (RFC 7296 2.6, 2.21).
type refusal uint8

const (
	refusalAllowed   refusal = iota // with or without an error notify
	refusalForbidden                // only without: the successful answer
	refusalRequired                 // only with: the error answer
)

// shape is one acceptable set of payloads of a message.
type shape struct {
	counts   map[PayloadType]bound // a known type not listed must not appear
	together [][]PayloadType       // each set: all of its types present, or none
	refusal  refusal
}

type ruleKey struct {
	exch     ExchangeType
	response bool
}

// errorOnly is a response that carries only notifications (at least one of
// them an error, or a COOKIE) and vendor IDs (RFC 7296 1.2, 2.6, 2.21).
var errorOnly = shape{
	counts:  map[PayloadType]bound{PayloadNotify: oneOrMo, PayloadVendorID: anyNum},
	refusal: refusalRequired,
}

// rules is the payload rule table: for each exchange and direction, the
// shapes a message may take. The message notation of RFC 7296 1.2-1.5 is
// quoted above each entry.
var rules = map[ruleKey][]shape{
	// HDR, SAi1, KEi, Ni  -->   (RFC 7296 1.2; N(COOKIE) on a retry, 2.6)
	{IKESAInit, false}: {{
		counts: map[PayloadType]bound{
			PayloadSA: one, PayloadKE: one, PayloadNonce: one,
			PayloadNotify: anyNum, PayloadVendorID: anyNum, PayloadCERTREQ: anyNum,
		},
	}},
	// <--  HDR, SAr1, KEr, Nr, [CERTREQ]
	// <--  HDR, N(COOKIE) | N(INVALID_KE_PAYLOAD) | N(NO_PROPOSAL_CHOSEN) ...
	{IKESAInit, true}: {{
		counts: map[PayloadType]bound{
			PayloadSA: one, PayloadKE: one, PayloadNonce: one,
			PayloadNotify: anyNum, PayloadVendorID: anyNum, PayloadCERTREQ: anyNum,
		},
		refusal: refusalForbidden,
	}, errorOnly},
	// HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, [CP,] SAi2, TSi, TSr}  -->
	// (RFC 7296 1.2; SAi2, TSi, TSr absent for a childless IKE SA, RFC 6023)
	{IKEAuth, false}: {{
		counts: map[PayloadType]bound{
			PayloadIDi: one, PayloadAUTH: one, PayloadIDr: opt,
			PayloadCERT: anyNum, PayloadCERTREQ: anyNum, PayloadCP: opt,
			PayloadSA: opt, PayloadTSi: opt, PayloadTSr: opt,
			PayloadNotify: anyNum, PayloadVendorID: anyNum,
		},
		together: [][]PayloadType{{PayloadSA, PayloadTSi, PayloadTSr}},
	}},
	// <--  HDR, SK {IDr, [CERT,] AUTH, [CP,] SAr2, TSi, TSr}
	// <--  HDR, SK {IDr, [CERT,] AUTH, N(error)}   (Child SA refused, 2.21.2)
	// <--  HDR, SK {N(AUTHENTICATION_FAILED)}
	{IKEAuth, true}: {{
		counts: map[PayloadType]bound{
			PayloadIDr: one, PayloadAUTH: one, PayloadCERT: anyNum, PayloadCP: opt,
			PayloadSA: opt, PayloadTSi: opt, PayloadTSr: opt,
			PayloadNotify: anyNum, PayloadVendorID: anyNum,
		},
		together: [][]PayloadType{{PayloadSA, PayloadTSi, PayloadTSr}},
	}, errorOnly},
	// HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->   (Child SA, RFC 7296 1.3.1)
	// HDR, SK {SA, Ni, KEi}  -->               (IKE SA rekey, 1.3.2)
	{CreateChildSA, false}: {{
		counts: map[PayloadType]bound{
			PayloadSA: one, PayloadNonce: one, PayloadKE: opt,
			PayloadTSi: opt, PayloadTSr: opt,
			PayloadNotify: anyNum, PayloadVendorID: anyNum,
		},
		together: [][]PayloadType{{PayloadTSi, PayloadTSr}},
	}},
	// <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
	// <--  HDR, SK {N(NO_PROPOSAL_CHOSEN)} ...
	{CreateChildSA, true}: {{
		counts: map[PayloadType]bound{
			PayloadSA: one, PayloadNonce: one, PayloadKE: opt,
			PayloadTSi: opt, PayloadTSr: opt,
			PayloadNotify: anyNum, PayloadVendorID: anyNum,
		},
		together: [][]PayloadType{{PayloadTSi, PayloadTSr}},
		refusal:  refusalForbidden,
	}, errorOnly},
	// HDR, SK {KEi(n)}  -->  and  <--  HDR, SK {KEr(n)}   (RFC 9370 2.2.1);
	// other uses of IKE_INTERMEDIATE (RFC 9242) carry notifies only.
	{IKEIntermediate, false}: {{
		counts: map[PayloadType]bound{PayloadKE: opt, PayloadNotify: anyNum, PayloadVendorID: anyNum},
	}},
	{IKEIntermediate, true}: {{
		counts:  map[PayloadType]bound{PayloadKE: opt, PayloadNotify: anyNum, PayloadVendorID: anyNum},
		refusal: refusalForbidden,
	}, errorOnly},
	// HDR, SK {[N,] [D,] [CP,] ...}  -->   (RFC 7296 1.4, 1.5)
	{Informational, false}: {informational},
	{Informational, true}:  {informational},
}

var informational = shape{
	counts: map[PayloadType]bound{
		PayloadNotify: anyNum, PayloadDelete: anyNum, PayloadCP: opt, PayloadVendorID: anyNum,
	},
}

// Verify enforces the per-exchange payload rule table (which payloads must,
// may, must not appear and how often) for exch, request or response, on the
// payloads that the engine will act on (for IKE_SA_INIT the cleartext
// payloads; for the others the decrypted inner payloads). Responses that
// carry an error notify (NotifyType.IsError) or a COOKIE / INVALID_KE_PAYLOAD
// need not carry the otherwise required payloads; an IKE_SA_INIT or
// CREATE_CHILD_SA response that carries one must carry only notifications
// and vendor IDs. Payloads of types this package does not know (*Unknown,
// RFC 7296 2.5) are ignored. Errors wrap ErrPayloadRules and name the
// exchange and the payload.
func Verify(exch ExchangeType, response bool, ps []Payload) error {
	dir := "request"
	if response {
		dir = "response"
	}
	shapes, ok := rules[ruleKey{exch, response}]
	if !ok {
		return fmt.Errorf("ike: %v %s: no payload rules for this exchange: %w", exch, dir, ErrPayloadRules)
	}
	counts := make(map[PayloadType]int)
	refused := false
	for i, p := range ps {
		if p == nil {
			return fmt.Errorf("ike: %v %s: payload %d is nil: %w", exch, dir, i, ErrPayloadRules)
		}
		t := p.Type()
		if !t.known() {
			continue
		}
		counts[t]++
		if n, ok := p.(*Notify); ok && (n.NotifyType.IsError() || n.NotifyType == NotifyCookie) {
			refused = true
		}
	}
	// Report the violation of the shape that comes closest.
	var best string
	bestN := -1
	for _, s := range shapes {
		if (s.refusal == refusalRequired && !refused) || (s.refusal == refusalForbidden && refused) {
			continue
		}
		msgs := s.check(counts)
		if len(msgs) == 0 {
			return nil
		}
		if bestN < 0 || len(msgs) < bestN {
			best, bestN = msgs[0], len(msgs)
		}
	}
	return fmt.Errorf("ike: %v %s: %s: %w", exch, dir, best, ErrPayloadRules)
}

// check returns the violations of s by a message with these payload counts,
// the worst first (unexpected, then missing, then too many).
func (s shape) check(counts map[PayloadType]int) []string {
	var unexpected, missing, other []string
	for _, t := range sortedTypes(counts) {
		n := counts[t]
		b, ok := s.counts[t]
		switch {
		case !ok:
			unexpected = append(unexpected, fmt.Sprintf("unexpected %v payload", t))
		case n > b.max:
			other = append(other, fmt.Sprintf("%d %v payloads, at most %d allowed", n, t, b.max))
		}
	}
	for _, t := range sortedTypes(s.counts) {
		if b := s.counts[t]; counts[t] < b.min {
			missing = append(missing, fmt.Sprintf("missing %v payload", t))
		}
	}
	for _, set := range s.together {
		present := 0
		for _, t := range set {
			if counts[t] > 0 {
				present++
			}
		}
		if present != 0 && present != len(set) {
			names := make([]string, len(set))
			for i, t := range set {
				names[i] = t.String()
			}
			other = append(other, fmt.Sprintf("%s payloads must appear together or not at all", strings.Join(names, ", ")))
		}
	}
	return append(append(unexpected, missing...), other...)
}

// sortedTypes returns the keys of m in increasing order (for stable errors).
func sortedTypes[V any](m map[PayloadType]V) []PayloadType {
	return slices.Sorted(maps.Keys(m))
}
