package suite

import (
	"fmt"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// espKeywords are strongSwan's proposal keywords (proposal_keywords_static.txt)
// that this build implements for ESP only: NULL encryption and AES-GMAC,
// which protect no IKE SA (RFC 7296 5, RFC 4543).
var espKeywords = func() map[string]keyword {
	m := map[string]keyword{
		"null": {ike.TransformENCR, ike.EncrNull, 0},
	}
	for _, bits := range []uint16{128, 192, 256} {
		m[fmt.Sprintf("aes%dgmac", bits)] = keyword{ike.TransformENCR, ike.EncrNullAuthAESGMAC, bits}
	}
	return m
}()

// checkPairing enforces what an IKE or ESP proposal must pair (RFC 7296
// 3.3, RFC 4303 3.2, 5): a combined-mode (AEAD) algorithm takes no
// integrity algorithm; every other one, NULL included, needs one. Since an
// integrity transform applies to every ENCR transform of the proposal,
// AEADs and the others cannot share one proposal.
func checkPairing(proto ike.ProtocolID, s string, encrs, integs []ike.Transform) error {
	for _, t := range encrs {
		switch {
		case isCombined(t.ID) && len(integs) > 0:
			return fmt.Errorf("%v proposal %q: combined-mode %s takes no integrity algorithm (RFC 7296 3.3); put AEADs in a proposal of their own",
				proto, s, describeTransform(t))
		case t.ID == ike.EncrNull && len(integs) == 0:
			return fmt.Errorf("%v proposal %q: NULL encryption without an integrity algorithm protects nothing (RFC 4303 5; add e.g. sha256)", proto, s)
		case !isCombined(t.ID) && len(integs) == 0:
			return fmt.Errorf("%v proposal %q: %s needs an integrity algorithm (add e.g. sha256)", proto, s, describeTransform(t))
		}
	}
	return nil
}

// IKEProposalWarnings returns notes on the algorithms of an IKE proposal
// that are allowed but discouraged (RFC 8247 3), for the caller to log,
// e.g. "3DES is deprecated (RFC 8247)". It returns nil when there is
// nothing to say.
func IKEProposalWarnings(p ike.Proposal) []string {
	var w []string
	for _, t := range p.Transforms {
		switch {
		case t.Type == ike.TransformENCR && t.ID == ike.Encr3DES:
			w = append(w, "3DES is deprecated (RFC 8247 3.1)")
		case t.Type == ike.TransformINTEG && t.ID == ike.IntegHMACSHA1_96:
			w = append(w, "HMAC-SHA1-96 is deprecated (RFC 8247 3.3)")
		case t.Type == ike.TransformPRF && t.ID == ike.PRFHMACSHA1:
			w = append(w, "PRF-HMAC-SHA1 is deprecated (RFC 8247 3.2)")
		}
	}
	return w
}

// ESPProposalWarnings returns notes on the algorithms of an ESP proposal
// that are allowed but discouraged (RFC 8221), for the caller to log, e.g.
// "3DES is deprecated (RFC 8221)". It returns nil when there is nothing to
// say.
func ESPProposalWarnings(p ike.Proposal) []string {
	var w []string
	for _, t := range p.Get(ike.TransformENCR) {
		switch t.ID {
		case ike.Encr3DES:
			w = append(w, "3DES is deprecated (RFC 8221)")
		case ike.EncrNull:
			w = append(w, "NULL encryption gives no confidentiality (RFC 2410)")
		}
	}
	return w
}

// ESPTransformFor returns the single encryption transform (ID and key
// length attribute) and integrity transform (ike.IntegNone if there is
// none) of a negotiated ESP proposal, as NewESPTransform and ESPKeymatLen
// take them. It fails if the proposal does not carry exactly one ENCR and
// at most one INTEG transform, or names a combination this build cannot
// do (wrapping ErrUnsupported).
func ESPTransformFor(p ike.Proposal) (encrID uint16, keyBits int, integID uint16, err error) {
	if p.Protocol != ike.ProtoESP {
		return 0, 0, 0, fmt.Errorf("suite: proposal for protocol %d, not ESP", p.Protocol)
	}
	encrs, integs := p.Get(ike.TransformENCR), p.Get(ike.TransformINTEG)
	if len(encrs) != 1 {
		return 0, 0, 0, fmt.Errorf("suite: negotiated ESP proposal %q has %d encryption transforms, want 1", Describe(p), len(encrs))
	}
	if len(integs) > 1 {
		return 0, 0, 0, fmt.Errorf("suite: negotiated ESP proposal %q has %d integrity transforms, want at most 1", Describe(p), len(integs))
	}
	encrID, keyBits, integID = encrs[0].ID, int(encrs[0].KeyLength), ike.IntegNone
	if len(integs) == 1 {
		integID = integs[0].ID
	}
	if _, _, err := ESPKeymatLen(encrID, keyBits, integID); err != nil {
		return 0, 0, 0, err
	}
	return encrID, keyBits, integID, nil
}
