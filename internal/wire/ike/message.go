package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Generic payload header (RFC 7296 3.2):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Next Payload  |C|  RESERVED   |         Payload Length        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	genNextPayload = 0
	genFlags       = 1
	genLength      = 2
	genHeaderLen   = 4

	flagCritical = 0x80

	// maxBody is the largest payload body the 16-bit Payload Length allows.
	maxBody = math.MaxUint16 - genHeaderLen
)

// Payload is one IKEv2 payload. The parser returns pointers (*SA, *KE, ...,
// *Unknown); MarshalPayloads accepts the same pointer types.
type Payload interface {
	Type() PayloadType
}

// bodyMarshaler is implemented by every payload type of this package.
type bodyMarshaler interface {
	// appendBody appends the payload body (everything after the generic
	// payload header), or fails if the result would not parse.
	appendBody(b []byte) ([]byte, error)
}

// Message is a parsed IKE message (RFC 7296 3.1 and 3.2).
type Message struct {
	Header
	Payloads  []Payload          // the cleartext payloads before any SK payload
	Encrypted *Encrypted         // non-nil if the message carries an SK payload (which must be the last payload)
	Fragment  *EncryptedFragment // non-nil if the message carries an SKF payload (RFC 7383; the last payload)
}

// Encrypted is the Encrypted and Authenticated (SK) payload of a message,
// still encrypted (RFC 7296 3.14).
type Encrypted struct {
	NextPayload PayloadType // type of the first payload inside
	AAD         []byte      // raw bytes: IKE header through the end of the SK generic payload header (RFC 5282 5.1)
	Body        []byte      // IV || ciphertext || ICV, a sub-slice of the input
}

// Parse parses a whole IKE message. The header Length must equal len(b)
// exactly. Every payload before an SK payload is parsed; an SK payload must
// be the last one (RFC 7296 3.14) and is returned, still encrypted, in
// m.Encrypted. An SKF payload (RFC 7383 2.5) must be the last one too and is
// returned, still encrypted, in m.Fragment.
//
// Errors wrap ErrMalformed, except ErrInvalidMajorVersion and
// *UnsupportedCriticalError. The returned payloads alias b.
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int(h.Length) != len(b) {
		return nil, malformed("ike: header length %d, message has %d octets", h.Length, len(b))
	}
	m := &Message{Header: h}
	if m.Payloads, m.Encrypted, m.Fragment, err = parseChain(h.NextPayload, b, HeaderLen, true); err != nil {
		return nil, err
	}
	return m, nil
}

// ParsePayloads parses a chain of payloads that starts with type first and
// fills b exactly, e.g. the decrypted contents of an SK payload (RFC 7296
// 3.14). SK and SKF payloads are not allowed in it. The returned payloads
// alias b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	ps, _, _, err := parseChain(first, b, 0, false)
	return ps, err
}

// parseChain walks the payload chain in msg[start:]. In an outer chain (a
// whole message) an SK or SKF payload ends the chain and must be its last
// payload (RFC 7296 3.14, RFC 7383 2.5).
func parseChain(first PayloadType, msg []byte, start int, outer bool) ([]Payload, *Encrypted, *EncryptedFragment, error) {
	var ps []Payload
	next := first
	off := start
	for i := 0; next != PayloadNone; i++ {
		t := next
		rest := msg[off:]
		if len(rest) < genHeaderLen {
			return nil, nil, nil, malformed("ike: payload %d (%v): %d octets left, want at least %d", i, t, len(rest), genHeaderLen)
		}
		next = PayloadType(rest[genNextPayload])
		critical := rest[genFlags]&flagCritical != 0
		plen := int(binary.BigEndian.Uint16(rest[genLength:]))
		if plen < genHeaderLen || plen > len(rest) {
			return nil, nil, nil, malformed("ike: payload %d (%v): length %d, %d octets left", i, t, plen, len(rest))
		}
		body := rest[genHeaderLen:plen:plen]

		switch {
		case t == PayloadSK || t == PayloadSKF:
			if !outer {
				return nil, nil, nil, malformed("ike: payload %d: %v payload inside an encrypted payload", i, t)
			}
			if plen != len(rest) {
				return nil, nil, nil, malformed("ike: payload %d: %v payload is not the last payload", i, t)
			}
			if t == PayloadSKF {
				f, err := parseFragment(next, msg, off)
				return ps, nil, f, err
			}
			aadEnd := off + genHeaderLen
			return ps, &Encrypted{NextPayload: next, AAD: msg[:aadEnd:aadEnd], Body: body}, nil, nil
		case t.known():
			p, err := parseBody(t, body)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("ike: payload %d (%v): %w", i, t, err)
			}
			ps = append(ps, p)
		case critical:
			// RFC 7296 2.5: reject the whole message.
			return nil, nil, nil, &UnsupportedCriticalError{PayloadType: t}
		default:
			// RFC 7296 2.5: skip unknown non-critical payloads.
			ps = append(ps, &Unknown{PType: t, Body: sub(body, 0, len(body))})
		}
		off += plen
	}
	if off != len(msg) {
		return nil, nil, nil, malformed("ike: %d octets after the last payload", len(msg)-off)
	}
	return ps, nil, nil, nil
}

// parseBody parses the body of a payload of a known type t.
func parseBody(t PayloadType, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return parseSA(body)
	case PayloadKE:
		return parseKE(body)
	case PayloadIDi, PayloadIDr:
		return parseID(t == PayloadIDr, body)
	case PayloadCERT:
		return parseCert(body)
	case PayloadCERTREQ:
		return parseCertReq(body)
	case PayloadAUTH:
		return parseAuth(body)
	case PayloadNonce:
		return parseNonce(body)
	case PayloadNotify:
		return parseNotify(body)
	case PayloadDelete:
		return parseDelete(body)
	case PayloadVendorID:
		return &VendorID{Data: sub(body, 0, len(body))}, nil
	case PayloadTSi, PayloadTSr:
		return parseTS(t == PayloadTSr, body)
	case PayloadCP:
		return parseCP(body)
	case PayloadEAP:
		return parseEAP(body)
	}
	return nil, malformed("no parser for payload type %d", uint8(t))
}

// Marshal encodes a cleartext message: it computes the Next Payload chain
// and the Length; a zero Version is written as 0x20. Encrypted must be nil
// (encrypted messages are built with SKPrefix). The receiver is not changed.
func (m *Message) Marshal() ([]byte, error) {
	if m.Encrypted != nil {
		return nil, errors.New("ike: marshal: message with an Encrypted payload (use SKPrefix)")
	}
	h := m.Header
	if h.Version == 0 {
		h.Version = Version2
	}
	if h.Version>>4 != 2 {
		return nil, fmt.Errorf("ike: marshal: version %#x is not IKEv2", h.Version)
	}
	b := h.Append(make([]byte, 0, 512))
	first, b, err := appendPayloads(b, m.Payloads)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > math.MaxUint32 {
		return nil, errors.New("ike: marshal: message too long")
	}
	b[hdrNextPayload] = byte(first)
	binary.BigEndian.PutUint32(b[hdrLength:], uint32(len(b)))
	return b, nil
}

// MarshalPayloads encodes a payload chain, e.g. the plaintext of an SK
// payload, and returns the type of its first payload.
func MarshalPayloads(ps []Payload) (first PayloadType, b []byte, err error) {
	first, b, err = appendPayloads(nil, ps)
	if err != nil {
		return PayloadNone, nil, err
	}
	return first, b, nil
}

// appendPayloads appends the chain of ps to b and returns the first type.
func appendPayloads(b []byte, ps []Payload) (PayloadType, []byte, error) {
	first := PayloadNone
	prev := -1 // offset of the previous generic header
	for i, p := range ps {
		if p == nil {
			return PayloadNone, nil, fmt.Errorf("ike: marshal: payload %d is nil", i)
		}
		bm, ok := p.(bodyMarshaler)
		if !ok {
			return PayloadNone, nil, fmt.Errorf("ike: marshal: payload %d: unsupported type %T", i, p)
		}
		t := p.Type()
		start := len(b)
		flags := byte(0)
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = flagCritical
		}
		b = append(b, 0, flags, 0, 0)
		var err error
		b, err = bm.appendBody(b)
		if err != nil {
			return PayloadNone, nil, fmt.Errorf("ike: marshal: payload %d (%v): %w", i, t, err)
		}
		n := len(b) - start
		if n > math.MaxUint16 {
			return PayloadNone, nil, fmt.Errorf("ike: marshal: payload %d (%v): %d octets, too long", i, t, n)
		}
		binary.BigEndian.PutUint16(b[start+genLength:], uint16(n))
		if prev < 0 {
			first = t
		} else {
			b[prev+genNextPayload] = byte(t)
		}
		prev = start
	}
	return first, b, nil
}

// SKPrefix returns the 32 bytes that precede the body of an encrypted
// message whose only payload is SK (RFC 7296 3.14): the header h with
// NextPayload SK and Length 32+bodyLen (a zero Version is written as 0x20),
// then the SK generic payload header (Next Payload firstInner, critical bit
// clear, length 4+bodyLen). These bytes are the AAD of the AEAD (RFC 5282
// 5.1). It panics if bodyLen is negative or does not fit a payload length.
func SKPrefix(h Header, firstInner PayloadType, bodyLen int) []byte {
	if bodyLen < 0 || bodyLen > maxBody {
		panic(fmt.Sprintf("ike: SKPrefix: body length %d out of range", bodyLen))
	}
	h.NextPayload = PayloadSK
	h.Length = uint32(HeaderLen + genHeaderLen + bodyLen)
	if h.Version == 0 {
		h.Version = Version2
	}
	b := h.Append(make([]byte, 0, HeaderLen+genHeaderLen))
	return binary.BigEndian.AppendUint16(append(b, byte(firstInner), 0), uint16(genHeaderLen+bodyLen))
}

// Unknown is a payload of a type this package does not parse: an unknown
// non-critical payload (RFC 7296 2.5). PType SKF is allowed for building
// test messages (Parse returns SKF as Message.Fragment). Marshalling one with Critical set is
// allowed (to test a peer's UNSUPPORTED_CRITICAL_PAYLOAD handling), although
// this package's parser rejects the result.
type Unknown struct {
	PType    PayloadType
	Critical bool
	Body     []byte
}

// Type returns PType.
func (u *Unknown) Type() PayloadType { return u.PType }

func (u *Unknown) appendBody(b []byte) ([]byte, error) {
	if u.PType == PayloadNone || u.PType == PayloadSK || (u.PType.known() && u.PType != PayloadSKF) {
		return nil, fmt.Errorf("Unknown payload with type %v: use the payload's own type", u.PType)
	}
	return append(b, u.Body...), nil
}
