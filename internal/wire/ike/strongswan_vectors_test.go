package ike

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// Real messages captured on the wire between two strongSwan 5.9.8 charon
// daemons (Debian package), one per network namespace on a veth pair
// 192.0.2.1 <-> 192.0.2.2, default IKE and ESP proposals, PSK
// authentication with identities left.example / right.example and
// selectors 10.1.0.0/24 <-> 10.2.0.0/24. The IKE_AUTH messages went to port
// 4500 (RFC 3948); the 4-octet non-ESP marker is stripped here. The
// decrypted SK contents are the "plain" dumps of charon's ENC level 4 log
// (padding and pad length removed). Every field checked below was
// cross-checked with tshark's dissection of the capture.
const (
	ssInitReq = "" +
		"f7abd3690c233382000000000000000021202208000000000000037c220002bc" +
		"02000148010100220300000c0100000c800e00800300000c0100000c800e00c0" +
		"0300000c0100000c800e01000300000c0100000d800e00800300000c0100000d" +
		"800e00c00300000c0100000d800e01000300000c01000017800e00800300000c" +
		"01000017800e00c00300000c01000017800e01000300000c01000018800e0080" +
		"0300000c01000018800e00c00300000c01000018800e01000300000801000003" +
		"030000080300000c030000080300000d030000080300000e0300000803000002" +
		"0300000802000005030000080200000603000008020000070300000802000002" +
		"030000080400001f030000080400002003000008040000130300000804000014" +
		"0300000804000015030000080400001c030000080400001d030000080400001e" +
		"030000080400000f030000080400001003000008040000110300000804000012" +
		"000000080400000e00000170020100240300000c01000014800e00800300000c" +
		"01000014800e00c00300000c01000014800e01000300000c01000010800e0080" +
		"0300000c01000010800e00c00300000c01000010800e0100030000080100001c" +
		"0300000c01000013800e00800300000c01000013800e00c00300000c01000013" +
		"800e01000300000c01000012800e00800300000c01000012800e00c00300000c" +
		"01000012800e01000300000c0100000f800e00800300000c0100000f800e00c0" +
		"0300000c0100000f800e01000300000c0100000e800e00800300000c0100000e" +
		"800e00c00300000c0100000e800e010003000008020000050300000802000006" +
		"03000008020000070300000802000002030000080400001f0300000804000020" +
		"030000080400001303000008040000140300000804000015030000080400001c" +
		"030000080400001d030000080400001e030000080400000f0300000804000010" +
		"03000008040000110300000804000012000000080400000e28000028001f0000" +
		"2d6801cb43debff7bb2c131ff60c7d5d0f90b0ba801653f47d48228c44a5de70" +
		"290000243e5eb4eefdae583c26848c758580ebbe40c4eb0c4ade424c829a7536" +
		"52e28d5c2900001c0000400406a259a12518ae2b8a7cf137c43c42917cce43bb" +
		"2900001c00004005e20e8f0c77cb0b19935cfadadff411fb993af4bd29000008" +
		"0000402e290000100000402f00020003000400050000000800004016"

	ssInitResp = "" +
		"f7abd3690c23338241b52964b09b17a62120222000000000000000f822000030" +
		"0000002c010100040300000c0100000c800e0080030000080300000c03000008" +
		"02000005000000080400001f28000028001f00001068721ab6b7e8b31a20977f" +
		"1326fe505214be705e6c45dce43b64c68ae8dc75290000242f8c3c3605b34640" +
		"de2200447675ad8a697e1d869fd71947de41933e4b51c02c2900001c00004004" +
		"c6d4c6f3904151e158cc95e0189116cbc90439802900001c00004005ade3cccd" +
		"a98973cab25484dfa885cbb12532ea8a290000080000402e290000100000402f" +
		"000200030004000529000008000040220000000800004014"

	ssAuthReq = "" +
		"f7abd3690c23338241b52964b09b17a62e202308000000010000019023000174" +
		"d4e891c99fe638e6b3e957d9d94589058745ec090231d798955544c861a32a64" +
		"3a99e63d22640bdab49dd051188e1bf09206e0cac2290de33771dff78382f3ab" +
		"d38cef76b72b1092b94bb8183189473730797e8cac3e50ab36c1312838da4ef0" +
		"fdc6b3f51a38dd2539551f294a4e399684bb6718f3e220953a409a6693fdea6c" +
		"4077814e5a3601593dca9765a402876d364d1e3a1613374c1cc71366d9372c11" +
		"f42d6b6a4031c57ee3da9ac28541f5283f53a8ef5779920b1c0b85e9b33d68b8" +
		"dd3eb1d5554be15880c59c63d4759df05824511584713138d285c2257b5f9eaa" +
		"0d119a91dcbeb5f7ad66ac9726796696eaf123133f9f3990d8c0ab95378bc4ed" +
		"50c0621afab7277728c6778d0b563076d423a47ee96cc901444af9721648301b" +
		"9d221835cbf43892b2f9d5e57c3814294efa50cd0d23b47e41cdc23203f78e29" +
		"4ab70d94bc3ae378a279576417ac982596889774b2030a771ac38bc6ae6b58f1" +
		"facee231710305420a82e67eba6a7694"

	ssAuthResp = "" +
		"f7abd3690c23338241b52964b09b17a62e20232000000001000000a024000084" +
		"7933fe3d61b06f21532223b73260cc64b989d83d68cbaf276c661c133d2ac477" +
		"69799fa9fb7e55339bd8399ae4a0ae4317564d40c9932d00c69ba498f28bc9d7" +
		"05141831ede5c0c8f99db23aa777d3cc0f5b2728806fb75a44b782b6131154c4" +
		"8a91ee10c0a1c0cf0928f01b5d89005470081c441fb531af3618eafdca6563a2"

	ssAuthReqPlain = "" +
		"29000014020000006c6566742e6578616d706c65240000080000400027000015" +
		"0200000072696768742e6578616d706c652100002802000000b7d65ca7df83a4" +
		"db10f565183f9ce4dc70ad9dc3e05193d9047261747eeb6d922c00009c020000" +
		"38010304043f7f433c0300000c01000014800e00800300000c01000014800e00" +
		"c00300000c01000014800e0100000000080500000000000060020304093f7f43" +
		"3c0300000c0100000c800e00800300000c0100000c800e00c00300000c010000" +
		"0c800e0100030000080300000c030000080300000d030000080300000e030000" +
		"0803000002030000080300000500000008050000002d00001801000000070000" +
		"100000ffff0a0100000a0100ff2900001801000000070000100000ffff0a0200" +
		"000a0200ff290000080000400c290000080000400f2900000800004014290000" +
		"08000040210000000800004024"

	ssAuthRespPlain = "" +
		"270000150200000072696768742e6578616d706c6529000028020000009a9ab8" +
		"02b7e73fdacc53941316fcbd23b26391929f5269380d399ade68adcb74290000" +
		"080000400c290000080000400f0000000800000026"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func payloadTypes(ps []Payload) []PayloadType {
	ts := make([]PayloadType, len(ps))
	for i, p := range ps {
		ts[i] = p.Type()
	}
	return ts
}

func notifyTypes(ps []Payload) []NotifyType {
	var ts []NotifyType
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			ts = append(ts, n.NotifyType)
		}
	}
	return ts
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkReencode asserts that marshalling the parsed message gives back the
// captured bytes exactly (strongSwan zeroes every RESERVED field, as RFC
// 7296 3.2 requires, so the encoding is canonical).
func checkReencode(t *testing.T, m *Message, want []byte) {
	t.Helper()
	got, err := m.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal differs from the capture:\n got %x\nwant %x", got, want)
	}
}

func TestStrongSwanIKESAInitRequest(t *testing.T) {
	b := mustHex(t, ssInitReq)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := Header{SPIi: 0xf7abd3690c233382, NextPayload: PayloadSA, Version: 0x20,
		Exchange: IKESAInit, Flags: FlagInitiator, MessageID: 0, Length: 892}
	if m.Header != wantHdr || !m.IsInitiator() || m.IsResponse() {
		t.Errorf("header = %+v, want %+v", m.Header, wantHdr)
	}
	wantTypes := []PayloadType{PayloadSA, PayloadKE, PayloadNonce, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify}
	if got := payloadTypes(m.Payloads); !equalSlices(got, wantTypes) {
		t.Fatalf("payloads %v, want %v", got, wantTypes)
	}
	sa := m.Payloads[0].(*SA)
	if len(sa.Proposals) != 2 {
		t.Fatalf("%d proposals, want 2", len(sa.Proposals))
	}
	// Proposal 1: the non-AEAD algorithms (34 transforms), proposal 2: the
	// AEADs (36 transforms), both IKE with an empty SPI (RFC 7296 3.3.1).
	for i, want := range []int{34, 36} {
		p := sa.Proposals[i]
		if p.Number != uint8(i+1) || p.Protocol != ProtoIKE || len(p.SPI) != 0 || len(p.Transforms) != want {
			t.Errorf("proposal %d: number %d protocol %v SPI %x, %d transforms, want %d", i+1, p.Number, p.Protocol, p.SPI, len(p.Transforms), want)
		}
	}
	if got, want := sa.Proposals[0].Transforms[0], (Transform{Type: TransformENCR, ID: EncrAESCBC, KeyLength: 128}); got != want {
		t.Errorf("first transform %+v, want %+v", got, want)
	}
	if got := sa.Proposals[1].Get(TransformENCR)[0]; got.ID != EncrAESGCM16 || got.KeyLength != 128 {
		t.Errorf("first AEAD %+v, want AES-GCM-16 128", got)
	}
	if n := len(sa.Proposals[0].Get(TransformKE)); n != 13 {
		t.Errorf("%d KE transforms in proposal 1, want 13", n)
	}
	ke := m.Payloads[1].(*KE)
	if ke.Group != GroupCurve25519 || len(ke.Data) != 32 {
		t.Errorf("KE group %d with %d octets, want 31 with 32", ke.Group, len(ke.Data))
	}
	if got, want := m.Payloads[2].(*Nonce).Data, mustHex(t, "3e5eb4eefdae583c26848c758580ebbe40c4eb0c4ade424c829a753652e28d5c"); !bytes.Equal(got, want) {
		t.Errorf("nonce %x, want %x", got, want)
	}
	wantN := []NotifyType{NotifyNATDetectionSourceIP, NotifyNATDetectionDestinationIP,
		NotifyIKEv2FragmentationSupported, NotifySignatureHashAlgorithms, 16406 /* REDIRECT_SUPPORTED */}
	if got := notifyTypes(m.Payloads); !equalSlices(got, wantN) {
		t.Errorf("notifies %v, want %v", got, wantN)
	}
	// SIGNATURE_HASH_ALGORITHMS: SHA2-256, -384, -512 and Identity (RFC 7427 4, RFC 8420).
	if n := FindNotify(m.Payloads, NotifySignatureHashAlgorithms); n == nil || !bytes.Equal(n.Data, []byte{0, 2, 0, 3, 0, 4, 0, 5}) {
		t.Errorf("SIGNATURE_HASH_ALGORITHMS = %+v", n)
	}
	if m.Encrypted != nil {
		t.Error("Encrypted set on IKE_SA_INIT")
	}
	if err := Verify(IKESAInit, false, m.Payloads); err != nil {
		t.Errorf("Verify: %v", err)
	}
	checkReencode(t, m, b)
}

func TestStrongSwanIKESAInitResponse(t *testing.T) {
	b := mustHex(t, ssInitResp)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.SPIr != 0x41b52964b09b17a6 || !m.IsResponse() || m.IsInitiator() || m.Length != 248 {
		t.Errorf("header %+v", m.Header)
	}
	sa := m.Payloads[0].(*SA)
	want := Proposal{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
		{Type: TransformENCR, ID: EncrAESCBC, KeyLength: 128},
		{Type: TransformINTEG, ID: IntegHMACSHA256_128},
		{Type: TransformPRF, ID: PRFHMACSHA256},
		{Type: TransformKE, ID: GroupCurve25519},
	}}
	if len(sa.Proposals) != 1 || !equalProposal(sa.Proposals[0], want) {
		t.Errorf("SA %+v, want %+v", sa.Proposals, want)
	}
	wantN := []NotifyType{NotifyNATDetectionSourceIP, NotifyNATDetectionDestinationIP,
		NotifyIKEv2FragmentationSupported, NotifySignatureHashAlgorithms,
		16418 /* CHILDLESS_IKEV2_SUPPORTED */, 16404 /* MULTIPLE_AUTH_SUPPORTED */}
	if got := notifyTypes(m.Payloads); !equalSlices(got, wantN) {
		t.Errorf("notifies %v, want %v", got, wantN)
	}
	if err := Verify(IKESAInit, true, m.Payloads); err != nil {
		t.Errorf("Verify: %v", err)
	}
	checkReencode(t, m, b)
}

func equalProposal(a, b Proposal) bool {
	return a.Number == b.Number && a.Protocol == b.Protocol && bytes.Equal(a.SPI, b.SPI) && equalSlices(a.Transforms, b.Transforms)
}

func TestStrongSwanIKEAuthRequest(t *testing.T) {
	b := mustHex(t, ssAuthReq)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Exchange != IKEAuth || m.MessageID != 1 || len(m.Payloads) != 0 || m.Encrypted == nil {
		t.Fatalf("message %+v", m)
	}
	enc := m.Encrypted
	// AES-CBC with HMAC-SHA2-256-128: 16-octet IV, 336 octets of ciphertext,
	// 16-octet ICV (RFC 7296 3.14).
	if enc.NextPayload != PayloadIDi || len(enc.Body) != 368 {
		t.Errorf("SK next %v body %d octets, want IDi and 368", enc.NextPayload, len(enc.Body))
	}
	// charon logged the same 32 octets as its "assoc" data.
	wantAAD := mustHex(t, "f7abd3690c23338241b52964b09b17a62e202308000000010000019023000174")
	if !bytes.Equal(enc.AAD, wantAAD) {
		t.Errorf("AAD %x, want %x", enc.AAD, wantAAD)
	}
	if got := SKPrefix(m.Header, PayloadIDi, len(enc.Body)); !bytes.Equal(got, wantAAD) {
		t.Errorf("SKPrefix %x, want %x", got, wantAAD)
	}
	if !bytes.Equal(enc.Body, b[32:]) {
		t.Error("Body is not the rest of the message")
	}

	plain := mustHex(t, ssAuthReqPlain)
	ps, err := ParsePayloads(enc.NextPayload, plain)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []PayloadType{PayloadIDi, PayloadNotify, PayloadIDr, PayloadAUTH, PayloadSA, PayloadTSi, PayloadTSr,
		PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify}
	if got := payloadTypes(ps); !equalSlices(got, wantTypes) {
		t.Fatalf("payloads %v, want %v", got, wantTypes)
	}
	if id := ps[0].(*ID); id.Responder || id.IDType != IDFQDN || string(id.Data) != "left.example" {
		t.Errorf("IDi %+v", id)
	}
	if got, want := ps[0].(*ID).Body(), append([]byte{2, 0, 0, 0}, "left.example"...); !bytes.Equal(got, want) {
		t.Errorf("IDi Body %x, want %x", got, want)
	}
	if id := ps[2].(*ID); !id.Responder || string(id.Data) != "right.example" {
		t.Errorf("IDr %+v", id)
	}
	if a := ps[3].(*Auth); a.Method != AuthPSK || len(a.Data) != 32 {
		t.Errorf("AUTH %v with %d octets, want PSK with 32 (PRF_HMAC_SHA2_256)", a.Method, len(a.Data))
	}
	sa := ps[4].(*SA)
	if len(sa.Proposals) != 2 {
		t.Fatalf("%d ESP proposals, want 2", len(sa.Proposals))
	}
	for i, want := range []int{4, 9} {
		p := sa.Proposals[i]
		if p.Protocol != ProtoESP || !bytes.Equal(p.SPI, []byte{0x3f, 0x7f, 0x43, 0x3c}) || len(p.Transforms) != want {
			t.Errorf("proposal %d: %v SPI %x %d transforms, want ESP 3f7f433c %d", i+1, p.Protocol, p.SPI, len(p.Transforms), want)
		}
	}
	wantTSi := TrafficSelector{TSType: TSIPv4AddrRange, EndPort: 65535,
		StartAddr: netip.MustParseAddr("10.1.0.0"), EndAddr: netip.MustParseAddr("10.1.0.255")}
	if got := ps[5].(*TS); got.Responder || len(got.Selectors) != 1 || got.Selectors[0] != wantTSi {
		t.Errorf("TSi %+v, want %+v", got, wantTSi)
	}
	wantTSr := wantTSi
	wantTSr.StartAddr, wantTSr.EndAddr = netip.MustParseAddr("10.2.0.0"), netip.MustParseAddr("10.2.0.255")
	if got := ps[6].(*TS); !got.Responder || len(got.Selectors) != 1 || got.Selectors[0] != wantTSr {
		t.Errorf("TSr %+v, want %+v", got, wantTSr)
	}
	if FindNotify(ps, NotifyInitialContact) == nil || FindNotify(ps, NotifyMOBIKESupported) == nil {
		t.Error("INITIAL_CONTACT or MOBIKE_SUPPORTED missing")
	}
	if err := Verify(IKEAuth, false, ps); err != nil {
		t.Errorf("Verify: %v", err)
	}
	first, got, err := MarshalPayloads(ps)
	if err != nil || first != PayloadIDi || !bytes.Equal(got, plain) {
		t.Errorf("MarshalPayloads = %v, %x, %v; want IDi, %x", first, got, err, plain)
	}
}

func TestStrongSwanIKEAuthResponse(t *testing.T) {
	b := mustHex(t, ssAuthResp)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsResponse() || m.Encrypted == nil || m.Encrypted.NextPayload != PayloadIDr || len(m.Encrypted.Body) != 128 {
		t.Fatalf("message %+v", m)
	}
	if got := SKPrefix(m.Header, PayloadIDr, 128); !bytes.Equal(got, m.Encrypted.AAD) {
		t.Errorf("SKPrefix %x, want %x", got, m.Encrypted.AAD)
	}
	plain := mustHex(t, ssAuthRespPlain)
	ps, err := ParsePayloads(PayloadIDr, plain)
	if err != nil {
		t.Fatal(err)
	}
	// The IKE SA was set up but the Child SA refused (RFC 7296 2.21.2):
	// IDr, AUTH and an error notify without SA, TSi, TSr.
	wantTypes := []PayloadType{PayloadIDr, PayloadAUTH, PayloadNotify, PayloadNotify, PayloadNotify}
	if got := payloadTypes(ps); !equalSlices(got, wantTypes) {
		t.Fatalf("payloads %v, want %v", got, wantTypes)
	}
	if FindNotify(ps, NotifyTSUnacceptable) == nil {
		t.Error("TS_UNACCEPTABLE missing")
	}
	if err := Verify(IKEAuth, true, ps); err != nil {
		t.Errorf("Verify: %v", err)
	}
	first, got, err := MarshalPayloads(ps)
	if err != nil || first != PayloadIDr || !bytes.Equal(got, plain) {
		t.Errorf("MarshalPayloads = %v, %x, %v; want IDr, %x", first, got, err, plain)
	}
}
