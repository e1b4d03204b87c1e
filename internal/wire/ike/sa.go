package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SA is the Security Association payload (RFC 7296 3.3): one or more
// proposals, in order of preference.
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal substructure (RFC 7296 3.3.1).
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte // 0 bytes (IKE_SA_INIT), 8 (IKE rekey) or 4 (ESP/AH)
	Transforms []Transform
}

// Transform is one transform substructure (RFC 7296 3.3.2).
type Transform struct {
	Type      TransformType
	ID        uint16
	KeyLength uint16 // AttrKeyLength value in bits, 0 if absent
	Unknown   bool   // an attribute we do not understand was present: the transform must not be selected (RFC 7296 3.3.6)
}

// Get returns the transforms of type t, in the order they were proposed.
func (p Proposal) Get(t TransformType) []Transform {
	var ts []Transform
	for _, tr := range p.Transforms {
		if tr.Type == t {
			ts = append(ts, tr)
		}
	}
	return ts
}

// Type returns PayloadSA.
func (*SA) Type() PayloadType { return PayloadSA }

// Last Substruc values (RFC 7296 3.3.1 and 3.3.2).
const (
	lastSubstruc     = 0
	moreProposals    = 2
	moreTransforms   = 3
	substrucHdrLen   = 8 // proposal and transform headers, without SPI or attributes
	attrHdrLen       = 4
	attrFormatTV     = 0x8000
	attrTypeMask     = 0x7fff
	maxSPILen        = 8
	tfTypeOff        = 4
	tfIDOff          = 6
	propNumberOff    = 4
	propProtocolOff  = 5
	propSPISizeOff   = 6
	propNumTransOff  = 7
	substrucLenOff   = 2
	substrucFlagsOff = 0
)

// Proposal substructure (RFC 7296 3.3.1):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Last Substruc |   RESERVED    |         Proposal Length       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                        SPI (variable)                         ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                        <Transforms>                           ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func parseSA(body []byte) (*SA, error) {
	if len(body) == 0 {
		return nil, malformed("SA payload without proposals")
	}
	sa := &SA{}
	for rest := body; len(rest) > 0; {
		i := len(sa.Proposals) + 1
		if len(rest) < substrucHdrLen {
			return nil, malformed("proposal %d: %d octets left, want at least %d", i, len(rest), substrucHdrLen)
		}
		plen := int(binary.BigEndian.Uint16(rest[substrucLenOff:]))
		if plen < substrucHdrLen || plen > len(rest) {
			return nil, malformed("proposal %d: length %d, %d octets left", i, plen, len(rest))
		}
		switch last := rest[substrucFlagsOff]; {
		case last == lastSubstruc && plen != len(rest):
			return nil, malformed("proposal %d: marked last but %d octets follow", i, len(rest)-plen)
		case last == moreProposals && plen == len(rest):
			return nil, malformed("proposal %d: marked not last but nothing follows", i)
		case last != lastSubstruc && last != moreProposals:
			return nil, malformed("proposal %d: last substructure value %d, want 0 or 2", i, last)
		}
		p, err := parseProposal(rest[:plen:plen])
		if err != nil {
			return nil, fmt.Errorf("proposal %d: %w", i, err)
		}
		sa.Proposals = append(sa.Proposals, p)
		rest = rest[plen:]
	}
	return sa, nil
}

// checkSPISize enforces RFC 7296 3.3.1: the SPI is empty in IKE_SA_INIT,
// 8 octets when rekeying an IKE SA, 4 octets for AH and ESP.
func checkSPISize(proto ProtocolID, n int) error {
	switch proto {
	case 0:
		return errors.New("protocol ID 0")
	case ProtoIKE:
		if n != 0 && n != 8 {
			return fmt.Errorf("IKE proposal with %d-octet SPI, want 0 or 8", n)
		}
	case ProtoAH, ProtoESP:
		if n != 4 {
			return fmt.Errorf("%v proposal with %d-octet SPI, want 4", proto, n)
		}
	default:
		if n > maxSPILen {
			return fmt.Errorf("%d-octet SPI, at most %d", n, maxSPILen)
		}
	}
	return nil
}

func parseProposal(b []byte) (Proposal, error) {
	p := Proposal{Number: b[propNumberOff], Protocol: ProtocolID(b[propProtocolOff])}
	spiSize := int(b[propSPISizeOff])
	numTransforms := int(b[propNumTransOff])
	if err := checkSPISize(p.Protocol, spiSize); err != nil {
		return p, malformed("%v", err)
	}
	if substrucHdrLen+spiSize > len(b) {
		return p, malformed("%d-octet SPI does not fit in %d octets", spiSize, len(b))
	}
	if spiSize > 0 {
		p.SPI = b[substrucHdrLen : substrucHdrLen+spiSize : substrucHdrLen+spiSize]
	}
	rest := b[substrucHdrLen+spiSize:]
	if numTransforms > 0 {
		p.Transforms = make([]Transform, 0, min(numTransforms, len(rest)/substrucHdrLen))
	}
	for len(rest) > 0 {
		j := len(p.Transforms) + 1
		if len(rest) < substrucHdrLen {
			return p, malformed("transform %d: %d octets left, want at least %d", j, len(rest), substrucHdrLen)
		}
		tlen := int(binary.BigEndian.Uint16(rest[substrucLenOff:]))
		if tlen < substrucHdrLen || tlen > len(rest) {
			return p, malformed("transform %d: length %d, %d octets left", j, tlen, len(rest))
		}
		switch last := rest[substrucFlagsOff]; {
		case last == lastSubstruc && tlen != len(rest):
			return p, malformed("transform %d: marked last but %d octets follow", j, len(rest)-tlen)
		case last == moreTransforms && tlen == len(rest):
			return p, malformed("transform %d: marked not last but nothing follows", j)
		case last != lastSubstruc && last != moreTransforms:
			return p, malformed("transform %d: last substructure value %d, want 0 or 3", j, last)
		}
		t, err := parseTransform(rest[:tlen])
		if err != nil {
			return p, fmt.Errorf("transform %d: %w", j, err)
		}
		p.Transforms = append(p.Transforms, t)
		rest = rest[tlen:]
	}
	if len(p.Transforms) != numTransforms {
		return p, malformed("Num Transforms %d, found %d", numTransforms, len(p.Transforms))
	}
	return p, nil
}

// Transform substructure (RFC 7296 3.3.2) and its attributes (3.3.5):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Last Substruc |   RESERVED    |        Transform Length       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Transform Type |   RESERVED    |          Transform ID         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                      Transform Attributes                     ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|A|       Attribute Type        |    AF=0  Attribute Length     |
//	|F|                             |    AF=1  Attribute Value      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   AF=0  Attribute Value                       |
//	|                   AF=1  Not Transmitted                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func parseTransform(b []byte) (Transform, error) {
	t := Transform{
		Type: TransformType(b[tfTypeOff]),
		ID:   binary.BigEndian.Uint16(b[tfIDOff:]),
	}
	seenKeyLength := false
	for rest := b[substrucHdrLen:]; len(rest) > 0; {
		if len(rest) < attrHdrLen {
			return t, malformed("attribute: %d octets left, want at least %d", len(rest), attrHdrLen)
		}
		typ := binary.BigEndian.Uint16(rest)
		val := binary.BigEndian.Uint16(rest[2:])
		if typ&attrFormatTV == 0 {
			// TLV: val is the length of the value that follows.
			if typ == AttrKeyLength {
				return t, malformed("Key Length attribute in TLV format (RFC 7296 3.3.5: TV only)")
			}
			if attrHdrLen+int(val) > len(rest) {
				return t, malformed("attribute %d: length %d, %d octets left", typ, val, len(rest)-attrHdrLen)
			}
			t.Unknown = true
			rest = rest[attrHdrLen+int(val):]
			continue
		}
		if typ&attrTypeMask == AttrKeyLength {
			if seenKeyLength {
				return t, malformed("duplicate Key Length attribute")
			}
			if val == 0 {
				return t, malformed("Key Length attribute of 0 bits")
			}
			seenKeyLength = true
			t.KeyLength = val
		} else {
			t.Unknown = true
		}
		rest = rest[attrHdrLen:]
	}
	return t, nil
}

func (sa *SA) appendBody(b []byte) ([]byte, error) {
	if len(sa.Proposals) == 0 {
		return nil, errors.New("SA payload without proposals")
	}
	for i, p := range sa.Proposals {
		if err := checkSPISize(p.Protocol, len(p.SPI)); err != nil {
			return nil, fmt.Errorf("proposal %d: %w", i+1, err)
		}
		if len(p.Transforms) > 255 {
			return nil, fmt.Errorf("proposal %d: %d transforms, at most 255", i+1, len(p.Transforms))
		}
		start := len(b)
		last := byte(moreProposals)
		if i == len(sa.Proposals)-1 {
			last = lastSubstruc
		}
		b = append(b, last, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j, t := range p.Transforms {
			if t.Unknown {
				return nil, fmt.Errorf("proposal %d: transform %d: unknown attributes cannot be marshalled", i+1, j+1)
			}
			last := byte(moreTransforms)
			if j == len(p.Transforms)-1 {
				last = lastSubstruc
			}
			tlen := substrucHdrLen
			if t.KeyLength != 0 {
				tlen += attrHdrLen
			}
			b = append(b, last, 0, byte(tlen>>8), byte(tlen), byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if t.KeyLength != 0 {
				b = binary.BigEndian.AppendUint16(b, attrFormatTV|AttrKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLength)
			}
		}
		n := len(b) - start
		if n > maxBody {
			return nil, fmt.Errorf("proposal %d: %d octets, too long", i+1, n)
		}
		binary.BigEndian.PutUint16(b[start+substrucLenOff:], uint16(n))
	}
	return b, nil
}
