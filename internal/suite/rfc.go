package suite

import (
	"fmt"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// transformRFCs name the document that defines each transform's use in
// IKEv2 or ESP (the IANA "Internet Key Exchange Version 2 (IKEv2)
// Parameters" registry references).
var transformRFCs = map[ike.TransformType]map[uint16]string{
	ike.TransformENCR: {
		ike.Encr3DES: "RFC 2451", ike.EncrNull: "RFC 2410", ike.EncrAESCBC: "RFC 3602",
		ike.EncrAESCTR: "RFC 3686", ike.EncrAESCCM8: "RFC 4309", ike.EncrAESCCM12: "RFC 4309", ike.EncrAESCCM16: "RFC 4309",
		ike.EncrAESGCM8: "RFC 4106", ike.EncrAESGCM12: "RFC 4106", ike.EncrAESGCM16: "RFC 4106",
		ike.EncrNullAuthAESGMAC: "RFC 4543", ike.EncrChaCha20Poly1305: "RFC 7634",
	},
	ike.TransformPRF: {
		ike.PRFHMACSHA1: "RFC 2104", ike.PRFAES128XCBC: "RFC 4434", ike.PRFHMACSHA256: "RFC 4868",
		ike.PRFHMACSHA384: "RFC 4868", ike.PRFHMACSHA512: "RFC 4868", ike.PRFAES128CMAC: "RFC 4615",
	},
	ike.TransformINTEG: {
		ike.IntegHMACSHA1_96: "RFC 2404", ike.IntegAESXCBC96: "RFC 3566", ike.IntegAESCMAC96: "RFC 4494",
		ike.IntegHMACSHA256_128: "RFC 4868", ike.IntegHMACSHA384_192: "RFC 4868", ike.IntegHMACSHA512_256: "RFC 4868",
		ike.IntegAES128GMAC: "RFC 4543", ike.IntegAES192GMAC: "RFC 4543", ike.IntegAES256GMAC: "RFC 4543",
	},
	ike.TransformKE: {
		ike.GroupMODP2048: "RFC 3526", ike.GroupMODP3072: "RFC 3526", ike.GroupMODP4096: "RFC 3526",
		ike.GroupMODP6144: "RFC 3526", ike.GroupMODP8192: "RFC 3526",
		ike.GroupECP256: "RFC 5903", ike.GroupECP384: "RFC 5903", ike.GroupECP521: "RFC 5903",
		ike.GroupCurve25519: "RFC 8031", ike.GroupCurve448: "RFC 8031",
		ike.GroupMLKEM512: "FIPS 203", ike.GroupMLKEM768: "FIPS 203", ike.GroupMLKEM1024: "FIPS 203",
	},
	ike.TransformESN: {ike.ESNNone: "RFC 4303", ike.ESNYes: "RFC 4303"},
}

// TransformRFC returns the document that defines transform t for IKEv2 or
// ESP, e.g. "RFC 4106" for ENCR_AES_GCM_16, or "" if this package does not
// know it. Additional key exchanges (types 6..12, RFC 9370) share the KE
// registry.
func TransformRFC(t ike.Transform) string {
	typ := t.Type
	if typ >= 6 && typ <= 12 {
		typ = ike.TransformKE
	}
	return transformRFCs[typ][t.ID]
}

// TransformLabel names a transform the way `goipsec check` shows it: the
// IANA name with the key length, e.g. "ENCR_AES_GCM_16 (256 bits)", or
// "CURVE_25519".
func TransformLabel(t ike.Transform) string {
	name := ike.TransformName(t.Type, t.ID)
	if t.KeyLength != 0 {
		name += fmt.Sprintf(" (%d bits)", t.KeyLength)
	}
	return name
}
