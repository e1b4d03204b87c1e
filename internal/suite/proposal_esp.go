package suite

import (
	"fmt"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// espKeywords are strongSwan's proposal keywords (proposal_keywords_static.txt)
// that this build implements for ESP only: the non-AEAD ciphers, AES-CCM
// and AES-GMAC, and the integrity algorithms. The IKE SA does AEADs only,
// so in IKE proposals they are unsupported.
var espKeywords = func() map[string]keyword {
	m := map[string]keyword{
		"null":     {ike.TransformENCR, ike.EncrNull, 0},
		"3des":     {ike.TransformENCR, ike.Encr3DES, 0},
		"aes":      {ike.TransformENCR, ike.EncrAESCBC, 128},
		"sha":      {ike.TransformINTEG, ike.IntegHMACSHA1_96, 0},
		"sha1":     {ike.TransformINTEG, ike.IntegHMACSHA1_96, 0},
		"sha256":   {ike.TransformINTEG, ike.IntegHMACSHA256_128, 0},
		"sha2_256": {ike.TransformINTEG, ike.IntegHMACSHA256_128, 0},
		"sha384":   {ike.TransformINTEG, ike.IntegHMACSHA384_192, 0},
		"sha2_384": {ike.TransformINTEG, ike.IntegHMACSHA384_192, 0},
		"sha512":   {ike.TransformINTEG, ike.IntegHMACSHA512_256, 0},
		"sha2_512": {ike.TransformINTEG, ike.IntegHMACSHA512_256, 0},
		"aesxcbc":  {ike.TransformINTEG, ike.IntegAESXCBC96, 0},
	}
	for _, bits := range []uint16{128, 192, 256} {
		m[fmt.Sprintf("aes%d", bits)] = keyword{ike.TransformENCR, ike.EncrAESCBC, bits}
		m[fmt.Sprintf("aes%dctr", bits)] = keyword{ike.TransformENCR, ike.EncrAESCTR, bits}
		m[fmt.Sprintf("aes%dgmac", bits)] = keyword{ike.TransformENCR, ike.EncrNullAuthAESGMAC, bits}
		// aes<bits>ccm<icv>: the ICV in octets or bits, as for GCM.
		for suffix, id := range map[string]uint16{
			"8": ike.EncrAESCCM8, "64": ike.EncrAESCCM8,
			"12": ike.EncrAESCCM12, "96": ike.EncrAESCCM12,
			"16": ike.EncrAESCCM16, "128": ike.EncrAESCCM16, "": ike.EncrAESCCM16,
		} {
			m[fmt.Sprintf("aes%dccm%s", bits, suffix)] = keyword{ike.TransformENCR, id, bits}
		}
	}
	return m
}()

// checkESPProposal enforces what an ESP proposal must pair (RFC 7296 3.3,
// RFC 4303 3.2, 5): a combined-mode (AEAD) algorithm takes no integrity
// algorithm; every other one, NULL included, needs one. Since an integrity
// transform applies to every ENCR transform of the proposal, AEADs and
// the others cannot share one proposal.
func checkESPProposal(s string, encrs, integs []ike.Transform) error {
	for _, t := range encrs {
		switch {
		case isCombined(t.ID) && len(integs) > 0:
			return fmt.Errorf("ESP proposal %q: combined-mode %s takes no integrity algorithm (RFC 7296 3.3); put AEADs in a proposal of their own",
				s, describeTransform(t))
		case t.ID == ike.EncrNull && len(integs) == 0:
			return fmt.Errorf("ESP proposal %q: NULL encryption without an integrity algorithm protects nothing (RFC 4303 5; add e.g. sha256)", s)
		case !isCombined(t.ID) && len(integs) == 0:
			return fmt.Errorf("ESP proposal %q: %s needs an integrity algorithm (add e.g. sha256)", s, describeTransform(t))
		}
	}
	return nil
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
