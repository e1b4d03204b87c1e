package suite

import (
	"errors"
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
	}
}

func TestParseProposalErrors(t *testing.T) {
	cases := []struct {
		esp      bool
		in       string
		sentinel error  // nil: a structural error
		msg      string // substring of the message
	}{
		{false, "aes256-sha256-modp2048", ErrUnsupportedAlgorithm, `unsupported algorithm "aes256"`},
		{false, "aes256gcm16-sha256-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "sha256"`},
		{false, "aes256gcm16-prfsha256-modp1024", ErrUnsupportedAlgorithm, `unsupported algorithm "modp1024"`},
		{false, "aes256gcm16-prfsha256-ecp521", ErrUnsupportedAlgorithm, `unsupported algorithm "ecp521"`},
		{false, "aes256gcm16-prfsha256-x25519-mlkem768", ErrUnsupportedAlgorithm, `unsupported algorithm "mlkem768"`},
		{false, "aes256gcm16-prfsha256-x25519-ke1_mlkem768", ErrUnsupportedAlgorithm, `unsupported algorithm "ke1_mlkem768"`},
		{false, "aes256gcm16-prfsha256-x25519-ke7_x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "ke7_x25519"`},
		{false, "3des-sha1-modp1024", ErrUnsupportedAlgorithm, `unsupported algorithm "3des"`},
		{false, "aes128ctr-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "aes128ctr"`},
		{false, "aes128ccm16-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "aes128ccm16"`},
		{false, "camellia256ccm96-prfsha256-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "camellia256ccm96"`},
		{false, "aes256gcm16-prfaesxcbc-x25519", ErrUnsupportedAlgorithm, `unsupported algorithm "prfaesxcbc"`},
		{true, "aes256gcm16-modpnone", ErrUnsupportedAlgorithm, `unsupported algorithm "modpnone"`},
		{true, "chacha20poly1305compat", ErrUnsupportedAlgorithm, `unsupported algorithm "chacha20poly1305compat"`},
		{true, "aes128gmac", ErrUnsupportedAlgorithm, `unsupported algorithm "aes128gmac"`},
		{false, "foo", ErrUnknownAlgorithm, `unknown algorithm "foo"`},
		{false, "aes256gcm16-prfsha256-x25519-foo", ErrUnknownAlgorithm, `unknown algorithm "foo"`},
		{false, "aes999gcm16-prfsha256-x25519", ErrUnknownAlgorithm, `unknown algorithm "aes999gcm16"`},
		{false, "AES256GCM16-prfsha256-x25519", ErrUnknownAlgorithm, `unknown algorithm "AES256GCM16"`},
		{false, "aes256gcm16-prfsha256-ke8_x25519", ErrUnknownAlgorithm, `unknown algorithm "ke8_x25519"`},
		{false, "aes256gcm16-prfsha256-ke1_aes128", ErrUnknownAlgorithm, `unknown algorithm "ke1_aes128"`},
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
		_, err = AEADKeymatLen(tr.ID, int(tr.KeyLength))
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

// Every supported keyword names something this package implements.
func TestKeywordsImplemented(t *testing.T) {
	for w, k := range keywords {
		if unsupportedKeywords[w] {
			t.Errorf("%q is both supported and unsupported", w)
		}
		checkImplemented(t, ike.Transform{Type: k.typ, ID: k.id, KeyLength: k.keyBits})
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
