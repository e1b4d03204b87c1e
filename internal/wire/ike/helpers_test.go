package ike

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// raw builds one payload: generic header (RFC 7296 3.2) plus body.
func raw(next PayloadType, critical bool, body []byte) []byte {
	flags := byte(0)
	if critical {
		flags = flagCritical
	}
	b := []byte{byte(next), flags, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(body)))
	return append(b, body...)
}

// rawMessage builds a message from a header and the bytes of its payload
// chain, setting the Length.
func rawMessage(h Header, chain []byte) []byte {
	h.Length = uint32(HeaderLen + len(chain))
	if h.Version == 0 {
		h.Version = Version2
	}
	return append(h.Append(nil), chain...)
}

// proposalBytes builds a proposal substructure (RFC 7296 3.3.1).
func proposalBytes(last, num byte, proto ProtocolID, spi []byte, numTransforms byte, transforms ...[]byte) []byte {
	b := []byte{last, 0, 0, 0, num, byte(proto), byte(len(spi)), numTransforms}
	b = append(b, spi...)
	for _, t := range transforms {
		b = append(b, t...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// transformBytes builds a transform substructure (RFC 7296 3.3.2).
func transformBytes(last byte, typ TransformType, id uint16, attrs ...byte) []byte {
	b := []byte{last, 0, 0, 0, byte(typ), 0, byte(id >> 8), byte(id)}
	b = append(b, attrs...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func parseOne(t PayloadType, body []byte) (Payload, error) {
	ps, err := ParsePayloads(t, raw(PayloadNone, false, body))
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// wantMalformed fails unless err wraps ErrMalformed.
func wantMalformed(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("parsed, want an error")
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %q does not wrap ErrMalformed", err)
	}
	t.Logf("rejected: %v", err)
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// samplePayloads has at least one value of every payload type, with the
// optional fields both empty and set.
func samplePayloads() []Payload {
	return []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: EncrAESGCM16, KeyLength: 256},
				{Type: TransformENCR, ID: EncrChaCha20Poly1305},
				{Type: TransformPRF, ID: PRFHMACSHA256},
				{Type: TransformKE, ID: GroupCurve25519},
				{Type: TransformKE, ID: GroupECP256},
			}},
			{Number: 2, Protocol: ProtoIKE, SPI: seq(8, 1), Transforms: []Transform{
				{Type: TransformENCR, ID: EncrAESCBC, KeyLength: 128},
				{Type: TransformINTEG, ID: IntegHMACSHA256_128},
				{Type: TransformPRF, ID: PRFHMACSHA256},
				{Type: TransformKE, ID: GroupMODP2048},
			}},
		}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, SPI: []byte{0xc0, 0, 0, 1}, Transforms: []Transform{
			{Type: TransformENCR, ID: EncrAESGCM16, KeyLength: 128},
			{Type: TransformESN, ID: ESNNone},
			{Type: TransformESN, ID: ESNYes},
		}}}},
		&SA{Proposals: []Proposal{{Number: 7, Protocol: ProtoAH, SPI: seq(4, 9)}}},
		&KE{Group: GroupCurve25519, Data: seq(32, 0x40)},
		&Nonce{Data: seq(MinNonceLen, 0)},
		&Nonce{Data: seq(MaxNonceLen, 0)},
		&ID{IDType: IDFQDN, Data: []byte("moon.example")},
		&ID{Responder: true, IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}},
		&ID{IDType: IDIPv6Addr, Data: seq(16, 0x20)},
		&ID{Responder: true, IDType: IDRFC822Addr, Data: []byte("carol@example.org")},
		&Cert{Encoding: CertX509Signature, Data: seq(40, 0x30)},
		&CertReq{Encoding: CertX509Signature},
		&CertReq{Encoding: CertX509Signature, Data: seq(20, 0xa0)},
		&Auth{Method: AuthPSK, Data: seq(32, 0x11)},
		&Auth{Method: AuthDigitalSignature, Data: seq(80, 0x11)},
		&Notify{NotifyType: NotifyInitialContact},
		&Notify{NotifyType: NotifyCookie, Data: seq(20, 0x55)},
		&Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, NotifyType: NotifyRekeySA},
		&Notify{Protocol: ProtoAH, SPI: []byte{1, 2, 3, 4}, NotifyType: NotifyChildSANotFound},
		&Notify{Protocol: ProtoIKE, SPI: seq(8, 1), NotifyType: NotifyInvalidIKESPI, Data: []byte{0, 14}},
		&Notify{Protocol: ProtoIKE, NotifyType: NotifyInvalidKEPayload, Data: []byte{0, 31}},
		&Delete{Protocol: ProtoIKE},
		&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		&Delete{Protocol: ProtoAH, SPIs: [][]byte{{9, 9, 9, 9}}},
		&VendorID{},
		&VendorID{Data: []byte("strongSwan")},
		&TS{Selectors: []TrafficSelector{
			{TSType: TSIPv4AddrRange, EndPort: 65535, StartAddr: netip.MustParseAddr("10.1.0.0"), EndAddr: netip.MustParseAddr("10.1.0.255")},
			{TSType: TSIPv6AddrRange, IPProtocol: 6, StartPort: 443, EndPort: 443,
				StartAddr: netip.MustParseAddr("fec0::"), EndAddr: netip.MustParseAddr("fec0::ffff")},
		}},
		&TS{Responder: true, Selectors: []TrafficSelector{
			{TSType: TSIPv4AddrRange, IPProtocol: 17, StartPort: 65535, EndPort: 0, // OPAQUE ports (RFC 7296 3.13.1)
				StartAddr: netip.MustParseAddr("192.0.2.7"), EndAddr: netip.MustParseAddr("192.0.2.7")},
		}},
		&CP{CfgType: CfgRequest, Attributes: []CPAttribute{{Type: CfgInternalIP4Address}, {Type: CfgInternalIP4DNS}}},
		&CP{CfgType: CfgReply, Attributes: []CPAttribute{{Type: CfgInternalIP4Address, Value: []byte{10, 3, 0, 1}}}},
		&CP{CfgType: CfgAck},
		&EAP{Data: []byte{2, 1, 0, 9, 1, 'u', 's', 'e', 'r'}},
		&EAP{Data: []byte{3, 1, 0, 4}},
		&Unknown{PType: 54, Body: []byte("puzzle")},
		&Unknown{PType: 200},
	}
}

// hasUnknownTransform reports whether a parsed payload list holds a
// transform with unknown attributes (which cannot be marshalled back).
func hasUnknownTransform(ps []Payload) bool {
	for _, p := range ps {
		if sa, ok := p.(*SA); ok {
			for _, pr := range sa.Proposals {
				for _, t := range pr.Transforms {
					if t.Unknown {
						return true
					}
				}
			}
		}
	}
	return false
}

func mustMarshal(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

// sampleInitRequest is an IKE_SA_INIT request like the one of RFC 7296 1.2
// (HDR, SAi1, KEi, Ni) with the usual NAT detection notifies.
func sampleInitRequest() *Message {
	return &Message{
		Header: Header{SPIi: 0x0102030405060708, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{
			&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: EncrAESGCM16, KeyLength: 256},
				{Type: TransformPRF, ID: PRFHMACSHA256},
				{Type: TransformKE, ID: GroupCurve25519},
			}}}},
			&KE{Group: GroupCurve25519, Data: seq(32, 0x40)},
			&Nonce{Data: seq(32, 0x80)},
			&Notify{NotifyType: NotifyNATDetectionSourceIP, Data: seq(20, 1)},
			&Notify{NotifyType: NotifyNATDetectionDestinationIP, Data: seq(20, 2)},
			&Notify{NotifyType: NotifyIKEv2FragmentationSupported},
		},
	}
}

// sampleAuthRequest returns the inner payloads of an IKE_AUTH request
// (RFC 7296 1.2: IDi, [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr).
func sampleAuthRequest() []Payload {
	return []Payload{
		&ID{IDType: IDFQDN, Data: []byte("left.example")},
		&Notify{NotifyType: NotifyInitialContact},
		&ID{Responder: true, IDType: IDFQDN, Data: []byte("right.example")},
		&Auth{Method: AuthPSK, Data: seq(32, 7)},
		&CP{CfgType: CfgRequest, Attributes: []CPAttribute{{Type: CfgInternalIP4Address}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, SPI: []byte{0xc1, 2, 3, 4}, Transforms: []Transform{
			{Type: TransformENCR, ID: EncrAESGCM16, KeyLength: 128},
			{Type: TransformESN, ID: ESNNone},
		}}}},
		&TS{Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange, EndPort: 65535,
			StartAddr: netip.MustParseAddr("10.1.0.0"), EndAddr: netip.MustParseAddr("10.1.0.255")}}},
		&TS{Responder: true, Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange, EndPort: 65535,
			StartAddr: netip.MustParseAddr("10.2.0.0"), EndAddr: netip.MustParseAddr("10.2.0.255")}}},
	}
}

// sealedMessage builds an encrypted message the way an engine does: the
// SKPrefix, then a body (here arbitrary bytes standing for IV, ciphertext
// and ICV).
func sealedMessage(h Header, first PayloadType, body []byte) []byte {
	return append(SKPrefix(h, first, len(body)), body...)
}
