package ike

import "testing"

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{IKESAInit.String(), "IKE_SA_INIT"},
		{IKEAuth.String(), "IKE_AUTH"},
		{CreateChildSA.String(), "CREATE_CHILD_SA"},
		{Informational.String(), "INFORMATIONAL"},
		{ExchangeType(43).String(), "IKE_INTERMEDIATE"},
		{ExchangeType(200).String(), "ExchangeType(200)"},
		{PayloadSA.String(), "SA"},
		{PayloadNonce.String(), "Nonce"},
		{PayloadNotify.String(), "N"},
		{PayloadTSr.String(), "TSr"},
		{PayloadSKF.String(), "SKF"},
		{PayloadType(99).String(), "PayloadType(99)"},
		{NotifyNoProposalChosen.String(), "NO_PROPOSAL_CHOSEN"},
		{NotifyInvalidKEPayload.String(), "INVALID_KE_PAYLOAD"},
		{NotifyNATDetectionSourceIP.String(), "NAT_DETECTION_SOURCE_IP"},
		{NotifyIKEv2FragmentationSupported.String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifyType(16404).String(), "MULTIPLE_AUTH_SUPPORTED"},
		{NotifyType(9999).String(), "NotifyType(9999)"},
		{TransformENCR.String(), "ENCR"},
		{TransformKE.String(), "KE"},
		{TransformType(6).String(), "ADDKE1"},
		{TransformType(99).String(), "TransformType(99)"},
		{ProtoESP.String(), "ESP"},
		{AuthPSK.String(), "SHARED_KEY_MIC"},
		{IDFQDN.String(), "ID_FQDN"},
		{TransformName(TransformENCR, EncrAESGCM16), "ENCR_AES_GCM_16"},
		{TransformName(TransformENCR, EncrChaCha20Poly1305), "ENCR_CHACHA20_POLY1305"},
		{TransformName(TransformPRF, PRFHMACSHA256), "PRF_HMAC_SHA2_256"},
		{TransformName(TransformINTEG, IntegHMACSHA256_128), "AUTH_HMAC_SHA2_256_128"},
		{TransformName(TransformKE, GroupCurve25519), "CURVE_25519"},
		{TransformName(TransformKE, GroupMODP2048), "MODP_2048"},
		{TransformName(TransformType(7), 36), "ML_KEM_768"},
		{TransformName(TransformESN, ESNYes), "EXT_SEQ"},
		{TransformName(TransformENCR, 999), "ENCR(999)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestNotifyNamesRFC7296 checks that every notify type of RFC 7296 3.10.1
// has its name and the right error/status class.
func TestNotifyNamesRFC7296(t *testing.T) {
	errs := []NotifyType{1, 4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 43, 44}
	status := []NotifyType{16384, 16385, 16386, 16387, 16388, 16389, 16390, 16391, 16392, 16393, 16394, 16395}
	for _, nt := range errs {
		if _, ok := notifyNames[nt]; !ok || !nt.IsError() {
			t.Errorf("%d: name %q, IsError %v", nt, nt, nt.IsError())
		}
	}
	for _, nt := range status {
		if _, ok := notifyNames[nt]; !ok || nt.IsError() {
			t.Errorf("%d: name %q, IsError %v", nt, nt, nt.IsError())
		}
	}
}

func TestPayloadTypesKnown(t *testing.T) {
	for pt := PayloadSA; pt <= PayloadEAP; pt++ {
		if !pt.known() {
			t.Errorf("%d not known", pt)
		}
	}
	for _, pt := range []PayloadType{PayloadNone, 1, 32, 49, 52, 54, 255} {
		if pt.known() {
			t.Errorf("%d known", pt)
		}
	}
}
