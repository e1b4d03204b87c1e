package ike

import (
	"encoding/binary"
	"fmt"
)

// Encrypted Fragment payload (RFC 7383 2.5):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Next Payload  |C|  RESERVED   |         Payload Length        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|        Fragment Number        |        Total Fragments        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Initialization Vector                     |
//	~                      Encrypted content                        ~
//	|                   Integrity Checksum Data                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	skfNumber     = 0
	skfTotal      = 2
	skfFieldsLen  = 4
	skfPrefixLen  = HeaderLen + genHeaderLen + skfFieldsLen
	skfMaxBodyLen = maxBody - skfFieldsLen
)

// EncryptedFragment is one Encrypted Fragment (SKF) payload, still
// encrypted (RFC 7383 2.5). Parse has checked only its syntax: Fragment
// Number and Total Fragments are non-zero and Number <= Total.
type EncryptedFragment struct {
	// NextPayload is the type of the first inner payload in fragment 1
	// and must be ignored in the others (RFC 7383 2.5).
	NextPayload    PayloadType
	FragmentNumber uint16
	TotalFragments uint16
	// AAD is the IKE header through the Total Fragments field: what the
	// integrity check covers besides the ciphertext (RFC 7383 2.5, RFC
	// 5282 5.1 applied to SKF).
	AAD  []byte
	Body []byte // IV || ciphertext || ICV, a sub-slice of the input
}

// parseFragment parses the body of an SKF payload that starts at msg[off]
// (its generic header) and runs to the end of msg.
func parseFragment(next PayloadType, msg []byte, off int) (*EncryptedFragment, error) {
	body := msg[off+genHeaderLen:]
	if len(body) < skfFieldsLen {
		return nil, malformed("ike: SKF payload: %d octets, want at least %d", len(body), skfFieldsLen)
	}
	num := binary.BigEndian.Uint16(body[skfNumber:])
	total := binary.BigEndian.Uint16(body[skfTotal:])
	if num == 0 || total == 0 || num > total {
		return nil, malformed("ike: SKF payload: fragment %d of %d", num, total)
	}
	aadEnd := off + genHeaderLen + skfFieldsLen
	rest := body[skfFieldsLen:]
	return &EncryptedFragment{
		NextPayload:    next,
		FragmentNumber: num,
		TotalFragments: total,
		AAD:            msg[:aadEnd:aadEnd],
		Body:           rest[:len(rest):len(rest)],
	}, nil
}

// SKFPrefix returns the 36 bytes that precede the body of an encrypted
// fragment message whose only payload is SKF (RFC 7383 2.5): the header h
// with NextPayload SKF and Length 36+bodyLen (a zero Version is written as
// 0x20), the SKF generic payload header (Next Payload firstInner, which the
// RFC wants only in fragment 1 and zero elsewhere), Fragment Number and
// Total Fragments. These bytes are the AAD of the AEAD. It panics if the
// fragment numbers are invalid or bodyLen does not fit a payload length.
func SKFPrefix(h Header, firstInner PayloadType, number, total uint16, bodyLen int) []byte {
	if bodyLen < 0 || bodyLen > skfMaxBodyLen {
		panic(fmt.Sprintf("ike: SKFPrefix: body length %d out of range", bodyLen))
	}
	if number == 0 || number > total {
		panic(fmt.Sprintf("ike: SKFPrefix: fragment %d of %d", number, total))
	}
	if number != 1 {
		firstInner = PayloadNone
	}
	h.NextPayload = PayloadSKF
	h.Length = uint32(skfPrefixLen + bodyLen)
	if h.Version == 0 {
		h.Version = Version2
	}
	b := h.Append(make([]byte, 0, skfPrefixLen))
	b = binary.BigEndian.AppendUint16(append(b, byte(firstInner), 0), uint16(genHeaderLen+skfFieldsLen+bodyLen))
	b = binary.BigEndian.AppendUint16(b, number)
	return binary.BigEndian.AppendUint16(b, total)
}

// SKFOverhead is the number of octets an SKF message adds around its body
// (IV, ciphertext and ICV): the IKE header, the SKF payload header and the
// fragment fields (RFC 7383 2.5.1).
const SKFOverhead = skfPrefixLen
