package suite

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

func encr(id uint16, bits uint16) ike.Transform {
	return ike.Transform{Type: ike.TransformENCR, ID: id, KeyLength: bits}
}
func prfT(id uint16) ike.Transform { return ike.Transform{Type: ike.TransformPRF, ID: id} }
func keT(id uint16) ike.Transform  { return ike.Transform{Type: ike.TransformKE, ID: id} }
func esnT(id uint16) ike.Transform { return ike.Transform{Type: ike.TransformESN, ID: id} }
func integT(id uint16) ike.Transform {
	return ike.Transform{Type: ike.TransformINTEG, ID: id}
}

func TestParseIKEProposal(t *testing.T) {
	cases := []struct {
		in   string
		want []ike.Transform
		desc string
	}{
		{"aes256gcm16-prfsha256-x25519",
			[]ike.Transform{encr(ike.EncrAESGCM16, 256), prfT(ike.PRFHMACSHA256), keT(ike.GroupCurve25519)},
			"AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"},
		// Order within a type is kept; types are sorted ENCR, PRF, KE.
		{"x25519-aes128gcm16-prfsha384-aes256gcm128-ecp256-prfsha256",
			[]ike.Transform{encr(ike.EncrAESGCM16, 128), encr(ike.EncrAESGCM16, 256), prfT(ike.PRFHMACSHA384), prfT(ike.PRFHMACSHA256), keT(ike.GroupCurve25519), keT(ike.GroupECP256)},
			"AES_GCM_16_128/AES_GCM_16_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_256/CURVE_25519/ECP_256"},
		{"aes128gcm8-aes192gcm64-aes256gcm12-aes128gcm96-aes192gcm-prfsha1-prfsha512-modp2048-ecp384-curve25519",
			[]ike.Transform{encr(ike.EncrAESGCM8, 128), encr(ike.EncrAESGCM8, 192), encr(ike.EncrAESGCM12, 256), encr(ike.EncrAESGCM12, 128), encr(ike.EncrAESGCM16, 192),
				prfT(ike.PRFHMACSHA1), prfT(ike.PRFHMACSHA512), keT(ike.GroupMODP2048), keT(ike.GroupECP384), keT(ike.GroupCurve25519)},
			"AES_GCM_8_128/AES_GCM_8_192/AES_GCM_12_256/AES_GCM_12_128/AES_GCM_16_192/PRF_HMAC_SHA1/PRF_HMAC_SHA2_512/MODP_2048/ECP_384/CURVE_25519"},
		// chacha20poly1305 carries no key length attribute (RFC 7634 2).
		{"chacha20poly1305-prfsha256-curve25519",
			[]ike.Transform{encr(ike.EncrChaCha20Poly1305, 0), prfT(ike.PRFHMACSHA256), keT(ike.GroupCurve25519)},
			"CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519"},
		// Ciphers with integrity: without a PRF keyword the PRFs follow
		// the integrity algorithms, as in strongSwan.
		{"aes256-sha256-modp3072",
			[]ike.Transform{encr(ike.EncrAESCBC, 256), prfT(ike.PRFHMACSHA256), integT(ike.IntegHMACSHA256_128), keT(ike.GroupMODP3072)},
			"AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_3072"},
		{"aes128ctr-sha384-ecp521",
			[]ike.Transform{encr(ike.EncrAESCTR, 128), prfT(ike.PRFHMACSHA384), integT(ike.IntegHMACSHA384_192), keT(ike.GroupECP521)},
			"AES_CTR_128/PRF_HMAC_SHA2_384/HMAC_SHA2_384_192/ECP_521"},
		{"aes192-aes128-sha512-aesxcbc-aescmac-sha1-modp4096-modp6144-modp8192",
			[]ike.Transform{encr(ike.EncrAESCBC, 192), encr(ike.EncrAESCBC, 128),
				prfT(ike.PRFHMACSHA512), prfT(ike.PRFAES128XCBC), prfT(ike.PRFAES128CMAC), prfT(ike.PRFHMACSHA1),
				integT(ike.IntegHMACSHA512_256), integT(ike.IntegAESXCBC96), integT(ike.IntegAESCMAC96), integT(ike.IntegHMACSHA1_96),
				keT(ike.GroupMODP4096), keT(ike.GroupMODP6144), keT(ike.GroupMODP8192)},
			"AES_CBC_192/AES_CBC_128/PRF_HMAC_SHA2_512/PRF_AES128_XCBC/PRF_AES128_CMAC/PRF_HMAC_SHA1/HMAC_SHA2_512_256/AES_XCBC_96/AES_CMAC_96/HMAC_SHA1_96/MODP_4096/MODP_6144/MODP_8192"},
		// An explicit PRF wins.
		{"aes256-sha512-prfsha512-modp4096",
			[]ike.Transform{encr(ike.EncrAESCBC, 256), prfT(ike.PRFHMACSHA512), integT(ike.IntegHMACSHA512_256), keT(ike.GroupMODP4096)},
			"AES_CBC_256/PRF_HMAC_SHA2_512/HMAC_SHA2_512_256/MODP_4096"},
		{"aes128ccm16-prfaescmac-ecp384",
			[]ike.Transform{encr(ike.EncrAESCCM16, 128), prfT(ike.PRFAES128CMAC), keT(ike.GroupECP384)},
			"AES_CCM_16_128/PRF_AES128_CMAC/ECP_384"},
		{"aes256gcm12-prfaesxcbc-x25519",
			[]ike.Transform{encr(ike.EncrAESGCM12, 256), prfT(ike.PRFAES128XCBC), keT(ike.GroupCurve25519)},
			"AES_GCM_12_256/PRF_AES128_XCBC/CURVE_25519"},
		{"3des-sha256-modp2048",
			[]ike.Transform{encr(ike.Encr3DES, 0), prfT(ike.PRFHMACSHA256), integT(ike.IntegHMACSHA256_128), keT(ike.GroupMODP2048)},
			"3DES/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048"},
		// x25519 and curve25519 are the same group; duplicates collapse.
		{" aes256gcm16 - prfsha256-x25519-curve25519 ",
			[]ike.Transform{encr(ike.EncrAESGCM16, 256), prfT(ike.PRFHMACSHA256), keT(ike.GroupCurve25519)},
			"AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"},
	}
	for _, c := range cases {
		p, err := ParseIKEProposal(c.in)
		if err != nil {
			t.Errorf("ParseIKEProposal(%q): %v", c.in, err)
			continue
		}
		want := ike.Proposal{Number: 1, Protocol: ike.ProtoIKE, Transforms: c.want}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("ParseIKEProposal(%q)\n got %+v\nwant %+v", c.in, p, want)
		}
		if got := Describe(p); got != c.desc {
			t.Errorf("Describe(%q) = %q, want %q", c.in, got, c.desc)
		}
	}
}

func TestParseESPProposal(t *testing.T) {
	noESN, withESN := esnT(ike.ESNNone), esnT(ike.ESNYes)
	cases := []struct {
		in   string
		want []ike.Transform
		desc string
	}{
		{"aes256gcm16", []ike.Transform{encr(ike.EncrAESGCM16, 256), noESN}, "AES_GCM_16_256"},
		{"aes256gcm16-esn", []ike.Transform{encr(ike.EncrAESGCM16, 256), withESN}, "AES_GCM_16_256/EXT_SEQ"},
		{"aes256gcm16-noesn", []ike.Transform{encr(ike.EncrAESGCM16, 256), noESN}, "AES_GCM_16_256"},
		{"aes256gcm16-esn-noesn", []ike.Transform{encr(ike.EncrAESGCM16, 256), withESN, noESN}, "AES_GCM_16_256/EXT_SEQ"},
		{"aes256gcm16-x25519", []ike.Transform{encr(ike.EncrAESGCM16, 256), keT(ike.GroupCurve25519), noESN}, "AES_GCM_16_256/CURVE_25519"},
		{"chacha20poly1305", []ike.Transform{encr(ike.EncrChaCha20Poly1305, 0), noESN}, "CHACHA20_POLY1305"},
		{"aes128gcm12-aes192gcm8", []ike.Transform{encr(ike.EncrAESGCM12, 128), encr(ike.EncrAESGCM8, 192), noESN}, "AES_GCM_12_128/AES_GCM_8_192"},
		// strongSwan drops PRFs from ESP proposals.
		{"aes128gcm16-prfsha256", []ike.Transform{encr(ike.EncrAESGCM16, 128), noESN}, "AES_GCM_16_128"},
		// Ciphers with a separate integrity algorithm; types are sorted
		// ENCR, INTEG, KE, ESN.
		{"sha256-aes128", []ike.Transform{encr(ike.EncrAESCBC, 128), integT(ike.IntegHMACSHA256_128), noESN}, "AES_CBC_128/HMAC_SHA2_256_128"},
		{"aes-sha", []ike.Transform{encr(ike.EncrAESCBC, 128), integT(ike.IntegHMACSHA1_96), noESN}, "AES_CBC_128/HMAC_SHA1_96"},
		{"aes256-aes192-sha512-sha2_384-sha2_256-sha1-aesxcbc-ecp256-esn",
			[]ike.Transform{encr(ike.EncrAESCBC, 256), encr(ike.EncrAESCBC, 192), integT(ike.IntegHMACSHA512_256), integT(ike.IntegHMACSHA384_192),
				integT(ike.IntegHMACSHA256_128), integT(ike.IntegHMACSHA1_96), integT(ike.IntegAESXCBC96), keT(ike.GroupECP256), withESN},
			"AES_CBC_256/AES_CBC_192/HMAC_SHA2_512_256/HMAC_SHA2_384_192/HMAC_SHA2_256_128/HMAC_SHA1_96/AES_XCBC_96/ECP_256/EXT_SEQ"},
		{"aes128ctr-aes192ctr-aes256ctr-sha384", []ike.Transform{encr(ike.EncrAESCTR, 128), encr(ike.EncrAESCTR, 192), encr(ike.EncrAESCTR, 256), integT(ike.IntegHMACSHA384_192), noESN},
			"AES_CTR_128/AES_CTR_192/AES_CTR_256/HMAC_SHA2_384_192"},
		{"aes128ccm8-aes192ccm64-aes256ccm12-aes128ccm96-aes192ccm16-aes256ccm128-aes128ccm",
			[]ike.Transform{encr(ike.EncrAESCCM8, 128), encr(ike.EncrAESCCM8, 192), encr(ike.EncrAESCCM12, 256), encr(ike.EncrAESCCM12, 128),
				encr(ike.EncrAESCCM16, 192), encr(ike.EncrAESCCM16, 256), encr(ike.EncrAESCCM16, 128), noESN},
			"AES_CCM_8_128/AES_CCM_8_192/AES_CCM_12_256/AES_CCM_12_128/AES_CCM_16_192/AES_CCM_16_256/AES_CCM_16_128"},
		{"aes128gmac-aes192gmac-aes256gmac", []ike.Transform{encr(ike.EncrNullAuthAESGMAC, 128), encr(ike.EncrNullAuthAESGMAC, 192), encr(ike.EncrNullAuthAESGMAC, 256), noESN},
			"NULL_AES_GMAC_128/NULL_AES_GMAC_192/NULL_AES_GMAC_256"},
		{"null-sha256", []ike.Transform{encr(ike.EncrNull, 0), integT(ike.IntegHMACSHA256_128), noESN}, "NULL/HMAC_SHA2_256_128"},
		{"3des-sha1", []ike.Transform{encr(ike.Encr3DES, 0), integT(ike.IntegHMACSHA1_96), noESN}, "3DES/HMAC_SHA1_96"},
		// AEADs mixed with each other are fine.
		{"aes256gcm16-aes128ccm16-aes128gmac-chacha20poly1305", []ike.Transform{encr(ike.EncrAESGCM16, 256), encr(ike.EncrAESCCM16, 128),
			encr(ike.EncrNullAuthAESGMAC, 128), encr(ike.EncrChaCha20Poly1305, 0), noESN},
			"AES_GCM_16_256/AES_CCM_16_128/NULL_AES_GMAC_128/CHACHA20_POLY1305"},
	}
	for _, c := range cases {
		p, err := ParseESPProposal(c.in)
		if err != nil {
			t.Errorf("ParseESPProposal(%q): %v", c.in, err)
			continue
		}
		want := ike.Proposal{Number: 1, Protocol: ike.ProtoESP, Transforms: c.want}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("ParseESPProposal(%q)\n got %+v\nwant %+v", c.in, p, want)
		}
		if got := Describe(p); got != c.desc {
			t.Errorf("Describe(%q) = %q, want %q", c.in, got, c.desc)
		}
		// Every pairing the proposal offers can be keyed.
		integs := p.Get(ike.TransformINTEG)
		if len(integs) == 0 {
			integs = []ike.Transform{integT(ike.IntegNone)}
		}
		for _, e := range p.Get(ike.TransformENCR) {
			for _, i := range integs {
				if _, _, err := ESPKeymatLen(e.ID, int(e.KeyLength), i.ID); err != nil {
					t.Errorf("ParseESPProposal(%q): %s/%s: %v", c.in, describeTransform(e), describeTransform(i), err)
				}
			}
		}
	}
}

func TestParseProposalErrors(t *testing.T) {
	cases := []struct {
		esp      bool
		in       string
		sentinel error  // nil: a structural error
		msg      string // substring of the message
	}{
		{false, "aes256gcm16-prfsha256-modp1024", ErrUnsupportedAlgorithm, `unsupported algorithm "modp1024"`},
		{true, "aes256gcm16-x25519-ke1_mlkem768", ErrNotYetSupported, `additional key exchange "ke1_mlkem768" for a Child SA (RFC 9370 2.2.4, IKE_FOLLOWUP_KE) is not supported yet`},
		{false, "aes256gcm16-prfsha256-x25519-ke1_kyber3", ErrUnsupportedAlgorithm, `unsupported algorithm "ke1_kyber3"`},
		{false, "aes256gcm16-prfsha256-x25519-ke2_ecp224", ErrUnsupportedAlgorithm, `unsupported algorithm "ke2_ecp224"`},
		{false, "camellia256ccm96-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "camellia256ccm96"`},
		{true, "aes256gcm16-modpnone", ErrUnsupportedAlgorithm, `unsupported algorithm "modpnone"`},
		{true, "chacha20poly1305compat", ErrUnsupportedAlgorithm, `unsupported algorithm "chacha20poly1305compat"`},
		{false, "aes128gmac-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "aes128gmac" for IKE (ESP only)`},
		{false, "null-sha256-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "null" for IKE (ESP only)`},
		{false, "aes256-sha256-ecp256bp", ErrUnsupportedAlgorithm, `unsupported algorithm "ecp256bp"`},
		// IKE pairing rules (RFC 7296 3.3).
		{false, "aes256gcm16-sha256-prfsha256-x25519", nil, `IKE proposal "aes256gcm16-sha256-prfsha256-x25519": combined-mode AES_GCM_16_256 takes no integrity algorithm`},
		{false, "aes256gcm16-aesxcbc-prfsha256-x25519", nil, "combined-mode AES_GCM_16_256 takes no integrity"},
		{false, "aes128ctr-prfsha256-x25519", nil, `IKE proposal "aes128ctr-prfsha256-x25519": AES_CTR_128 needs an integrity algorithm`},
		{false, "aes128-prfsha256-x25519", nil, "AES_CBC_128 needs an integrity algorithm"},
		{false, "aes256gcm16-aes256-sha256-prfsha256-x25519", nil, "combined-mode AES_GCM_16_256 takes no integrity"},
		{true, "aes128-md5", ErrUnsupportedAlgorithm, `unsupported algorithm "md5"`},
		{true, "aes128-sha256_96", ErrUnsupportedAlgorithm, `unsupported algorithm "sha256_96"`},
		{true, "aes128-sha1_160", ErrUnsupportedAlgorithm, `unsupported algorithm "sha1_160"`},
		{true, "des-sha256", ErrUnsupportedAlgorithm, `unsupported algorithm "des"`},
		{true, "camellia128-sha256", ErrUnsupportedAlgorithm, `unsupported algorithm "camellia128"`},
		{true, "camellia128ccm16", ErrUnsupportedAlgorithm, `unsupported algorithm "camellia128ccm16"`},
		// ESP pairing rules (RFC 7296 3.3, RFC 4303 3.2, 5).
		{true, "aes128", nil, `ESP proposal "aes128": AES_CBC_128 needs an integrity algorithm`},
		{true, "aes256ctr-esn", nil, `ESP proposal "aes256ctr-esn": AES_CTR_256 needs an integrity algorithm`},
		{true, "3des", nil, `ESP proposal "3des": 3DES needs an integrity algorithm`},
		{true, "null", nil, `ESP proposal "null": NULL encryption without an integrity algorithm`},
		{true, "aes256gcm16-sha256", nil, `ESP proposal "aes256gcm16-sha256": combined-mode AES_GCM_16_256 takes no integrity algorithm`},
		{true, "aes128ccm16-sha1", nil, "combined-mode AES_CCM_16_128 takes no integrity"},
		{true, "aes128gmac-sha256", nil, "combined-mode NULL_AES_GMAC_128 takes no integrity"},
		{true, "chacha20poly1305-aesxcbc", nil, "combined-mode CHACHA20_POLY1305 takes no integrity"},
		{true, "aes256gcm16-aes256", nil, "AES_CBC_256 needs an integrity algorithm"},
		{true, "aes256gcm16-aes256-sha256", nil, "combined-mode AES_GCM_16_256 takes no integrity"},
		{false, "foo", ErrUnknownAlgorithm, `unknown algorithm "foo"`},
		{false, "aes256gcm16-prfsha256-x25519-foo", ErrUnknownAlgorithm, `unknown algorithm "foo"`},
		{false, "aes999gcm16-prfsha256-x25519", ErrUnknownAlgorithm, `unknown algorithm "aes999gcm16"`},
		{false, "AES256GCM16-prfsha256-x25519", ErrUnknownAlgorithm, `unknown algorithm "AES256GCM16"`},
		{false, "aes256gcm16-prfsha256-ke8_x25519", ErrUnknownAlgorithm, `unknown algorithm "ke8_x25519"`},
		{false, "aes256gcm16-prfsha256-ke1_aes128", ErrUnknownAlgorithm, `unknown algorithm "ke1_aes128"`},
		{false, "aes256gcm16-prfsha256-ke0_x25519", ErrUnknownAlgorithm, `unknown algorithm "ke0_x25519"`},
		{true, "aes256gcm16,aes128gcm16", ErrUnknownAlgorithm, `unknown algorithm "aes256gcm16,aes128gcm16"`},
		// Structure (RFC 7296 3.3.3: an IKE proposal needs ENCR, PRF, KE).
		{false, "", nil, "empty proposal"},
		{true, "   ", nil, "empty proposal"},
		{false, "aes256gcm16--prfsha256-x25519", nil, "empty algorithm"},
		{false, "aes256gcm16-prfsha256-x25519-", nil, "empty algorithm"},
		{false, "aes256gcm16-x25519", nil, "no PRF"},
		{false, "aes256gcm16-prfsha256", nil, "no key exchange"},
		{false, "prfsha256-x25519", nil, "no encryption"},
		{true, "x25519", nil, "no encryption"},
		{true, "esn", nil, "no encryption"},
		{false, "aes256gcm16-prfsha256-x25519-esn", nil, "ESP only"},
		{false, "default-x25519", nil, "stand alone"},
	}
	for _, c := range cases {
		parse := ParseIKEProposal
		if c.esp {
			parse = ParseESPProposal
		}
		_, err := parse(c.in)
		if err == nil {
			t.Errorf("parse(%q) (esp %v) succeeded", c.in, c.esp)
			continue
		}
		if c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("parse(%q): %v is not %v", c.in, err, c.sentinel)
		}
		if c.sentinel == nil && (errors.Is(err, ErrUnknownAlgorithm) || errors.Is(err, ErrUnsupportedAlgorithm)) {
			t.Errorf("parse(%q): structural error %v wraps a keyword sentinel", c.in, err)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("parse(%q): error %q does not contain %q", c.in, err, c.msg)
		}
	}
}

func TestDefaultProposals(t *testing.T) {
	ikeP := DefaultIKEProposals()
	if len(ikeP) != 1 {
		t.Fatalf("%d IKE proposals", len(ikeP))
	}
	const wantIKE = "AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/PRF_HMAC_SHA2_256/PRF_HMAC_SHA2_384/CURVE_25519/ECP_256/ECP_384/MODP_2048"
	if got := Describe(ikeP[0]); got != wantIKE || ikeP[0].Protocol != ike.ProtoIKE || ikeP[0].Number != 1 {
		t.Errorf("default IKE proposal %+v: %q", ikeP[0], got)
	}
	espP := DefaultESPProposals()
	if len(espP) != 1 {
		t.Fatalf("%d ESP proposals", len(espP))
	}
	if got := Describe(espP[0]); got != "AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305" || espP[0].Protocol != ike.ProtoESP {
		t.Errorf("default ESP proposal %+v: %q", espP[0], got)
	}
	if esn := espP[0].Get(ike.TransformESN); len(esn) != 1 || esn[0].ID != ike.ESNNone {
		t.Errorf("default ESP proposal ESN transforms %+v", esn)
	}
	// "default" parses to the same thing, and every call returns a copy.
	if p, err := ParseIKEProposal("default"); err != nil || !reflect.DeepEqual(p, ikeP[0]) {
		t.Errorf(`ParseIKEProposal("default") = %+v, %v`, p, err)
	}
	if p, err := ParseESPProposal(" default "); err != nil || !reflect.DeepEqual(p, espP[0]) {
		t.Errorf(`ParseESPProposal("default") = %+v, %v`, p, err)
	}
	ikeP[0].Transforms[0].ID = 0
	if DefaultIKEProposals()[0].Transforms[0].ID != ike.EncrAESGCM16 {
		t.Error("DefaultIKEProposals shares its slices between calls")
	}
	// Everything in the defaults is implemented.
	for _, tr := range DefaultIKEProposals()[0].Transforms {
		checkImplemented(t, tr)
	}
	for _, tr := range DefaultESPProposals()[0].Transforms {
		checkImplemented(t, tr)
	}
}

func checkImplemented(t *testing.T, tr ike.Transform) {
	t.Helper()
	var err error
	switch tr.Type {
	case ike.TransformENCR:
		_, err = encrKeymatLen(tr.ID, int(tr.KeyLength))
	case ike.TransformINTEG:
		_, err = IntegKeyLen(tr.ID)
	case ike.TransformPRF:
		_, err = NewPRF(tr.ID)
	case ike.TransformKE:
		if !SupportedGroup(tr.ID) {
			err = ErrUnsupported
		}
	}
	if err != nil {
		t.Errorf("default transform %+v: %v", tr, err)
	}
}

// Every supported keyword names something this package implements: the
// shared ones for the IKE SA too, the ESP-only ones only for ESP.
func TestKeywordsImplemented(t *testing.T) {
	for w, k := range keywords {
		if unsupportedKeywords[w] {
			t.Errorf("%q is both supported and unsupported", w)
		}
		if _, ok := espKeywords[w]; ok {
			t.Errorf("%q is in both keywords and espKeywords", w)
		}
		checkImplemented(t, ike.Transform{Type: k.typ, ID: k.id, KeyLength: k.keyBits})
		var err error
		switch k.typ {
		case ike.TransformENCR:
			integ := ike.IntegHMACSHA256_128
			if isCombined(k.id) {
				integ = ike.IntegNone
			}
			_, _, err = SKKeymatLen(k.id, int(k.keyBits), integ)
		case ike.TransformINTEG:
			_, _, err = SKKeymatLen(ike.EncrAESCBC, 128, k.id)
			if _, ok := prfForInteg[k.id]; !ok {
				t.Errorf("IKE keyword %q: no PRF to derive", w)
			}
		}
		if err != nil {
			t.Errorf("IKE keyword %q: %v", w, err)
		}
	}
	for w, k := range espKeywords {
		if unsupportedKeywords[w] {
			t.Errorf("%q is both supported and unsupported", w)
		}
		if k.typ != ike.TransformENCR {
			t.Errorf("ESP keyword %q has type %v", w, k.typ)
		}
		checkImplemented(t, ike.Transform{Type: k.typ, ID: k.id, KeyLength: k.keyBits})
		if _, _, err := SKKeymatLen(k.id, int(k.keyBits), ike.IntegNone); err == nil {
			t.Errorf("ESP-only keyword %q can protect an IKE SA", w)
		}
	}
}

// The keywords strongSwan 6 knows for ciphers and integrity, split between
// what this build does for both, for ESP only, and what it refuses.
func TestKeywordCoverage(t *testing.T) {
	both := strings.Fields(`3des aes aes128 aes192 aes256 aes128ctr aes192ctr aes256ctr
		aes128ccm8 aes128ccm64 aes128ccm12 aes128ccm96 aes128ccm16 aes128ccm128 aes128ccm
		aes192ccm8 aes192ccm64 aes192ccm12 aes192ccm96 aes192ccm16 aes192ccm128 aes192ccm
		aes256ccm8 aes256ccm64 aes256ccm12 aes256ccm96 aes256ccm16 aes256ccm128 aes256ccm
		aes128gcm8 aes192gcm12 aes256gcm16 chacha20poly1305
		sha sha1 sha256 sha2_256 sha384 sha2_384 sha512 sha2_512 aesxcbc aescmac
		prfsha1 prfsha256 prfsha384 prfsha512 prfaesxcbc prfaescmac
		modp2048 modp3072 modp4096 modp6144 modp8192 ecp256 ecp384 ecp521 curve25519 x25519 curve448 x448
		mlkem512 mlkem768 mlkem1024`)
	for _, w := range both {
		for _, proto := range []ike.ProtocolID{ike.ProtoIKE, ike.ProtoESP} {
			if _, err := lookup(proto, w); err != nil {
				t.Errorf("%v keyword %q: %v", proto, w, err)
			}
		}
	}
	for _, w := range strings.Fields(`null aes128gmac aes192gmac aes256gmac`) {
		if _, err := lookup(ike.ProtoESP, w); err != nil {
			t.Errorf("ESP keyword %q: %v", w, err)
		}
		if _, err := lookup(ike.ProtoIKE, w); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("IKE keyword %q: %v, want ErrUnsupportedAlgorithm", w, err)
		}
	}
	for _, w := range strings.Fields(`des sha1_160 sha256_96 sha2_256_96 md5 md5_128 camelliaxcbc camellia128 camellia256ctr
		prfmd5 modp1024 modp1536 ecp224 ecp384bp kyber3 ke1_kyber3 ke3_modp1024`) {
		if _, err := lookup(ike.ProtoESP, w); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("ESP keyword %q: %v, want ErrUnsupportedAlgorithm", w, err)
		}
	}
	// ke1_ ... ke7_ name transform types 6 ... 12 (RFC 9370 2.2).
	for n := 1; n <= 7; n++ {
		k, err := lookup(ike.ProtoIKE, fmt.Sprintf("ke%d_mlkem768", n))
		if err != nil || k.typ != ike.TransformType(5+n) || k.id != ike.GroupMLKEM768 {
			t.Errorf("ke%d_mlkem768 = %+v, %v", n, k, err)
		}
	}
}

// TestParseAdditionalKE checks the RFC 9370 transforms parseProposal
// makes from ke1_ ... ke7_ keywords (ParseIKEProposal refuses them while
// the engine has no IKE_INTERMEDIATE).
func TestParseAdditionalKE(t *testing.T) {
	p, err := parseProposal(ike.ProtoIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_mlkem1024-ke3_ecp384")
	if err != nil {
		t.Fatal(err)
	}
	want := []ike.Transform{encr(ike.EncrAESGCM16, 256), prfT(ike.PRFHMACSHA384), keT(ike.GroupCurve25519),
		{Type: 6, ID: ike.GroupMLKEM768}, {Type: 6, ID: ike.GroupMLKEM1024}, {Type: 8, ID: ike.GroupECP384}}
	if !reflect.DeepEqual(p.Transforms, want) {
		t.Errorf("got %+v\nwant %+v", p.Transforms, want)
	}
	if got := Describe(p); got != "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768/KE1_ML_KEM_1024/KE3_ECP_384" {
		t.Errorf("Describe = %q", got)
	}
}

func TestIKEProposalWarnings(t *testing.T) {
	for in, want := range map[string][]string{
		"aes256gcm16-prfsha256-x25519": nil,
		"aes128-sha256-modp3072":       nil,
		"3des-sha256-modp2048":         {"3DES is deprecated (RFC 8247 3.1)"},
		"aes128-sha1-modp2048":         {"PRF-HMAC-SHA1 is deprecated (RFC 8247 3.2)", "HMAC-SHA1-96 is deprecated (RFC 8247 3.3)"},
	} {
		p, err := ParseIKEProposal(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := IKEProposalWarnings(p); !reflect.DeepEqual(got, want) {
			t.Errorf("IKEProposalWarnings(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestESPProposalWarnings(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"aes256gcm16", nil},
		{"aes128-sha256", nil},
		{"3des-sha1", []string{"3DES is deprecated (RFC 8221)"}},
		{"aes128-3des-sha256", []string{"3DES is deprecated (RFC 8221)"}},
		{"null-sha256", []string{"NULL encryption gives no confidentiality (RFC 2410)"}},
	}
	for _, c := range cases {
		p, err := ParseESPProposal(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ESPProposalWarnings(p); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ESPProposalWarnings(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestESPTransformFor(t *testing.T) {
	esp := func(ts ...ike.Transform) ike.Proposal {
		return ike.Proposal{Number: 1, Protocol: ike.ProtoESP, Transforms: append(ts, esnT(ike.ESNNone))}
	}
	ok := []struct {
		p       ike.Proposal
		encrID  uint16
		keyBits int
		integID uint16
	}{
		{esp(encr(ike.EncrAESGCM16, 256)), ike.EncrAESGCM16, 256, ike.IntegNone},
		{esp(encr(ike.EncrAESGCM16, 128), integT(ike.IntegNone)), ike.EncrAESGCM16, 128, ike.IntegNone},
		{esp(encr(ike.EncrChaCha20Poly1305, 0), keT(ike.GroupCurve25519)), ike.EncrChaCha20Poly1305, 0, ike.IntegNone},
		{esp(encr(ike.EncrAESCBC, 128), integT(ike.IntegHMACSHA256_128)), ike.EncrAESCBC, 128, ike.IntegHMACSHA256_128},
		{esp(encr(ike.EncrAESCTR, 256), integT(ike.IntegAESXCBC96)), ike.EncrAESCTR, 256, ike.IntegAESXCBC96},
		{esp(encr(ike.EncrAESCCM8, 192)), ike.EncrAESCCM8, 192, ike.IntegNone},
		{esp(encr(ike.EncrNullAuthAESGMAC, 128)), ike.EncrNullAuthAESGMAC, 128, ike.IntegNone},
		{esp(encr(ike.EncrNull, 0), integT(ike.IntegHMACSHA512_256)), ike.EncrNull, 0, ike.IntegHMACSHA512_256},
		{esp(encr(ike.Encr3DES, 0), integT(ike.IntegHMACSHA1_96)), ike.Encr3DES, 0, ike.IntegHMACSHA1_96},
	}
	for _, c := range ok {
		e, k, i, err := ESPTransformFor(c.p)
		if err != nil || e != c.encrID || k != c.keyBits || i != c.integID {
			t.Errorf("ESPTransformFor(%s) = %d, %d, %d, %v; want %d, %d, %d",
				Describe(c.p), e, k, i, err, c.encrID, c.keyBits, c.integID)
		}
	}
	bad := []struct {
		p           ike.Proposal
		unsupported bool
	}{
		{esp(), false},
		{esp(encr(ike.EncrAESGCM16, 256), encr(ike.EncrAESGCM16, 128)), false},
		{esp(encr(ike.EncrAESCBC, 128), integT(ike.IntegHMACSHA1_96), integT(ike.IntegHMACSHA256_128)), false},
		{ike.Proposal{Protocol: ike.ProtoIKE, Transforms: []ike.Transform{encr(ike.EncrAESGCM16, 256)}}, false},
		{esp(encr(ike.EncrAESCBC, 128)), true},                                    // no integrity
		{esp(encr(ike.EncrNull, 0)), true},                                        // nothing at all
		{esp(encr(ike.EncrAESGCM16, 256), integT(ike.IntegHMACSHA256_128)), true}, // AEAD + integrity
		{esp(encr(ike.EncrAESCBC, 64), integT(ike.IntegHMACSHA256_128)), true},    // key length
		{esp(encr(99, 0), integT(ike.IntegHMACSHA256_128)), true},                 // unknown cipher
		{esp(encr(ike.EncrAESCBC, 128), integT(1)), true},                         // AUTH_HMAC_MD5_96: unimplemented
	}
	for _, c := range bad {
		_, _, _, err := ESPTransformFor(c.p)
		if err == nil || errors.Is(err, ErrUnsupported) != c.unsupported {
			t.Errorf("ESPTransformFor(%s) err = %v, want an error (ErrUnsupported %v)", Describe(c.p), err, c.unsupported)
		}
	}
}

func TestDescribeUnknown(t *testing.T) {
	p := ike.Proposal{Protocol: ike.ProtoESP, Transforms: []ike.Transform{
		encr(ike.EncrAESCBC, 128), {Type: ike.TransformINTEG, ID: ike.IntegHMACSHA256_128},
		encr(99, 0), {Type: 9, ID: 3}, keT(ike.GroupECP521),
	}}
	const want = "AES_CBC_128/HMAC_SHA2_256_128/UNKNOWN_1_99/UNKNOWN_9_3/ECP_521"
	if got := Describe(p); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got := Describe(ike.Proposal{}); got != "" {
		t.Errorf("Describe(empty) = %q", got)
	}
}
