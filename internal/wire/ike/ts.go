package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// TS is a Traffic Selector payload (RFC 7296 3.13), TSi or TSr.
type TS struct {
	Responder bool // TSr if set, TSi otherwise
	Selectors []TrafficSelector
}

// TrafficSelector is one traffic selector substructure (RFC 7296 3.13.1).
type TrafficSelector struct {
	TSType             uint8 // TSIPv4AddrRange or TSIPv6AddrRange
	IPProtocol         uint8 // 0 = any
	StartPort, EndPort uint16
	StartAddr, EndAddr netip.Addr // 4- or 16-byte per TSType
}

// Type returns PayloadTSi or PayloadTSr.
func (ts *TS) Type() PayloadType {
	if ts.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// Traffic Selector payload body (RFC 7296 3.13) and one selector (3.13.1):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Number of TSs |                 RESERVED                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                       <Traffic Selectors>                     ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   TS Type     |IP Protocol ID*|       Selector Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Start Port*         |           End Port*           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                         Starting Address*                     ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                         Ending Address*                       ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tsFixedLen   = 4
	selFixedLen  = 8
	selLenIPv4   = selFixedLen + 2*4  // 16
	selLenIPv6   = selFixedLen + 2*16 // 40
	selTypeOff   = 0
	selProtoOff  = 1
	selLengthOff = 2
	selStartPort = 4
	selEndPort   = 6
	selStartAddr = 8
)

func parseTS(responder bool, body []byte) (*TS, error) {
	if len(body) < tsFixedLen {
		return nil, malformed("%d octets, want at least %d", len(body), tsFixedLen)
	}
	num := int(body[0])
	if num == 0 {
		return nil, malformed("no traffic selectors")
	}
	ts := &TS{Responder: responder, Selectors: make([]TrafficSelector, 0, min(num, len(body)/selLenIPv4))}
	for rest := body[tsFixedLen:]; len(rest) > 0; {
		i := len(ts.Selectors) + 1
		if len(rest) < selFixedLen {
			return nil, malformed("selector %d: %d octets left, want at least %d", i, len(rest), selFixedLen)
		}
		typ := rest[selTypeOff]
		slen := int(binary.BigEndian.Uint16(rest[selLengthOff:]))
		var want int
		switch typ {
		case TSIPv4AddrRange:
			want = selLenIPv4
		case TSIPv6AddrRange:
			want = selLenIPv6
		default:
			// Dropping it would widen or narrow the proposal silently.
			return nil, malformed("selector %d: unsupported TS type %d", i, typ)
		}
		if slen != want {
			return nil, malformed("selector %d: type %d with length %d, want %d", i, typ, slen, want)
		}
		if slen > len(rest) {
			return nil, malformed("selector %d: length %d, %d octets left", i, slen, len(rest))
		}
		sel := TrafficSelector{
			TSType:     typ,
			IPProtocol: rest[selProtoOff],
			StartPort:  binary.BigEndian.Uint16(rest[selStartPort:]),
			EndPort:    binary.BigEndian.Uint16(rest[selEndPort:]),
		}
		alen := (slen - selFixedLen) / 2
		sel.StartAddr, _ = netip.AddrFromSlice(rest[selStartAddr : selStartAddr+alen])
		sel.EndAddr, _ = netip.AddrFromSlice(rest[selStartAddr+alen : selStartAddr+2*alen])
		ts.Selectors = append(ts.Selectors, sel)
		rest = rest[slen:]
	}
	if len(ts.Selectors) != num {
		return nil, malformed("Number of TSs %d, found %d", num, len(ts.Selectors))
	}
	return ts, nil
}

func (ts *TS) appendBody(b []byte) ([]byte, error) {
	if len(ts.Selectors) == 0 || len(ts.Selectors) > 255 {
		return nil, fmt.Errorf("%d traffic selectors, want 1..255", len(ts.Selectors))
	}
	b = append(b, byte(len(ts.Selectors)), 0, 0, 0)
	for i, s := range ts.Selectors {
		var err error
		if b, err = s.append(b); err != nil {
			return nil, fmt.Errorf("selector %d: %w", i+1, err)
		}
	}
	return b, nil
}

func (s TrafficSelector) append(b []byte) ([]byte, error) {
	if s.StartAddr.Zone() != "" || s.EndAddr.Zone() != "" {
		return nil, errors.New("address with a zone")
	}
	var slen int
	switch s.TSType {
	case TSIPv4AddrRange:
		if !s.StartAddr.Is4() || !s.EndAddr.Is4() {
			return nil, fmt.Errorf("type %d with addresses %v-%v, want IPv4", s.TSType, s.StartAddr, s.EndAddr)
		}
		slen = selLenIPv4
	case TSIPv6AddrRange:
		if !s.StartAddr.Is6() || !s.EndAddr.Is6() {
			return nil, fmt.Errorf("type %d with addresses %v-%v, want IPv6", s.TSType, s.StartAddr, s.EndAddr)
		}
		slen = selLenIPv6
	default:
		return nil, fmt.Errorf("unsupported TS type %d", s.TSType)
	}
	b = append(b, s.TSType, s.IPProtocol, 0, byte(slen))
	b = binary.BigEndian.AppendUint16(b, s.StartPort)
	b = binary.BigEndian.AppendUint16(b, s.EndPort)
	b = append(b, s.StartAddr.AsSlice()...)
	return append(b, s.EndAddr.AsSlice()...), nil
}
