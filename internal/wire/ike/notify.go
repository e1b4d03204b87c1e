package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// NotifyType is the Notify Message Type of a Notify payload (RFC 7296
// 3.10.1, IANA "IKEv2 Notify Message Types"). Types below 16384 report
// errors, the others status.
type NotifyType uint16

// Error types (RFC 7296 3.10.1).
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
)

// Status types (RFC 7296 3.10.1, RFC 4555, RFC 7383, RFC 7427).
const (
	NotifyInitialContact              NotifyType = 16384
	NotifySetWindowSize               NotifyType = 16385
	NotifyAdditionalTSPossible        NotifyType = 16386
	NotifyIPCompSupported             NotifyType = 16387
	NotifyNATDetectionSourceIP        NotifyType = 16388
	NotifyNATDetectionDestinationIP   NotifyType = 16389
	NotifyCookie                      NotifyType = 16390
	NotifyUseTransportMode            NotifyType = 16391
	NotifyHTTPCertLookupSupported     NotifyType = 16392
	NotifyRekeySA                     NotifyType = 16393
	NotifyESPTFCPaddingNotSupported   NotifyType = 16394
	NotifyNonFirstFragmentsAlso       NotifyType = 16395
	NotifyMOBIKESupported             NotifyType = 16396
	NotifyChildlessIKEv2Supported     NotifyType = 16418 // RFC 6023 3
	NotifyIKEv2FragmentationSupported NotifyType = 16430
	NotifySignatureHashAlgorithms     NotifyType = 16431
)

// notifyNames are the IANA names, the RFC 7296 ones and the others an
// engine is likely to log.
// NotifyIntermediateExchangeSupported announces IKE_INTERMEDIATE in
// IKE_SA_INIT (RFC 9242 3.1).
const NotifyIntermediateExchangeSupported NotifyType = 16438

// NotifyAuthLifetime carries the seconds left until the initiator must
// reauthenticate the IKE SA (RFC 4478 3).
const NotifyAuthLifetime NotifyType = 16403

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload: "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:              "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:        "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:              "INVALID_SYNTAX",
	NotifyInvalidMessageID:           "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                 "INVALID_SPI",
	NotifyNoProposalChosen:           "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:           "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:       "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:         "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:            "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:     "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:           "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:             "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:           "INVALID_SELECTORS",
	40:                               "UNACCEPTABLE_ADDRESSES",
	41:                               "UNEXPECTED_NAT_DETECTED",
	42:                               "USE_ASSIGNED_HoA",
	NotifyTemporaryFailure:           "TEMPORARY_FAILURE",
	NotifyChildSANotFound:            "CHILD_SA_NOT_FOUND",
	45:                               "INVALID_GROUP_ID",
	46:                               "AUTHORIZATION_FAILED",
	47:                               "STATE_NOT_FOUND",

	NotifyInitialContact:              "INITIAL_CONTACT",
	NotifySetWindowSize:               "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:        "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:             "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:        "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:   "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                      "COOKIE",
	NotifyUseTransportMode:            "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:     "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                     "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:   "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:       "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:             "MOBIKE_SUPPORTED",
	16397:                             "ADDITIONAL_IP4_ADDRESS",
	16398:                             "ADDITIONAL_IP6_ADDRESS",
	16399:                             "NO_ADDITIONAL_ADDRESSES",
	16400:                             "UPDATE_SA_ADDRESSES",
	16401:                             "COOKIE2",
	16402:                             "NO_NATS_ALLOWED",
	16403:                             "AUTH_LIFETIME",
	16404:                             "MULTIPLE_AUTH_SUPPORTED",
	16405:                             "ANOTHER_AUTH_FOLLOWS",
	16406:                             "REDIRECT_SUPPORTED",
	16407:                             "REDIRECT",
	16408:                             "REDIRECTED_FROM",
	16417:                             "EAP_ONLY_AUTHENTICATION",
	16418:                             "CHILDLESS_IKEV2_SUPPORTED",
	16419:                             "QUICK_CRASH_DETECTION",
	16420:                             "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	16421:                             "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	16422:                             "IKEV2_MESSAGE_ID_SYNC",
	16423:                             "IPSEC_REPLAY_COUNTER_SYNC",
	NotifyIKEv2FragmentationSupported: "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:     "SIGNATURE_HASH_ALGORITHMS",
	16432:                             "CLONE_IKE_SA_SUPPORTED",
	16433:                             "CLONE_IKE_SA",
	16434:                             "PUZZLE",
	16435:                             "USE_PPK",
	16436:                             "PPK_IDENTITY",
	16437:                             "NO_PPK_AUTH",
	16438:                             "INTERMEDIATE_EXCHANGE_SUPPORTED",
	16439:                             "IP4_ALLOWED",
	16440:                             "IP6_ALLOWED",
	16441:                             "ADDITIONAL_KEY_EXCHANGE",
	16442:                             "USE_AGGFRAG",
}

// String returns the IANA name, e.g. "NO_PROPOSAL_CHOSEN", or
// "NotifyType(n)".
func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("NotifyType(%d)", uint16(t))
}

// IsError reports whether t is an error type (below 16384, RFC 7296 3.10.1).
func (t NotifyType) IsError() bool { return t < 16384 }

// Notify is the Notify payload (RFC 7296 3.10).
type Notify struct {
	Protocol   ProtocolID // 0 when SPI is empty (ignored on receipt then)
	SPI        []byte     // empty, 4 octets (AH/ESP) or 8 octets (IKE)
	NotifyType NotifyType
	Data       []byte
}

// Type returns PayloadNotify.
func (*Notify) Type() PayloadType { return PayloadNotify }

// Notify payload body (RFC 7296 3.10):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Protocol ID  |   SPI Size    |      Notify Message Type      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                Security Parameter Index (SPI)                 ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                       Notification Data                       ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const notifyFixedLen = 4

func parseNotify(body []byte) (*Notify, error) {
	if len(body) < notifyFixedLen {
		return nil, malformed("%d octets, want at least %d", len(body), notifyFixedLen)
	}
	n := &Notify{
		Protocol:   ProtocolID(body[0]),
		NotifyType: NotifyType(binary.BigEndian.Uint16(body[2:])),
	}
	spiSize := int(body[1])
	if err := checkNotifySPI(n.Protocol, spiSize); err != nil {
		return nil, malformed("%v: %v", n.NotifyType, err)
	}
	if notifyFixedLen+spiSize > len(body) {
		return nil, malformed("%v: %d-octet SPI does not fit in %d octets", n.NotifyType, spiSize, len(body))
	}
	n.SPI = sub(body, notifyFixedLen, notifyFixedLen+spiSize)
	n.Data = sub(body, notifyFixedLen+spiSize, len(body))
	return n, nil
}

// checkNotifySPI enforces RFC 7296 3.10: an SPI of a Child SA is 4 octets
// with protocol AH or ESP, an IKE SPI 8 octets with protocol IKE; without an
// SPI the protocol is ignored.
func checkNotifySPI(proto ProtocolID, n int) error {
	switch {
	case n == 0:
	case n == 4 && (proto == ProtoAH || proto == ProtoESP):
	case n == 8 && proto == ProtoIKE:
	default:
		return fmt.Errorf("%d-octet SPI with protocol %v", n, proto)
	}
	return nil
}

func (n *Notify) appendBody(b []byte) ([]byte, error) {
	if err := checkNotifySPI(n.Protocol, len(n.SPI)); err != nil {
		return nil, err
	}
	b = append(b, byte(n.Protocol), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

// FindNotify returns the first Notify payload of type t in ps, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// Delete is the Delete payload (RFC 7296 3.11). For the IKE SA itself the
// SPI list is empty (the SPIs are in the header).
type Delete struct {
	Protocol ProtocolID
	SPIs     [][]byte // 4 octets each for AH/ESP; none for IKE
}

// Type returns PayloadDelete.
func (*Delete) Type() PayloadType { return PayloadDelete }

// Delete payload body (RFC 7296 3.11):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Protocol ID   |   SPI Size    |          Num of SPIs          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~               Security Parameter Index(es) (SPI)              ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const deleteFixedLen = 4

func parseDelete(body []byte) (*Delete, error) {
	if len(body) < deleteFixedLen {
		return nil, malformed("%d octets, want at least %d", len(body), deleteFixedLen)
	}
	d := &Delete{Protocol: ProtocolID(body[0])}
	spiSize := int(body[1])
	num := int(binary.BigEndian.Uint16(body[2:]))
	want, err := deleteSPISize(d.Protocol)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if spiSize != want {
		return nil, malformed("%v: SPI size %d, want %d", d.Protocol, spiSize, want)
	}
	spis := body[deleteFixedLen:]
	if num*spiSize != len(spis) {
		return nil, malformed("%d SPIs of %d octets in %d octets", num, spiSize, len(spis))
	}
	if spiSize > 0 && num > 0 {
		d.SPIs = make([][]byte, num)
		for i := range d.SPIs {
			d.SPIs[i] = sub(spis, i*spiSize, (i+1)*spiSize)
		}
	}
	return d, nil
}

// deleteSPISize returns the SPI size for protocol p (RFC 7296 3.11).
func deleteSPISize(p ProtocolID) (int, error) {
	switch p {
	case ProtoIKE:
		return 0, nil
	case ProtoAH, ProtoESP:
		return 4, nil
	}
	return 0, fmt.Errorf("delete for protocol %v", p)
}

func (d *Delete) appendBody(b []byte) ([]byte, error) {
	size, err := deleteSPISize(d.Protocol)
	if err != nil {
		return nil, err
	}
	if size == 0 && len(d.SPIs) != 0 {
		return nil, errors.New("IKE SA delete with SPIs")
	}
	if len(d.SPIs) > 0xffff {
		return nil, fmt.Errorf("%d SPIs, too many", len(d.SPIs))
	}
	b = append(b, byte(d.Protocol), byte(size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for i, spi := range d.SPIs {
		if len(spi) != size {
			return nil, fmt.Errorf("SPI %d: %d octets, want %d", i, len(spi), size)
		}
		b = append(b, spi...)
	}
	return b, nil
}

// sub returns b[i:j] with its capacity capped, or nil if it is empty, so that
// parsed payloads compare equal however they were built.
func sub(b []byte, i, j int) []byte {
	if i == j {
		return nil
	}
	return b[i:j:j]
}
