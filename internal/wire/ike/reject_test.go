package ike

import (
	"bytes"
	"testing"
)

// Specific rejections, each named after the rule it enforces. Every one
// must wrap ErrMalformed.

func TestRejectNonceTooShort(t *testing.T) {
	_, err := parseOne(PayloadNonce, seq(MinNonceLen-1, 0))
	wantMalformed(t, err)
}

func TestRejectNonceTooLong(t *testing.T) {
	_, err := parseOne(PayloadNonce, seq(MaxNonceLen+1, 0))
	wantMalformed(t, err)
}

func TestRejectEmptyKE(t *testing.T) {
	_, err := parseOne(PayloadKE, []byte{0, 31, 0, 0})
	wantMalformed(t, err)
	_, err = parseOne(PayloadKE, []byte{0, 31})
	wantMalformed(t, err)
}

func TestRejectEmptySA(t *testing.T) {
	_, err := parseOne(PayloadSA, nil)
	wantMalformed(t, err)
}

func encr(last byte) []byte {
	return transformBytes(last, TransformENCR, EncrAESGCM16, 0x80, 0x0e, 0x01, 0x00)
}
func prf(last byte) []byte { return transformBytes(last, TransformPRF, PRFHMACSHA256) }

func TestAcceptHandBuiltSA(t *testing.T) {
	body := append(proposalBytes(2, 1, ProtoIKE, nil, 2, encr(3), prf(0)),
		proposalBytes(0, 2, ProtoESP, []byte{1, 2, 3, 4}, 1, encr(0))...)
	p, err := parseOne(PayloadSA, body)
	if err != nil {
		t.Fatal(err)
	}
	sa := p.(*SA)
	if len(sa.Proposals) != 2 || len(sa.Proposals[0].Transforms) != 2 || sa.Proposals[0].Transforms[0].KeyLength != 256 {
		t.Errorf("SA %+v", sa)
	}
}

func TestRejectBadTransformCount(t *testing.T) {
	for _, n := range []byte{0, 1, 3, 255} {
		_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, n, encr(3), prf(0)))
		wantMalformed(t, err)
	}
}

func TestRejectBadProposalLastFlag(t *testing.T) {
	p1 := proposalBytes(0, 1, ProtoIKE, nil, 1, prf(0)) // says last, but another follows
	p2 := proposalBytes(0, 2, ProtoIKE, nil, 1, prf(0))
	_, err := parseOne(PayloadSA, append(p1, p2...))
	wantMalformed(t, err)
	// Says more, but nothing follows.
	_, err = parseOne(PayloadSA, proposalBytes(2, 1, ProtoIKE, nil, 1, prf(0)))
	wantMalformed(t, err)
	// IKEv1's value for transforms (3) in a proposal.
	_, err = parseOne(PayloadSA, proposalBytes(3, 1, ProtoIKE, nil, 1, prf(0)))
	wantMalformed(t, err)
}

func TestRejectBadTransformLastFlag(t *testing.T) {
	for _, tr := range [][]byte{
		append(encr(0), prf(0)...), // first says last
		append(encr(3), prf(3)...), // last says more
		append(encr(2), prf(0)...), // proposal's value
	} {
		_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 2, tr))
		wantMalformed(t, err)
	}
}

func TestRejectProposalLength(t *testing.T) {
	p := proposalBytes(0, 1, ProtoIKE, nil, 1, prf(0))
	for _, l := range []int{0, 7, len(p) + 1} {
		bad := bytes.Clone(p)
		bad[2], bad[3] = byte(l>>8), byte(l)
		_, err := parseOne(PayloadSA, bad)
		wantMalformed(t, err)
	}
	// The SPI does not fit.
	bad := proposalBytes(0, 1, ProtoESP, nil, 0)
	bad[6] = 4
	_, err := parseOne(PayloadSA, bad)
	wantMalformed(t, err)
}

func TestRejectTransformLength(t *testing.T) {
	tr := prf(0)
	for _, l := range []int{0, 7, len(tr) + 1} {
		bad := bytes.Clone(tr)
		bad[2], bad[3] = byte(l>>8), byte(l)
		_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, bad))
		wantMalformed(t, err)
	}
}

func TestRejectProposalSPISize(t *testing.T) {
	for _, tt := range []struct {
		proto ProtocolID
		spi   int
	}{{ProtoIKE, 4}, {ProtoIKE, 1}, {ProtoESP, 0}, {ProtoESP, 8}, {ProtoAH, 2}, {0, 0}} {
		_, err := parseOne(PayloadSA, proposalBytes(0, 1, tt.proto, seq(tt.spi, 1), 1, prf(0)))
		wantMalformed(t, err)
	}
}

func TestRejectKeyLengthTLV(t *testing.T) {
	// Key Length (14) must use the TV format, 0x800E (RFC 7296 3.3.5).
	tr := transformBytes(0, TransformENCR, EncrAESCBC, 0x00, 0x0e, 0x00, 0x02, 0x01, 0x00)
	_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, tr))
	wantMalformed(t, err)
}

func TestRejectDuplicateKeyLengthAttribute(t *testing.T) {
	tr := transformBytes(0, TransformENCR, EncrAESCBC, 0x80, 0x0e, 0x00, 0x80, 0x80, 0x0e, 0x01, 0x00)
	_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, tr))
	wantMalformed(t, err)
}

func TestRejectZeroKeyLength(t *testing.T) {
	tr := transformBytes(0, TransformENCR, EncrAESCBC, 0x80, 0x0e, 0x00, 0x00)
	_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, tr))
	wantMalformed(t, err)
}

func TestRejectTruncatedAttribute(t *testing.T) {
	for _, attrs := range [][]byte{
		{0x80},                   // shorter than an attribute header
		{0x00, 0x20, 0x00, 0x05}, // TLV claims 5 octets, none follow
		{0x00, 0x20, 0x00, 0x02, 0xaa},
	} {
		tr := transformBytes(0, TransformENCR, EncrAESCBC, attrs...)
		_, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, tr))
		wantMalformed(t, err)
	}
}

// TestTransformUnknownAttributes: RFC 7296 3.3.6, a transform with an
// attribute we do not understand is kept but marked, so it is not chosen.
func TestTransformUnknownAttributes(t *testing.T) {
	for name, attrs := range map[string][]byte{
		"TV":  {0x80, 0x0e, 0x01, 0x00, 0x80, 0x20, 0x00, 0x01},
		"TLV": {0x00, 0x21, 0x00, 0x03, 1, 2, 3, 0x80, 0x0e, 0x01, 0x00},
	} {
		tr := transformBytes(0, TransformENCR, EncrAESCBC, attrs...)
		p, err := parseOne(PayloadSA, proposalBytes(0, 1, ProtoIKE, nil, 1, tr))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := p.(*SA).Proposals[0].Transforms[0]
		if want := (Transform{Type: TransformENCR, ID: EncrAESCBC, KeyLength: 256, Unknown: true}); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
}

func TestRejectNotifySPI(t *testing.T) {
	for _, tt := range []struct {
		proto ProtocolID
		size  int
	}{{ProtoIKE, 4}, {ProtoESP, 8}, {0, 4}, {ProtoESP, 3}, {ProtoIKE, 16}} {
		body := append([]byte{byte(tt.proto), byte(tt.size), 0x40, 0x09}, seq(tt.size, 1)...)
		_, err := parseOne(PayloadNotify, body)
		wantMalformed(t, err)
	}
	// SPI size larger than the payload.
	_, err := parseOne(PayloadNotify, []byte{byte(ProtoESP), 4, 0x40, 0x09, 1, 2})
	wantMalformed(t, err)
	_, err = parseOne(PayloadNotify, []byte{0, 0, 0x40})
	wantMalformed(t, err)
}

func TestNotifyProtocolIgnoredWithoutSPI(t *testing.T) {
	// RFC 7296 3.10: with an empty SPI the Protocol ID is ignored on receipt.
	p, err := parseOne(PayloadNotify, []byte{byte(ProtoESP), 0, 0x40, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.(*Notify); n.NotifyType != NotifyInitialContact || n.SPI != nil || n.Data != nil {
		t.Errorf("notify %+v", n)
	}
}

func TestRejectDeleteSPISize(t *testing.T) {
	for _, body := range [][]byte{
		{byte(ProtoIKE), 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}, // IKE: size 0
		{byte(ProtoESP), 0, 0, 0},                         // ESP: size 4
		{byte(ProtoAH), 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8},
		{0, 0, 0, 0},
		{byte(ProtoESP), 4},
	} {
		_, err := parseOne(PayloadDelete, body)
		wantMalformed(t, err)
	}
}

func TestRejectDeleteSPICount(t *testing.T) {
	for _, body := range [][]byte{
		{byte(ProtoESP), 4, 0, 2, 1, 2, 3, 4},       // 2 announced, 1 present
		{byte(ProtoESP), 4, 0, 1, 1, 2, 3, 4, 5},    // trailing octet
		{byte(ProtoIKE), 0, 0, 0, 1},                // IKE delete with data
		{byte(ProtoESP), 4, 0xff, 0xff, 1, 2, 3, 4}, // count far too large
	} {
		_, err := parseOne(PayloadDelete, body)
		wantMalformed(t, err)
	}
}

func ipv4Selector() []byte {
	return []byte{TSIPv4AddrRange, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 255}
}

func TestRejectTSLength(t *testing.T) {
	sel := ipv4Selector()
	sel[3] = 40 // an IPv6 length on an IPv4 selector
	_, err := parseOne(PayloadTSi, append([]byte{1, 0, 0, 0}, sel...))
	wantMalformed(t, err)

	sel = make([]byte, 40)
	sel[0], sel[3] = TSIPv6AddrRange, 16
	_, err = parseOne(PayloadTSi, append([]byte{1, 0, 0, 0}, sel...))
	wantMalformed(t, err)

	// Truncated selector.
	_, err = parseOne(PayloadTSr, append([]byte{1, 0, 0, 0}, ipv4Selector()[:12]...))
	wantMalformed(t, err)
}

func TestRejectTSCount(t *testing.T) {
	for _, n := range []byte{0, 2} {
		_, err := parseOne(PayloadTSi, append([]byte{n, 0, 0, 0}, ipv4Selector()...))
		wantMalformed(t, err)
	}
	_, err := parseOne(PayloadTSi, []byte{0, 0, 0, 0})
	wantMalformed(t, err)
}

func TestRejectUnknownTSType(t *testing.T) {
	sel := ipv4Selector()
	sel[0] = 10 // TS_SECLABEL (RFC 9478), not supported
	_, err := parseOne(PayloadTSi, append([]byte{1, 0, 0, 0}, sel...))
	wantMalformed(t, err)
}

func TestRejectIDLength(t *testing.T) {
	for _, body := range [][]byte{
		{byte(IDIPv4Addr), 0, 0, 0, 10, 0, 0},
		{byte(IDIPv6Addr), 0, 0, 0, 10, 0, 0, 1},
		{byte(IDFQDN), 0, 0, 0},
		{byte(IDFQDN), 0, 0},
	} {
		_, err := parseOne(PayloadIDi, body)
		wantMalformed(t, err)
	}
}

func TestRejectShortAuthCertCP(t *testing.T) {
	for _, tt := range []struct {
		typ  PayloadType
		body []byte
	}{
		{PayloadAUTH, []byte{2, 0, 0, 0}},
		{PayloadCERT, []byte{4}},
		{PayloadCERTREQ, nil},
		{PayloadCP, []byte{1, 0, 0}},
		{PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0}},        // truncated attribute header
		{PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0, 4, 10}}, // value overflows
	} {
		_, err := parseOne(tt.typ, tt.body)
		wantMalformed(t, err)
	}
}

func TestRejectEAPLength(t *testing.T) {
	for _, body := range [][]byte{
		{1, 1, 0},
		{1, 1, 0, 5},
		{1, 1, 0, 4, 0},
	} {
		_, err := parseOne(PayloadEAP, body)
		wantMalformed(t, err)
	}
}

func TestCPReservedBitIgnored(t *testing.T) {
	p, err := parseOne(PayloadCP, []byte{CfgRequest, 0, 0, 0, 0x80, 0x01, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if a := p.(*CP).Attributes; len(a) != 1 || a[0].Type != CfgInternalIP4Address {
		t.Errorf("attributes %+v", a)
	}
}
