package ike

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestParseHeader(t *testing.T) {
	good := Header{SPIi: 1, SPIr: 2, NextPayload: PayloadSA, Version: 0x20, Exchange: IKESAInit,
		Flags: FlagInitiator, MessageID: 7, Length: HeaderLen}
	b := good.Append(nil)
	if len(b) != HeaderLen {
		t.Fatalf("Append wrote %d octets", len(b))
	}
	h, err := ParseHeader(b)
	if err != nil || h != good {
		t.Fatalf("ParseHeader = %+v, %v; want %+v", h, err, good)
	}
	// Trailing bytes are fine for ParseHeader (not for Parse).
	if _, err := ParseHeader(append(b, 0, 0)); err != nil {
		t.Errorf("with trailing bytes: %v", err)
	}
	// The minor version is ignored (RFC 7296 3.1).
	minor := good
	minor.Version = 0x21
	if _, err := ParseHeader(minor.Append(nil)); err != nil {
		t.Errorf("minor version 1: %v", err)
	}

	tests := []struct {
		name    string
		mutate  func(h *Header)
		input   func(b []byte) []byte
		wantErr error
	}{
		{"short", nil, func(b []byte) []byte { return b[:HeaderLen-1] }, ErrMalformed},
		{"empty", nil, func(b []byte) []byte { return nil }, ErrMalformed},
		{"IKEv1", func(h *Header) { h.Version = 0x10 }, nil, ErrInvalidMajorVersion},
		{"IKEv3", func(h *Header) { h.Version = 0x30 }, nil, ErrInvalidMajorVersion},
		{"length below header", func(h *Header) { h.Length = HeaderLen - 1 }, nil, ErrMalformed},
		{"length beyond input", func(h *Header) { h.Length = HeaderLen + 1 }, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good
			if tt.mutate != nil {
				tt.mutate(&h)
			}
			in := h.Append(nil)
			if tt.input != nil {
				in = tt.input(in)
			}
			_, err := ParseHeader(in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrInvalidMajorVersion && errors.Is(err, ErrMalformed) {
				t.Error("a version error must not wrap ErrMalformed")
			}
		})
	}
}

func TestHeaderFlags(t *testing.T) {
	h := Header{Flags: FlagInitiator | FlagResponse}
	if !h.IsInitiator() || !h.IsResponse() {
		t.Error("flags not reported")
	}
	h.Flags = FlagVersion
	if h.IsInitiator() || h.IsResponse() {
		t.Error("flags reported that are not set")
	}
}

// TestRoundTripPayloads marshals every payload type alone and parses it
// back.
func TestRoundTripPayloads(t *testing.T) {
	for i, p := range samplePayloads() {
		t.Run(fmt.Sprintf("%d_%v", i, p.Type()), func(t *testing.T) {
			first, b, err := MarshalPayloads([]Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			if first != p.Type() {
				t.Errorf("first = %v, want %v", first, p.Type())
			}
			ps, err := ParsePayloads(first, b)
			if err != nil {
				t.Fatalf("ParsePayloads(%x): %v", b, err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], p) {
				t.Errorf("round trip:\n got %#v\nwant %#v", ps[0], p)
			}
		})
	}
}

// TestRoundTripMessage puts every payload in one message.
func TestRoundTripMessage(t *testing.T) {
	m := &Message{
		Header:   Header{SPIi: 0xa, SPIr: 0xb, Exchange: Informational, Flags: FlagResponse, MessageID: 9},
		Payloads: samplePayloads(),
	}
	b := mustMarshal(t, m)
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Header
	want.Version, want.NextPayload, want.Length = Version2, PayloadSA, uint32(len(b))
	if got.Header != want {
		t.Errorf("header %+v, want %+v", got.Header, want)
	}
	if !reflect.DeepEqual(got.Payloads, m.Payloads) {
		t.Errorf("payloads differ:\n got %#v\nwant %#v", got.Payloads, m.Payloads)
	}
	if m.Length != 0 || m.NextPayload != PayloadNone {
		t.Error("Marshal changed the receiver")
	}
	// Empty message (an INFORMATIONAL liveness check, RFC 7296 1.4).
	empty := &Message{Header: Header{Exchange: Informational}}
	b = mustMarshal(t, empty)
	if len(b) != HeaderLen {
		t.Fatalf("empty message of %d octets", len(b))
	}
	if got, err := Parse(b); err != nil || len(got.Payloads) != 0 || got.Encrypted != nil {
		t.Errorf("empty message: %+v, %v", got, err)
	}
}

// TestNoStrictPrefixParses checks that every strict prefix of a valid
// message is rejected: as is (its Length no longer matches), and with the
// Length patched so that only the payload chain can catch it.
func TestNoStrictPrefixParses(t *testing.T) {
	msgs := map[string][]byte{
		"constructed IKE_SA_INIT": mustMarshal(t, sampleInitRequest()),
		"all payloads":            mustMarshal(t, &Message{Payloads: samplePayloads()}),
		"strongSwan IKE_SA_INIT":  mustHex(t, ssInitReq),
		"strongSwan response":     mustHex(t, ssInitResp),
		"strongSwan IKE_AUTH":     mustHex(t, ssAuthReq),
	}
	for name, b := range msgs {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(b); err != nil {
				t.Fatalf("whole message: %v", err)
			}
			for i := range len(b) {
				if _, err := Parse(b[:i]); err == nil {
					t.Fatalf("prefix of %d octets parsed", i)
				}
				if i < HeaderLen {
					continue
				}
				p := bytes.Clone(b[:i])
				p[hdrLength], p[hdrLength+1], p[hdrLength+2], p[hdrLength+3] = 0, 0, byte(i>>8), byte(i)
				if m, err := Parse(p); err == nil {
					t.Fatalf("prefix of %d octets with patched length parsed: %+v", i, m)
				}
			}
		})
	}
	chains := map[string][]byte{
		"strongSwan IKE_AUTH plaintext": mustHex(t, ssAuthReqPlain),
		"strongSwan response plaintext": mustHex(t, ssAuthRespPlain),
	}
	for name, b := range chains {
		t.Run(name, func(t *testing.T) {
			first := PayloadType(PayloadIDi)
			if name == "strongSwan response plaintext" {
				first = PayloadIDr
			}
			if _, err := ParsePayloads(first, b); err != nil {
				t.Fatal(err)
			}
			for i := range len(b) {
				if _, err := ParsePayloads(first, b[:i]); err == nil {
					t.Fatalf("prefix of %d octets parsed", i)
				}
			}
		})
	}
}

func TestParseRejectsTrailingBytes(t *testing.T) {
	b := mustMarshal(t, sampleInitRequest())
	// After the header's Length.
	wantMalformed(t, func() error { _, err := Parse(append(bytes.Clone(b), 0)); return err }())
	// Inside Length but after the last payload.
	long := append(bytes.Clone(b), 0, 0, 0, 0)
	long[hdrLength+3] += 4
	_, err := Parse(long)
	wantMalformed(t, err)
}

func TestParsePayloadsEmpty(t *testing.T) {
	ps, err := ParsePayloads(PayloadNone, nil)
	if err != nil || len(ps) != 0 {
		t.Errorf("ParsePayloads(NONE, nil) = %v, %v", ps, err)
	}
	_, err = ParsePayloads(PayloadNone, []byte{0})
	wantMalformed(t, err)
	_, err = ParsePayloads(PayloadNonce, nil)
	wantMalformed(t, err)
}

func TestRejectPayloadLength(t *testing.T) {
	for _, plen := range []uint16{0, 1, 3, 25} {
		b := raw(PayloadNone, false, seq(20, 0))
		b[2], b[3] = byte(plen>>8), byte(plen)
		_, err := ParsePayloads(PayloadVendorID, b)
		wantMalformed(t, err)
	}
}

func TestUnknownPayloads(t *testing.T) {
	// RFC 7296 2.5: an unknown non-critical payload is skipped (kept here).
	chain := append(raw(PayloadNonce, false, []byte("ignore me")), raw(PayloadNone, false, seq(16, 0))...)
	ps, err := ParsePayloads(99, chain)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := ps[0].(*Unknown); !ok || u.PType != 99 || u.Critical || string(u.Body) != "ignore me" {
		t.Errorf("unknown payload = %#v", ps[0])
	}
	if _, ok := ps[1].(*Nonce); !ok {
		t.Errorf("second payload = %#v", ps[1])
	}

	// An unknown critical payload rejects the message with
	// UNSUPPORTED_CRITICAL_PAYLOAD.
	chain = append(raw(PayloadNonce, true, nil), raw(PayloadNone, false, seq(16, 0))...)
	_, err = ParsePayloads(99, chain)
	var uc *UnsupportedCriticalError
	if !errors.As(err, &uc) || uc.PayloadType != 99 {
		t.Fatalf("err = %v, want *UnsupportedCriticalError for type 99", err)
	}
	if errors.Is(err, ErrMalformed) {
		t.Error("UnsupportedCriticalError must not wrap ErrMalformed")
	}
	m := &Message{Header: Header{Exchange: IKESAInit}, Payloads: []Payload{&Unknown{PType: 99, Critical: true}}}
	if _, err := Parse(mustMarshal(t, m)); !errors.As(err, &uc) {
		t.Errorf("Parse: err = %v, want *UnsupportedCriticalError", err)
	}

	// The critical bit of a known payload is ignored (RFC 7296 3.2).
	if _, err := ParsePayloads(PayloadNonce, raw(PayloadNone, true, seq(16, 0))); err != nil {
		t.Errorf("critical Nonce: %v", err)
	}
}

func TestEncryptedPayload(t *testing.T) {
	h := Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}
	body := seq(48, 0)
	b := sealedMessage(h, PayloadIDi, body)
	prefix := SKPrefix(h, PayloadIDi, len(body))
	if len(prefix) != HeaderLen+4 {
		t.Fatalf("SKPrefix is %d octets", len(prefix))
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.NextPayload != PayloadSK || m.Length != uint32(len(b)) || m.Version != Version2 {
		t.Errorf("header %+v", m.Header)
	}
	e := m.Encrypted
	if e == nil || e.NextPayload != PayloadIDi || !bytes.Equal(e.Body, body) || !bytes.Equal(e.AAD, prefix) {
		t.Fatalf("Encrypted = %+v", e)
	}
	if cap(e.AAD) != len(e.AAD) {
		t.Error("AAD capacity not capped")
	}
	if _, err := m.Marshal(); err == nil {
		t.Error("Marshal of a message with Encrypted succeeded")
	}

	// Cleartext payloads before SK are returned.
	chain := append(raw(PayloadSK, false, []byte("vendor")), raw(PayloadIDi, false, body)...)
	h.NextPayload = PayloadVendorID
	m, err = Parse(rawMessage(h, chain))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Payloads) != 1 || m.Encrypted == nil || len(m.Encrypted.AAD) != HeaderLen+14 {
		t.Errorf("message %+v", m)
	}
}

func TestRejectSKNotLast(t *testing.T) {
	h := Header{Exchange: IKEAuth, NextPayload: PayloadSK}
	chain := append(raw(PayloadVendorID, false, seq(32, 0)), raw(PayloadNone, false, []byte("v"))...)
	_, err := Parse(rawMessage(h, chain))
	wantMalformed(t, err)
}

func TestRejectSKInsideEncrypted(t *testing.T) {
	for _, typ := range []PayloadType{PayloadSK, PayloadSKF} {
		_, err := ParsePayloads(typ, raw(PayloadNone, false, seq(32, 0)))
		wantMalformed(t, err)
	}
}

func TestSKPrefixPanicsOnBadLength(t *testing.T) {
	for _, n := range []int{-1, 65532} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SKPrefix(%d) did not panic", n)
				}
			}()
			SKPrefix(Header{}, PayloadIDi, n)
		}()
	}
	if b := SKPrefix(Header{}, PayloadIDi, 65531); len(b) != 32 || b[30] != 0xff || b[31] != 0xff {
		t.Errorf("largest SKPrefix = %x", b)
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		p    Payload
	}{
		{"empty SA", &SA{}},
		{"ESP with 8-octet SPI", &SA{Proposals: []Proposal{{Protocol: ProtoESP, SPI: seq(8, 0)}}}},
		{"IKE with 4-octet SPI", &SA{Proposals: []Proposal{{Protocol: ProtoIKE, SPI: seq(4, 0)}}}},
		{"protocol 0", &SA{Proposals: []Proposal{{}}}},
		{"unknown attribute", &SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: []Transform{{Type: TransformENCR, Unknown: true}}}}}},
		{"short nonce", &Nonce{Data: seq(15, 0)}},
		{"long nonce", &Nonce{Data: seq(257, 0)}},
		{"empty KE", &KE{Group: 31}},
		{"empty AUTH", &Auth{Method: AuthPSK}},
		{"empty CERT", &Cert{Encoding: 4}},
		{"empty ID", &ID{IDType: IDFQDN}},
		{"short IPv4 ID", &ID{IDType: IDIPv4Addr, Data: seq(3, 0)}},
		{"notify ESP with 8-octet SPI", &Notify{Protocol: ProtoESP, SPI: seq(8, 0)}},
		{"notify without protocol with SPI", &Notify{SPI: seq(4, 0)}},
		{"IKE delete with SPIs", &Delete{Protocol: ProtoIKE, SPIs: [][]byte{seq(8, 0)}}},
		{"ESP delete with short SPI", &Delete{Protocol: ProtoESP, SPIs: [][]byte{seq(3, 0)}}},
		{"delete of protocol 0", &Delete{}},
		{"no selectors", &TS{}},
		{"IPv4 type with IPv6 address", &TS{Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange}}}},
		{"unknown TS type", &TS{Selectors: []TrafficSelector{{TSType: 9}}}},
		{"CP attribute type too big", &CP{Attributes: []CPAttribute{{Type: 0x8000}}}},
		{"EAP length mismatch", &EAP{Data: []byte{1, 1, 0, 5}}},
		{"Unknown with a known type", &Unknown{PType: PayloadSA}},
		{"Unknown with type SK", &Unknown{PType: PayloadSK}},
		{"huge vendor ID", &VendorID{Data: make([]byte, 65532)}},
		{"nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, b, err := MarshalPayloads([]Payload{tt.p}); err == nil {
				t.Fatalf("marshalled to %x", b)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
	if _, err := (&Message{Header: Header{Version: 0x10}}).Marshal(); err == nil {
		t.Error("marshalled IKEv1 version")
	}
	if _, b, err := MarshalPayloads([]Payload{&VendorID{Data: make([]byte, 65531)}}); err != nil || len(b) != 65535 {
		t.Errorf("largest payload: %d octets, %v", len(b), err)
	}
}

// foreignPayload is a Payload this package cannot marshal.
type foreignPayload struct{}

func (foreignPayload) Type() PayloadType { return PayloadVendorID }

func TestMarshalRejectsForeignPayload(t *testing.T) {
	if _, _, err := MarshalPayloads([]Payload{foreignPayload{}}); err == nil {
		t.Error("marshalled a foreign payload type")
	}
}

func TestFindNotify(t *testing.T) {
	ps := sampleInitRequest().Payloads
	if n := FindNotify(ps, NotifyNATDetectionDestinationIP); n == nil || n.Data[0] != 2 {
		t.Errorf("FindNotify = %+v", n)
	}
	if n := FindNotify(ps, NotifyCookie); n != nil {
		t.Errorf("FindNotify(COOKIE) = %+v", n)
	}
	if n := FindNotify(nil, NotifyCookie); n != nil {
		t.Error("FindNotify(nil) != nil")
	}
}

func TestIDBody(t *testing.T) {
	id := &ID{IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}
	want := []byte{1, 0, 0, 0, 192, 0, 2, 1}
	if got := id.Body(); !bytes.Equal(got, want) {
		t.Errorf("Body = %x, want %x", got, want)
	}
	// The body is what follows the generic header on the wire.
	_, b, err := MarshalPayloads([]Payload{id})
	if err != nil || !bytes.Equal(b[4:], want) {
		t.Errorf("marshalled %x, %v", b, err)
	}
}

func TestParsedSlicesAreCapped(t *testing.T) {
	b := mustMarshal(t, sampleInitRequest())
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Payloads[2].(*Nonce)
	_ = append(n.Data, 0xee) // must not overwrite the next payload
	if _, err := Parse(b); err != nil {
		t.Errorf("append to a parsed slice changed the input: %v", err)
	}
}
