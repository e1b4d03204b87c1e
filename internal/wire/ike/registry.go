// Package ike implements the IKEv2 wire format (RFC 7296 section 3): the
// message header, every payload of RFC 7296 with its parser and marshaller,
// the IANA registries the payloads refer to, and the per-exchange payload rule
// table enforced by Verify. It holds no crypto and no state.
//
// Parsing is strict about structure (every length is checked against its
// parent before slicing, counts must match, substructure flags must agree) and
// lenient about values the IANA registries may grow (unknown transform types,
// transform IDs, notify types, notify data are kept for the engine to judge).
// Parsed payloads alias the input buffer; their slices are capped so an append
// never writes into the bytes that follow.
package ike

import "fmt"

// ExchangeType is the IKEv2 exchange type of a message (RFC 7296 3.1, IANA
// "IKEv2 Exchange Types").
type ExchangeType uint8

// Exchange types of RFC 7296 3.1.
const (
	IKESAInit     ExchangeType = 34
	IKEAuth       ExchangeType = 35
	CreateChildSA ExchangeType = 36
	Informational ExchangeType = 37
)

// IKEIntermediate is the IKE_INTERMEDIATE exchange (RFC 9242 3), run
// between IKE_SA_INIT and IKE_AUTH, e.g. for additional key exchanges
// (RFC 9370 2.2.1).
const IKEIntermediate ExchangeType = 43

var exchangeNames = map[ExchangeType]string{
	IKESAInit:     "IKE_SA_INIT",
	IKEAuth:       "IKE_AUTH",
	CreateChildSA: "CREATE_CHILD_SA",
	Informational: "INFORMATIONAL",
	38:            "IKE_SESSION_RESUME", // RFC 5723
	39:            "GSA_AUTH",           // RFC 9838
	40:            "GSA_REGISTRATION",
	41:            "GSA_REKEY",
	43:            "IKE_INTERMEDIATE", // RFC 9242
	44:            "IKE_FOLLOWUP_KE",  // RFC 9370
}

// String returns the IANA name, e.g. "IKE_SA_INIT".
func (e ExchangeType) String() string {
	if s, ok := exchangeNames[e]; ok {
		return s
	}
	return fmt.Sprintf("ExchangeType(%d)", uint8(e))
}

// PayloadType is the type of a payload, as carried in the Next Payload field
// of the preceding header (RFC 7296 3.2, IANA "IKEv2 Payload Types").
type PayloadType uint8

// Payload types of RFC 7296 3.2 and RFC 7383 (SKF).
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

// payloadNames uses the RFC 7296 notation (section 1.2 and 3.2).
var payloadNames = map[PayloadType]string{
	PayloadNone:     "NONE",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Nonce",
	PayloadNotify:   "N",
	PayloadDelete:   "D",
	PayloadVendorID: "V",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	PayloadSKF:      "SKF",
}

// String returns the RFC 7296 notation, e.g. "SA", "Nonce", "N".
func (t PayloadType) String() string {
	if s, ok := payloadNames[t]; ok {
		return s
	}
	return fmt.Sprintf("PayloadType(%d)", uint8(t))
}

// known reports whether this package defines t (and so parses it rather than
// keeping it as *Unknown).
func (t PayloadType) known() bool {
	_, ok := payloadNames[t]
	return ok && t != PayloadNone
}

// Header flags (RFC 7296 3.1).
const (
	FlagInitiator = 0x08
	FlagVersion   = 0x10
	FlagResponse  = 0x20
)

// ProtocolID identifies the kind of SA a proposal, notification or delete
// refers to (RFC 7296 3.3.1, IANA "IKEv2 Security Protocol Identifiers").
type ProtocolID uint8

// Protocol IDs of RFC 7296 3.3.1.
const (
	ProtoIKE ProtocolID = 1
	ProtoAH  ProtocolID = 2
	ProtoESP ProtocolID = 3
)

// String returns "IKE", "AH", "ESP" or "ProtocolID(n)".
func (p ProtocolID) String() string {
	switch p {
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return fmt.Sprintf("ProtocolID(%d)", uint8(p))
}

// TransformType is the type of a transform substructure (RFC 7296 3.3.2,
// RFC 9370 for the additional key exchanges).
type TransformType uint8

// Transform types of RFC 7296 3.3.2.
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformKE    TransformType = 4 // "D-H" in RFC 7296, renamed by RFC 9370
	TransformESN   TransformType = 5
)

// String returns "ENCR", "PRF", "INTEG", "KE", "ESN", "ADDKE1".."ADDKE7".
func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformKE:
		return "KE"
	case TransformESN:
		return "ESN"
	}
	if t >= 6 && t <= 12 {
		return fmt.Sprintf("ADDKE%d", t-5)
	}
	return fmt.Sprintf("TransformType(%d)", uint8(t))
}

// Encryption algorithm transform IDs (IANA "Transform Type 1").
const (
	Encr3DES             uint16 = 3
	EncrNull             uint16 = 11
	EncrAESCBC           uint16 = 12
	EncrAESCTR           uint16 = 13
	EncrAESCCM8          uint16 = 14
	EncrAESCCM12         uint16 = 15
	EncrAESCCM16         uint16 = 16
	EncrAESGCM8          uint16 = 18
	EncrAESGCM12         uint16 = 19
	EncrAESGCM16         uint16 = 20
	EncrNullAuthAESGMAC  uint16 = 21
	EncrChaCha20Poly1305 uint16 = 28
)

// Pseudorandom function transform IDs (IANA "Transform Type 2").
const (
	PRFHMACSHA1   uint16 = 2
	PRFAES128XCBC uint16 = 4
	PRFHMACSHA256 uint16 = 5
	PRFHMACSHA384 uint16 = 6
	PRFHMACSHA512 uint16 = 7
	PRFAES128CMAC uint16 = 8
)

// Integrity algorithm transform IDs (IANA "Transform Type 3").
const (
	IntegNone           uint16 = 0
	IntegHMACSHA1_96    uint16 = 2
	IntegAESXCBC96      uint16 = 5
	IntegAESCMAC96      uint16 = 8
	IntegAES128GMAC     uint16 = 9  // RFC 4543, for AH only
	IntegAES192GMAC     uint16 = 10 // RFC 4543, for AH only
	IntegAES256GMAC     uint16 = 11 // RFC 4543, for AH only
	IntegHMACSHA256_128 uint16 = 12
	IntegHMACSHA384_192 uint16 = 13
	IntegHMACSHA512_256 uint16 = 14
)

// Key exchange method transform IDs (IANA "Transform Type 4").
const (
	GroupNone       uint16 = 0
	GroupMODP2048   uint16 = 14
	GroupMODP3072   uint16 = 15
	GroupMODP4096   uint16 = 16
	GroupMODP6144   uint16 = 17
	GroupMODP8192   uint16 = 18
	GroupECP256     uint16 = 19
	GroupECP384     uint16 = 20
	GroupECP521     uint16 = 21
	GroupCurve25519 uint16 = 31
	GroupCurve448   uint16 = 32
	GroupMLKEM512   uint16 = 35 // RFC 9370 registry, draft-ietf-ipsecme-ikev2-mlkem
	GroupMLKEM768   uint16 = 36
	GroupMLKEM1024  uint16 = 37
)

// Extended sequence numbers transform IDs (IANA "Transform Type 5").
const (
	ESNNone uint16 = 0
	ESNYes  uint16 = 1
)

// AttrKeyLength is the Key Length transform attribute, always in TV format
// (RFC 7296 3.3.5).
const AttrKeyLength uint16 = 14

var transformNames = map[TransformType]map[uint16]string{
	TransformENCR: {
		1: "ENCR_DES_IV64", 2: "ENCR_DES", 3: "ENCR_3DES", 4: "ENCR_RC5",
		5: "ENCR_IDEA", 6: "ENCR_CAST", 7: "ENCR_BLOWFISH", 8: "ENCR_3IDEA",
		9: "ENCR_DES_IV32", 11: "ENCR_NULL", 12: "ENCR_AES_CBC", 13: "ENCR_AES_CTR",
		14: "ENCR_AES_CCM_8", 15: "ENCR_AES_CCM_12", 16: "ENCR_AES_CCM_16",
		18: "ENCR_AES_GCM_8", 19: "ENCR_AES_GCM_12", 20: "ENCR_AES_GCM_16",
		21: "ENCR_NULL_AUTH_AES_GMAC", 23: "ENCR_CAMELLIA_CBC", 24: "ENCR_CAMELLIA_CTR",
		25: "ENCR_CAMELLIA_CCM_8", 26: "ENCR_CAMELLIA_CCM_12", 27: "ENCR_CAMELLIA_CCM_16",
		28: "ENCR_CHACHA20_POLY1305", 29: "ENCR_AES_CCM_8_IIV", 30: "ENCR_AES_GCM_16_IIV",
		31: "ENCR_CHACHA20_POLY1305_IIV",
	},
	TransformPRF: {
		1: "PRF_HMAC_MD5", 2: "PRF_HMAC_SHA1", 3: "PRF_HMAC_TIGER", 4: "PRF_AES128_XCBC",
		5: "PRF_HMAC_SHA2_256", 6: "PRF_HMAC_SHA2_384", 7: "PRF_HMAC_SHA2_512",
		8: "PRF_AES128_CMAC",
	},
	TransformINTEG: {
		0: "NONE", 1: "AUTH_HMAC_MD5_96", 2: "AUTH_HMAC_SHA1_96", 3: "AUTH_DES_MAC",
		4: "AUTH_KPDK_MD5", 5: "AUTH_AES_XCBC_96", 6: "AUTH_HMAC_MD5_128",
		7: "AUTH_HMAC_SHA1_160", 8: "AUTH_AES_CMAC_96", 9: "AUTH_AES_128_GMAC",
		10: "AUTH_AES_192_GMAC", 11: "AUTH_AES_256_GMAC", 12: "AUTH_HMAC_SHA2_256_128",
		13: "AUTH_HMAC_SHA2_384_192", 14: "AUTH_HMAC_SHA2_512_256",
	},
	TransformKE: keNames,
	TransformESN: {
		0: "NO_EXT_SEQ", 1: "EXT_SEQ",
	},
}

// keNames serve Transform Type 4 and the additional key exchanges 6..12
// (RFC 9370), which share the registry.
var keNames = map[uint16]string{
	0: "NONE", 1: "MODP_768", 2: "MODP_1024", 5: "MODP_1536", 14: "MODP_2048",
	15: "MODP_3072", 16: "MODP_4096", 17: "MODP_6144", 18: "MODP_8192",
	19: "ECP_256", 20: "ECP_384", 21: "ECP_521", 22: "MODP_1024_160",
	23: "MODP_2048_224", 24: "MODP_2048_256", 25: "ECP_192", 26: "ECP_224",
	27: "ECP_224_BP", 28: "ECP_256_BP", 29: "ECP_384_BP", 30: "ECP_512_BP",
	31: "CURVE_25519", 32: "CURVE_448", 35: "ML_KEM_512", 36: "ML_KEM_768",
	37: "ML_KEM_1024",
}

// TransformName returns the IANA name of transform id of type t, e.g.
// "ENCR_AES_GCM_16", "PRF_HMAC_SHA2_256", "CURVE_25519", or "ENCR(99)" for an
// unregistered one.
func TransformName(t TransformType, id uint16) string {
	names := transformNames[t]
	if t >= 6 && t <= 12 {
		names = keNames
	}
	if s, ok := names[id]; ok {
		return s
	}
	return fmt.Sprintf("%s(%d)", t, id)
}

// AuthMethod is the authentication method of an AUTH payload (RFC 7296 3.8,
// RFC 7427).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSA              AuthMethod = 1
	AuthPSK              AuthMethod = 2
	AuthDSS              AuthMethod = 3
	AuthECDSA256         AuthMethod = 9
	AuthECDSA384         AuthMethod = 10
	AuthECDSA521         AuthMethod = 11
	AuthDigitalSignature AuthMethod = 14
)

var authNames = map[AuthMethod]string{
	AuthRSA: "RSA_SIG", AuthPSK: "SHARED_KEY_MIC", AuthDSS: "DSS_SIG",
	AuthECDSA256: "ECDSA_SHA256_P256", AuthECDSA384: "ECDSA_SHA384_P384",
	AuthECDSA521: "ECDSA_SHA512_P521", 12: "GSPAM", 13: "NULL_AUTH",
	AuthDigitalSignature: "DIGITAL_SIGNATURE",
}

// String returns the IANA name, e.g. "SHARED_KEY_MIC".
func (m AuthMethod) String() string {
	if s, ok := authNames[m]; ok {
		return s
	}
	return fmt.Sprintf("AuthMethod(%d)", uint8(m))
}

// IDType is the type of an identification payload (RFC 7296 3.5).
type IDType uint8

// Identification types of RFC 7296 3.5.
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDERASN1DN  IDType = 9
	IDDERASN1GN  IDType = 10
	IDKeyID      IDType = 11
)

var idNames = map[IDType]string{
	IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv6Addr: "ID_IPV6_ADDR", IDDERASN1DN: "ID_DER_ASN1_DN",
	IDDERASN1GN: "ID_DER_ASN1_GN", IDKeyID: "ID_KEY_ID", 12: "ID_FC_NAME", 13: "ID_NULL",
}

// String returns the RFC name, e.g. "ID_FQDN".
func (t IDType) String() string {
	if s, ok := idNames[t]; ok {
		return s
	}
	return fmt.Sprintf("IDType(%d)", uint8(t))
}

// Traffic selector types (RFC 7296 3.13.1).
const (
	TSIPv4AddrRange uint8 = 7
	TSIPv6AddrRange uint8 = 8
)

// Certificate encodings (RFC 7296 3.6) for Cert and CertReq.
const (
	CertX509Signature uint8 = 4
	CertCRL           uint8 = 7
	CertHashURLX509   uint8 = 12
)

// Configuration payload types (RFC 7296 3.15).
const (
	CfgRequest uint8 = 1
	CfgReply   uint8 = 2
	CfgSet     uint8 = 3
	CfgAck     uint8 = 4
)

// Configuration attribute types (RFC 7296 3.15.1).
const (
	CfgInternalIP4Address uint16 = 1
	CfgInternalIP4Netmask uint16 = 2
	CfgInternalIP4DNS     uint16 = 3
	CfgInternalIP4NBNS    uint16 = 4
	CfgInternalIP4DHCP    uint16 = 6
	CfgApplicationVersion uint16 = 7
	CfgInternalIP6Address uint16 = 8
	CfgInternalIP6DNS     uint16 = 10
	CfgInternalIP6DHCP    uint16 = 12
	CfgInternalIP4Subnet  uint16 = 13
	CfgSupportedAttrs     uint16 = 14
	CfgInternalIP6Subnet  uint16 = 15
)
