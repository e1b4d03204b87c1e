package suite

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// Errors for proposal keywords, wrapped with the keyword: errors.Is tells
// a keyword strongSwan knows but this build does not implement from one
// that is not a keyword at all. Their text reads
// `unsupported algorithm "sha256"` and `unknown algorithm "foo"`.
var (
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	ErrUnknownAlgorithm     = errors.New("unknown algorithm")
)

// The default proposals (swanctl.conf "default"): AEADs only, as that is
// all this build implements, in the order of preference of RFC 8247 and
// RFC 8221.
const (
	defaultIKE = "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-x25519-ecp256-ecp384-modp2048"
	defaultESP = "aes256gcm16-aes128gcm16-chacha20poly1305"
)

// keyword is what a supported strongSwan proposal keyword stands for.
type keyword struct {
	typ     ike.TransformType
	id      uint16
	keyBits uint16
}

// keywords are strongSwan's proposal keywords that this build implements
// for IKE and ESP, spelled as in strongSwan's proposal_keywords_static.txt;
// espKeywords (proposal_esp.go) are those for ESP only.
var keywords = func() map[string]keyword {
	m := map[string]keyword{
		"chacha20poly1305": {ike.TransformENCR, ike.EncrChaCha20Poly1305, 0}, // RFC 7634: no key length attribute
		"prfsha1":          {ike.TransformPRF, ike.PRFHMACSHA1, 0},
		"prfsha256":        {ike.TransformPRF, ike.PRFHMACSHA256, 0},
		"prfsha384":        {ike.TransformPRF, ike.PRFHMACSHA384, 0},
		"prfsha512":        {ike.TransformPRF, ike.PRFHMACSHA512, 0},
		"modp2048":         {ike.TransformKE, ike.GroupMODP2048, 0},
		"ecp256":           {ike.TransformKE, ike.GroupECP256, 0},
		"ecp384":           {ike.TransformKE, ike.GroupECP384, 0},
		"curve25519":       {ike.TransformKE, ike.GroupCurve25519, 0},
		"x25519":           {ike.TransformKE, ike.GroupCurve25519, 0},
		"noesn":            {ike.TransformESN, ike.ESNNone, 0},
		"esn":              {ike.TransformESN, ike.ESNYes, 0},
	}
	// aes<bits>gcm<icv>: the ICV in octets (8, 12, 16) or bits (64, 96,
	// 128); plain aes<bits>gcm means a 16-octet ICV.
	for _, bits := range []uint16{128, 192, 256} {
		for suffix, id := range map[string]uint16{
			"8": ike.EncrAESGCM8, "64": ike.EncrAESGCM8,
			"12": ike.EncrAESGCM12, "96": ike.EncrAESGCM12,
			"16": ike.EncrAESGCM16, "128": ike.EncrAESGCM16, "": ike.EncrAESGCM16,
		} {
			m[fmt.Sprintf("aes%dgcm%s", bits, suffix)] = keyword{ike.TransformENCR, id, bits}
		}
	}
	return m
}()

// unsupportedKeywords are the other keywords strongSwan accepts (up to 6.x):
// configurations that use them are valid strongSwan, but this build cannot
// negotiate what they name.
var unsupportedKeywords = func() map[string]bool {
	list := strings.Fields(`
		des chacha20poly1305compat
		blowfish blowfish128 blowfish192 blowfish256 cast128
		camellia camellia128 camellia192 camellia256 camellia128ctr camellia192ctr camellia256ctr
		serpent serpent128 serpent192 serpent256 twofish twofish128 twofish192 twofish256
		sha1_160 sha256_96 sha2_256_96 md5 md5_128 camelliaxcbc aescmac
		prfmd5 prfaesxcbc prfcamelliaxcbc prfaescmac
		none modpnone modpnull modp768 modp1024 modp1536 modp3072 modp4096 modp6144 modp8192
		ecp192 ecp224 ecp521 modp1024s160 modp2048s224 modp2048s256
		ecp224bp ecp256bp ecp384bp ecp512bp curve448 x448
		mlkem512 mlkem768 mlkem1024
		ntru112 ntru128 ntru192 ntru256 newhope128 kyber1 kyber3 kyber5
		ntrup1 ntrup3 ntrup5 ntrur3 saber1 saber3 saber5 bike1 bike3 bike5
		frodoa1 frodoa3 frodoa5 frodos1 frodos3 frodos5 hqc1 hqc3 hqc5 sike1 sike2 sike3 sike5`)
	m := make(map[string]bool, len(list)+64)
	for _, w := range list {
		m[w] = true
	}
	for _, bits := range []string{"128", "192", "256"} {
		for _, icv := range []string{"8", "64", "12", "96", "16", "128"} {
			m["camellia"+bits+"ccm"+icv] = true
		}
	}
	return m
}()

// isKEKeyword reports whether w names a key exchange method for strongSwan.
func isKEKeyword(w string) bool {
	if k, ok := keywords[w]; ok {
		return k.typ == ike.TransformKE
	}
	if !unsupportedKeywords[w] {
		return false
	}
	for _, p := range []string{"modp", "ecp", "curve", "x448", "none", "mlkem", "ntru", "newhope", "kyber", "saber", "bike", "frodo", "hqc", "sike"} {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	return false
}

// lookup classifies one keyword of a proposal for proto.
func lookup(proto ike.ProtocolID, w string) (keyword, error) {
	if k, ok := keywords[w]; ok {
		return k, nil
	}
	if k, ok := espKeywords[w]; ok {
		if proto == ike.ProtoESP {
			return k, nil
		}
		return keyword{}, fmt.Errorf("%w %q for IKE (ESP only; the IKE SA uses AEADs)", ErrUnsupportedAlgorithm, w)
	}
	if unsupportedKeywords[w] {
		return keyword{}, fmt.Errorf("%w %q", ErrUnsupportedAlgorithm, w)
	}
	// ke1_ ... ke7_ prefix additional key exchanges (RFC 9370), which
	// this build does not do.
	if len(w) > 4 && w[:2] == "ke" && w[2] >= '1' && w[2] <= '7' && w[3] == '_' && isKEKeyword(w[4:]) {
		return keyword{}, fmt.Errorf("%w %q", ErrUnsupportedAlgorithm, w)
	}
	return keyword{}, fmt.Errorf("%w %q", ErrUnknownAlgorithm, w)
}

// ParseIKEProposal parses one IKE proposal in strongSwan's syntax
// (swanctl.conf connections.<conn>.proposals): keywords joined by "-", e.g.
// "aes256gcm16-prfsha256-x25519", or "default". An IKE proposal needs at
// least one encryption algorithm, a PRF (AEADs leave no integrity algorithm
// to derive one from, so "prfsha..." is required) and a key exchange method
// (RFC 7296 3.3.3). The result has Protocol ike.ProtoIKE and Number 1.
func ParseIKEProposal(s string) (ike.Proposal, error) {
	return parseProposal(ike.ProtoIKE, s)
}

// ParseESPProposal parses one ESP proposal (swanctl.conf
// children.<child>.esp_proposals), e.g. "aes256gcm16", "aes256gcm16-esn",
// "aes128-sha256" or "aes256gcm16-x25519" (a key exchange method asks for
// PFS). Besides the AEADs it takes AES-CBC (aes128, aes192, aes256, aes),
// AES-CTR (aes128ctr...), AES-CCM (aes128ccm16...), AES-GMAC
// (aes128gmac...), null and 3des, and the integrity algorithms sha1,
// sha256, sha384, sha512 (or sha2_256...) and aesxcbc. A combined-mode
// algorithm (GCM, CCM, GMAC, ChaCha20-Poly1305) takes no integrity
// algorithm, every other one needs one; ESPProposalWarnings notes the
// deprecated ones (3DES). Without "esn" the proposal carries ESN transform
// 0, no extended sequence numbers. PRF keywords are dropped, as strongSwan
// does. The result has Protocol ike.ProtoESP and Number 1.
func ParseESPProposal(s string) (ike.Proposal, error) {
	return parseProposal(ike.ProtoESP, s)
}

func parseProposal(proto ike.ProtocolID, s string) (ike.Proposal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ike.Proposal{}, errors.New("empty proposal")
	}
	if s == "default" {
		if proto == ike.ProtoIKE {
			return DefaultIKEProposals()[0], nil
		}
		return DefaultESPProposals()[0], nil
	}
	var byType [6][]ike.Transform // indexed by transform type 1..5
	for _, w := range strings.Split(s, "-") {
		w = strings.TrimSpace(w)
		if w == "" {
			return ike.Proposal{}, fmt.Errorf("empty algorithm in proposal %q", s)
		}
		if w == "default" {
			return ike.Proposal{}, fmt.Errorf("\"default\" must stand alone, not in proposal %q", s)
		}
		k, err := lookup(proto, w)
		if err != nil {
			return ike.Proposal{}, err
		}
		t := ike.Transform{Type: k.typ, ID: k.id, KeyLength: k.keyBits}
		if !slices.Contains(byType[k.typ], t) {
			byType[k.typ] = append(byType[k.typ], t)
		}
	}
	if len(byType[ike.TransformENCR]) == 0 {
		return ike.Proposal{}, fmt.Errorf("proposal %q has no encryption algorithm", s)
	}
	if proto == ike.ProtoIKE {
		if len(byType[ike.TransformPRF]) == 0 {
			return ike.Proposal{}, fmt.Errorf("IKE proposal %q has no PRF (add e.g. prfsha256)", s)
		}
		if len(byType[ike.TransformKE]) == 0 {
			return ike.Proposal{}, fmt.Errorf("IKE proposal %q has no key exchange method (add e.g. x25519)", s)
		}
		if len(byType[ike.TransformESN]) != 0 {
			return ike.Proposal{}, fmt.Errorf("IKE proposal %q: esn/noesn apply to ESP only", s)
		}
	} else {
		if err := checkESPProposal(s, byType[ike.TransformENCR], byType[ike.TransformINTEG]); err != nil {
			return ike.Proposal{}, err
		}
		byType[ike.TransformPRF] = nil
		if len(byType[ike.TransformESN]) == 0 {
			byType[ike.TransformESN] = []ike.Transform{{Type: ike.TransformESN, ID: ike.ESNNone}}
		}
	}
	p := ike.Proposal{Number: 1, Protocol: proto}
	for _, typ := range []ike.TransformType{ike.TransformENCR, ike.TransformPRF, ike.TransformINTEG, ike.TransformKE, ike.TransformESN} {
		p.Transforms = append(p.Transforms, byType[typ]...)
	}
	return p, nil
}

// DefaultIKEProposals returns the IKE proposals used when none are
// configured (or for "default"):
// aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-x25519-ecp256-ecp384-modp2048.
// Each call returns a fresh copy, numbered from 1.
func DefaultIKEProposals() []ike.Proposal { return []ike.Proposal{mustParse(ike.ProtoIKE, defaultIKE)} }

// DefaultESPProposals returns the ESP proposals used when none are
// configured: aes256gcm16-aes128gcm16-chacha20poly1305 without ESN or PFS.
func DefaultESPProposals() []ike.Proposal { return []ike.Proposal{mustParse(ike.ProtoESP, defaultESP)} }

func mustParse(proto ike.ProtocolID, s string) ike.Proposal {
	p, err := parseProposal(proto, s)
	if err != nil {
		panic("suite: bad default proposal: " + err.Error())
	}
	return p
}

// Describe renders a proposal with strongSwan's transform names joined by
// "/", e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519" for a selected
// IKE proposal or "AES_GCM_16_256" for ESP. The ESN transform is shown only
// when it asks for extended sequence numbers ("EXT_SEQ"). Transforms this
// package has no name for appear as UNKNOWN_<type>_<id>.
func Describe(p ike.Proposal) string {
	var b strings.Builder
	for _, t := range p.Transforms {
		if t.Type == ike.TransformESN && t.ID == ike.ESNNone {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(describeTransform(t))
	}
	return b.String()
}

func describeTransform(t ike.Transform) string {
	name := transformName(t.Type, t.ID)
	if t.KeyLength != 0 {
		name += fmt.Sprintf("_%d", t.KeyLength)
	}
	return name
}

// transformNames are strongSwan's names (its transform enum names) for the
// IANA IDs of RFC 7296 3.3.2 and later registrations.
var transformNames = map[ike.TransformType]map[uint16]string{
	ike.TransformENCR: {
		ike.Encr3DES: "3DES", ike.EncrNull: "NULL", ike.EncrAESCBC: "AES_CBC", ike.EncrAESCTR: "AES_CTR",
		14: "AES_CCM_8", 15: "AES_CCM_12", 16: "AES_CCM_16",
		ike.EncrAESGCM8: "AES_GCM_8", ike.EncrAESGCM12: "AES_GCM_12", ike.EncrAESGCM16: "AES_GCM_16",
		ike.EncrNullAuthAESGMAC: "NULL_AES_GMAC", ike.EncrChaCha20Poly1305: "CHACHA20_POLY1305",
	},
	ike.TransformPRF: {
		ike.PRFHMACSHA1: "PRF_HMAC_SHA1", ike.PRFAES128XCBC: "PRF_AES128_XCBC",
		ike.PRFHMACSHA256: "PRF_HMAC_SHA2_256", ike.PRFHMACSHA384: "PRF_HMAC_SHA2_384",
		ike.PRFHMACSHA512: "PRF_HMAC_SHA2_512", ike.PRFAES128CMAC: "PRF_AES128_CMAC",
	},
	ike.TransformINTEG: {
		ike.IntegNone: "NONE", ike.IntegHMACSHA1_96: "HMAC_SHA1_96", ike.IntegAESXCBC96: "AES_XCBC_96",
		ike.IntegHMACSHA256_128: "HMAC_SHA2_256_128", ike.IntegHMACSHA384_192: "HMAC_SHA2_384_192",
		ike.IntegHMACSHA512_256: "HMAC_SHA2_512_256", ike.IntegAESCMAC96: "AES_CMAC_96",
	},
	ike.TransformKE: {
		ike.GroupNone: "KE_NONE", 2: "MODP_1024", 5: "MODP_1536", ike.GroupMODP2048: "MODP_2048",
		ike.GroupMODP3072: "MODP_3072", ike.GroupMODP4096: "MODP_4096",
		ike.GroupMODP6144: "MODP_6144", ike.GroupMODP8192: "MODP_8192",
		ike.GroupMLKEM512: "ML_KEM_512", ike.GroupMLKEM768: "ML_KEM_768", ike.GroupMLKEM1024: "ML_KEM_1024",
		ike.GroupECP256: "ECP_256", ike.GroupECP384: "ECP_384", ike.GroupECP521: "ECP_521",
		ike.GroupCurve25519: "CURVE_25519", ike.GroupCurve448: "CURVE_448",
	},
	ike.TransformESN: {ike.ESNNone: "NO_EXT_SEQ", ike.ESNYes: "EXT_SEQ"},
}

func transformName(typ ike.TransformType, id uint16) string {
	if name, ok := transformNames[typ][id]; ok {
		return name
	}
	return fmt.Sprintf("UNKNOWN_%d_%d", typ, id)
}
