package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Group uint16
	Data  []byte
}

// Type returns PayloadKE.
func (*KE) Type() PayloadType { return PayloadKE }

// Key Exchange payload body (RFC 7296 3.4):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Diffie-Hellman Group Num    |           RESERVED            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                       Key Exchange Data                       ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const keFixedLen = 4

func parseKE(body []byte) (*KE, error) {
	if len(body) <= keFixedLen {
		return nil, malformed("%d octets, want a 4-octet header and key exchange data", len(body))
	}
	return &KE{Group: binary.BigEndian.Uint16(body), Data: sub(body, keFixedLen, len(body))}, nil
}

func (ke *KE) appendBody(b []byte) ([]byte, error) {
	if len(ke.Data) == 0 {
		return nil, errors.New("no key exchange data")
	}
	b = binary.BigEndian.AppendUint16(b, ke.Group)
	return append(append(b, 0, 0), ke.Data...), nil
}

// Nonce is the Nonce payload (RFC 7296 3.9).
type Nonce struct {
	Data []byte // 16..256 octets
}

// Type returns PayloadNonce.
func (*Nonce) Type() PayloadType { return PayloadNonce }

// Nonce sizes (RFC 7296 3.9: "between 16 and 256 octets, inclusive").
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

func parseNonce(body []byte) (*Nonce, error) {
	if len(body) < MinNonceLen || len(body) > MaxNonceLen {
		return nil, malformed("%d octets, want %d..%d", len(body), MinNonceLen, MaxNonceLen)
	}
	return &Nonce{Data: body}, nil
}

func (n *Nonce) appendBody(b []byte) ([]byte, error) {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		return nil, fmt.Errorf("nonce of %d octets, want %d..%d", len(n.Data), MinNonceLen, MaxNonceLen)
	}
	return append(b, n.Data...), nil
}

// ID is an Identification payload (RFC 7296 3.5), IDi or IDr.
type ID struct {
	Responder bool // IDr if set, IDi otherwise
	IDType    IDType
	Data      []byte
}

// Type returns PayloadIDi or PayloadIDr.
func (id *ID) Type() PayloadType {
	if id.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

// Identification payload body (RFC 7296 3.5):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   ID Type     |                 RESERVED                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                   Identification Data                         ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const idFixedLen = 4

func parseID(responder bool, body []byte) (*ID, error) {
	if len(body) < idFixedLen {
		return nil, malformed("%d octets, want at least %d", len(body), idFixedLen)
	}
	id := &ID{Responder: responder, IDType: IDType(body[0]), Data: sub(body, idFixedLen, len(body))}
	if err := checkIDData(id.IDType, len(id.Data)); err != nil {
		return nil, malformed("%v", err)
	}
	return id, nil
}

func checkIDData(t IDType, n int) error {
	switch {
	case t == IDIPv4Addr && n != 4:
		return fmt.Errorf("%v of %d octets, want 4", t, n)
	case t == IDIPv6Addr && n != 16:
		return fmt.Errorf("%v of %d octets, want 16", t, n)
	case n == 0:
		return fmt.Errorf("empty %v", t)
	}
	return nil
}

// Body returns IDType | RESERVED(3) | Data: the "RestOfInitIDPayload" (and
// RestOfRespIDPayload) that the AUTH payload covers (RFC 7296 2.15).
func (id *ID) Body() []byte {
	return append([]byte{byte(id.IDType), 0, 0, 0}, id.Data...)
}

func (id *ID) appendBody(b []byte) ([]byte, error) {
	if err := checkIDData(id.IDType, len(id.Data)); err != nil {
		return nil, err
	}
	return append(append(b, byte(id.IDType), 0, 0, 0), id.Data...), nil
}

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Type returns PayloadAUTH.
func (*Auth) Type() PayloadType { return PayloadAUTH }

// Authentication payload body (RFC 7296 3.8):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Auth Method   |                RESERVED                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                      Authentication Data                      ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const authFixedLen = 4

func parseAuth(body []byte) (*Auth, error) {
	if len(body) <= authFixedLen {
		return nil, malformed("%d octets, want a 4-octet header and authentication data", len(body))
	}
	return &Auth{Method: AuthMethod(body[0]), Data: sub(body, authFixedLen, len(body))}, nil
}

func (a *Auth) appendBody(b []byte) ([]byte, error) {
	if len(a.Data) == 0 {
		return nil, errors.New("no authentication data")
	}
	return append(append(b, byte(a.Method), 0, 0, 0), a.Data...), nil
}

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert struct {
	Encoding uint8
	Data     []byte
}

// CertReq is the Certificate Request payload (RFC 7296 3.7). For X.509
// encodings Data is a list of SHA-1 hashes of trusted CA public keys, and may
// be empty.
type CertReq struct {
	Encoding uint8
	Data     []byte
}

// Type returns PayloadCERT.
func (*Cert) Type() PayloadType { return PayloadCERT }

// Type returns PayloadCERTREQ.
func (*CertReq) Type() PayloadType { return PayloadCERTREQ }

// Certificate and Certificate Request payload bodies (RFC 7296 3.6, 3.7):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Cert Encoding |                                               |
//	+-+-+-+-+-+-+-+-+                                               |
//	~                       Certificate Data / Certification Authority
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func parseCert(body []byte) (*Cert, error) {
	if len(body) < 2 {
		return nil, malformed("%d octets, want an encoding and certificate data", len(body))
	}
	return &Cert{Encoding: body[0], Data: sub(body, 1, len(body))}, nil
}

func (c *Cert) appendBody(b []byte) ([]byte, error) {
	if len(c.Data) == 0 {
		return nil, errors.New("no certificate data")
	}
	return append(append(b, c.Encoding), c.Data...), nil
}

func parseCertReq(body []byte) (*CertReq, error) {
	if len(body) < 1 {
		return nil, malformed("no certificate encoding")
	}
	return &CertReq{Encoding: body[0], Data: sub(body, 1, len(body))}, nil
}

func (c *CertReq) appendBody(b []byte) ([]byte, error) {
	return append(append(b, c.Encoding), c.Data...), nil
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

// Type returns PayloadVendorID.
func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (v *VendorID) appendBody(b []byte) ([]byte, error) { return append(b, v.Data...), nil }

// CP is the Configuration payload (RFC 7296 3.15).
type CP struct {
	CfgType    uint8 // CfgRequest, CfgReply, CfgSet, CfgAck
	Attributes []CPAttribute
}

// CPAttribute is one configuration attribute (RFC 7296 3.15.1).
type CPAttribute struct {
	Type  uint16 // 15 bits
	Value []byte
}

// Type returns PayloadCP.
func (*CP) Type() PayloadType { return PayloadCP }

// Configuration payload body (RFC 7296 3.15) and attribute (3.15.1):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   CFG Type    |                    RESERVED                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                   Configuration Attributes                    ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|         Attribute Type      |            Length             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                             Value                             ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	cpFixedLen     = 4
	cpAttrHdrLen   = 4
	cpAttrTypeMask = 0x7fff
)

func parseCP(body []byte) (*CP, error) {
	if len(body) < cpFixedLen {
		return nil, malformed("%d octets, want at least %d", len(body), cpFixedLen)
	}
	cp := &CP{CfgType: body[0]}
	for rest := body[cpFixedLen:]; len(rest) > 0; {
		i := len(cp.Attributes) + 1
		if len(rest) < cpAttrHdrLen {
			return nil, malformed("attribute %d: %d octets left, want at least %d", i, len(rest), cpAttrHdrLen)
		}
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if cpAttrHdrLen+n > len(rest) {
			return nil, malformed("attribute %d: length %d, %d octets left", i, n, len(rest)-cpAttrHdrLen)
		}
		cp.Attributes = append(cp.Attributes, CPAttribute{
			Type:  binary.BigEndian.Uint16(rest) & cpAttrTypeMask,
			Value: sub(rest, cpAttrHdrLen, cpAttrHdrLen+n),
		})
		rest = rest[cpAttrHdrLen+n:]
	}
	return cp, nil
}

func (cp *CP) appendBody(b []byte) ([]byte, error) {
	b = append(b, cp.CfgType, 0, 0, 0)
	for i, a := range cp.Attributes {
		if a.Type > cpAttrTypeMask {
			return nil, fmt.Errorf("attribute %d: type %d does not fit 15 bits", i+1, a.Type)
		}
		if len(a.Value) > maxBody {
			return nil, fmt.Errorf("attribute %d: value too long", i+1)
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// EAP is the Extensible Authentication payload (RFC 7296 3.16): one EAP
// message (RFC 3748 4) whose own Length field must match.
type EAP struct {
	Data []byte
}

// Type returns PayloadEAP.
func (*EAP) Type() PayloadType { return PayloadEAP }

// EAP message (RFC 3748 4), the body of the EAP payload:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Code      |  Identifier   |            Length             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                      Data (Type, Type-Data)                   ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const eapHdrLen = 4

func checkEAP(data []byte) error {
	if len(data) < eapHdrLen {
		return fmt.Errorf("EAP message of %d octets, want at least %d", len(data), eapHdrLen)
	}
	if n := int(binary.BigEndian.Uint16(data[2:])); n != len(data) {
		return fmt.Errorf("EAP length %d in %d octets", n, len(data))
	}
	return nil
}

func parseEAP(body []byte) (*EAP, error) {
	if err := checkEAP(body); err != nil {
		return nil, malformed("%v", err)
	}
	return &EAP{Data: body}, nil
}

func (e *EAP) appendBody(b []byte) ([]byte, error) {
	if err := checkEAP(e.Data); err != nil {
		return nil, err
	}
	return append(b, e.Data...), nil
}
