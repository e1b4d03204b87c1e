package ike

import (
	"bytes"
	"reflect"
	"testing"
)

func fuzzSeedMessages(f *testing.F) [][]byte {
	seeds := [][]byte{
		mustHex(f, ssInitReq),
		mustHex(f, ssInitResp),
		mustHex(f, ssAuthReq),
		mustHex(f, ssAuthResp),
		mustMarshal(f, sampleInitRequest()),
		mustMarshal(f, &Message{Header: Header{Exchange: Informational}, Payloads: samplePayloads()}),
		mustMarshal(f, &Message{Header: Header{Exchange: IKESAInit, Flags: FlagResponse},
			Payloads: []Payload{&Notify{NotifyType: NotifyCookie, Data: seq(16, 1)}}}),
	}
	_, inner, err := MarshalPayloads(sampleAuthRequest())
	if err != nil {
		f.Fatal(err)
	}
	h := Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}
	seeds = append(seeds, sealedMessage(h, PayloadIDi, append(seq(8, 0), inner...)))
	seeds = append(seeds, fragmentMessage(h, PayloadIDi, 1, 3, seq(40, 0)), fragmentMessage(h, PayloadNone, 3, 3, seq(24, 9)))
	return seeds
}

// FuzzParse feeds arbitrary messages to Parse: it must never panic, and
// whatever it accepts must marshal to a message that parses to the same
// thing (parse(marshal(parse(x))) == parse(x)).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if m.Fragment != nil {
			checkFragmentRebuild(t, m)
			return
		}
		if m.Encrypted != nil {
			if len(m.Payloads) > 0 {
				return
			}
			b2 := sealedMessage(m.Header, m.Encrypted.NextPayload, m.Encrypted.Body)
			m2, err := Parse(b2)
			if err != nil {
				t.Fatalf("rebuilt encrypted message does not parse: %v", err)
			}
			if m2.Header != m.Header || m2.Encrypted.NextPayload != m.Encrypted.NextPayload ||
				!bytes.Equal(m2.Encrypted.Body, m.Encrypted.Body) || !bytes.Equal(m2.Encrypted.AAD, b2[:HeaderLen+4]) {
				t.Fatalf("rebuilt encrypted message differs:\n got %+v %+v\nwant %+v %+v", m2.Header, m2.Encrypted, m.Header, m.Encrypted)
			}
			return
		}
		b2, err := m.Marshal()
		if err != nil {
			if hasUnknownTransform(m.Payloads) {
				return
			}
			t.Fatalf("parsed message does not marshal: %v", err)
		}
		m2, err := Parse(b2)
		if err != nil {
			t.Fatalf("marshalled message does not parse: %v\n%x", err, b2)
		}
		if m2.Header != m.Header {
			t.Fatalf("header changed: %+v -> %+v", m.Header, m2.Header)
		}
		if !reflect.DeepEqual(m2.Payloads, m.Payloads) {
			t.Fatalf("payloads changed:\n%#v\n%#v", m.Payloads, m2.Payloads)
		}
		b3, err := m2.Marshal()
		if err != nil || !bytes.Equal(b3, b2) {
			t.Fatalf("marshal not stable: %v", err)
		}
		_ = Verify(m.Exchange, m.IsResponse(), m.Payloads)
	})
}

// FuzzParsePayloads does the same for a payload chain (the plaintext of an
// SK payload).
func FuzzParsePayloads(f *testing.F) {
	for _, ps := range [][]Payload{sampleAuthRequest(), samplePayloads(), sampleInitRequest().Payloads} {
		first, b, err := MarshalPayloads(ps)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(first), b)
	}
	f.Add(uint8(PayloadIDi), mustHex(f, ssAuthReqPlain))
	f.Add(uint8(PayloadIDr), mustHex(f, ssAuthRespPlain))
	f.Add(uint8(PayloadNone), []byte{})
	f.Fuzz(func(t *testing.T, first uint8, b []byte) {
		ps, err := ParsePayloads(PayloadType(first), b)
		if err != nil {
			return
		}
		for _, resp := range []bool{false, true} {
			for e := IKESAInit; e <= Informational; e++ {
				_ = Verify(e, resp, ps)
			}
		}
		first2, b2, err := MarshalPayloads(ps)
		if err != nil {
			if hasUnknownTransform(ps) {
				return
			}
			t.Fatalf("parsed payloads do not marshal: %v", err)
		}
		if first2 != PayloadType(first) {
			t.Fatalf("first payload %v, want %v", first2, PayloadType(first))
		}
		ps2, err := ParsePayloads(first2, b2)
		if err != nil {
			t.Fatalf("marshalled payloads do not parse: %v\n%x", err, b2)
		}
		if !reflect.DeepEqual(ps2, ps) {
			t.Fatalf("payloads changed:\n%#v\n%#v", ps, ps2)
		}
	})
}
