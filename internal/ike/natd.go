package ike

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// natHash is the NAT_DETECTION_*_IP notification data (RFC 7296 2.23):
// SHA-1(SPIi | SPIr | IP | Port).
func natHash(spiI, spiR uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], spiI)
	binary.BigEndian.PutUint64(b[8:], spiR)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[:2], ap.Port())
	h.Write(b[:2])
	return h.Sum(nil)
}

// natNotifies builds our NAT detection payloads. goipsec's data plane does
// ESP in UDP only (RFC 3948), so, like strongSwan with encap=yes, we send a
// source hash that cannot match: the peer then sees a NAT and encapsulates.
func natNotifies(spiI, spiR uint64, local, remote netip.AddrPort, forceEncap bool, rand func([]byte)) []wire.Payload {
	src := natHash(spiI, spiR, local)
	if forceEncap {
		rand(src)
	}
	return []wire.Payload{
		&wire.Notify{NotifyType: wire.NotifyNATDetectionSourceIP, Data: src},
		&wire.Notify{NotifyType: wire.NotifyNATDetectionDestinationIP, Data: natHash(spiI, spiR, remote)},
	}
}

// natResult evaluates the peer's NAT detection payloads: remoteBehindNAT
// if no source hash matches the packet's source, localBehindNAT if the
// destination hash does not match our address. supported is false when
// the peer sent none (then no UDP encapsulation is negotiated).
func natResult(ps []wire.Payload, spiI, spiR uint64, local, remote netip.AddrPort) (supported, localBehindNAT, remoteBehindNAT bool) {
	wantSrc := natHash(spiI, spiR, remote)
	wantDst := natHash(spiI, spiR, local)
	srcMatch, dstMatch := false, false
	for _, p := range ps {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NotifyNATDetectionSourceIP:
			supported = true
			srcMatch = srcMatch || subtle.ConstantTimeCompare(n.Data, wantSrc) == 1
		case wire.NotifyNATDetectionDestinationIP:
			supported = true
			dstMatch = dstMatch || subtle.ConstantTimeCompare(n.Data, wantDst) == 1
		}
	}
	return supported, supported && !dstMatch, supported && !srcMatch
}
