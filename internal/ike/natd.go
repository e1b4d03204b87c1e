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

// natNotifies builds our NAT detection payloads. With forceEncap (swanctl
// encap = yes) we send, like strongSwan, a source hash that cannot match:
// the peer then sees a NAT and encapsulates ESP in UDP (RFC 3948).
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

// setNAT records the outcome of NAT detection in IKE_SA_INIT, as
// strongSwan's conditions (which swanctl --list-sas shows as nat-local,
// nat-remote, nat-fake): natFake when the peer's hashes show no NAT at
// all but we force encapsulation (encap = yes; ike_natd.c does the same).
// A peer that sent no NAT detection payloads gets none of them: it may
// not know ESP in UDP.
func (sa *ikeSA) setNAT(supported, local, remote, forceEncap bool) {
	sa.natLocal, sa.natRemote = local, remote
	sa.natFake = supported && !local && !remote && forceEncap
}

// natAny is strongSwan's COND_NAT_ANY: a NAT on either side, or a faked
// one. It decides what the Child SAs use, as child_create.c does: ESP in
// UDP (RFC 3948) if set, raw ESP otherwise; and whether the initiator
// floats to port 4500 (RFC 7296 2.23). The flags are set once, in
// IKE_SA_INIT, and inherited by rekeyed IKE SAs (ikerekey.go), so every
// Child SA of an IKE SA frames ESP alike; a peer that moves later is
// followed only when a NAT was found (mayFollow), which is encapsulated.
func (sa *ikeSA) natAny() bool { return sa.natLocal || sa.natRemote || sa.natFake }

// followPeer applies the addresses of an authenticated message (RFC 7296
// 2.23): a host that is not behind a NAT sends to the address and port
// the peer's packets now come from, since the NAT in front of the peer may
// have moved its mapping (rebooted, timed out). As in strongSwan
// (task_manager_v2.c, ike_sa.c update_hosts), the first request after
// IKE_SA_INIT always moves us (force: the initiator's float to 4500),
// later messages only when the peer is behind a NAT and either we are
// not, or we are the responder (a static NAT in front of us). Child SAs
// follow, so ESP goes where the IKE messages come from.
func (sa *ikeSA) followPeer(ev packetEvent, force bool) {
	if ev.remote == sa.remote && ev.local == sa.local {
		return
	}
	if !force && !sa.mayFollow() {
		return
	}
	if ev.remote != sa.remote && sa.State() == StateEstablished {
		sa.log.Info("peer address changed; following it (NAT mapping)", "from", sa.remote, "to", ev.remote)
		sa.e.Stats.PeerMoved.Add(1)
	}
	sa.setAddrs(ev.local, ev.remote)
	sa.relog() // the logger's peer is the new address
	sa.mu.Lock()
	children := append([]*childSA(nil), sa.children...)
	sa.mu.Unlock()
	for _, c := range append(children, sa.draining...) {
		c.installed.UpdateRemote(ev.remote)
	}
}

// mayFollow is followPeer's rule for messages after the first exchange.
func (sa *ikeSA) mayFollow() bool {
	return sa.natRemote && (!sa.natLocal || !sa.initiator)
}

// espFollower is the installed Child SA's OnPeerMoved where the IKE SA may
// follow the peer (nil elsewhere): authenticated ESP from a new address
// moves the data plane at once, and this moves the IKE SA and its other
// Child SAs after it, on the IKE SA's goroutine. RFC 7296 2.23 asks for
// this on any packet "whose integrity protection validates", and traffic
// resumes with the first ESP packet instead of the next IKE message.
func (sa *ikeSA) espFollower(c *childSA) func(netip.AddrPort) {
	if !sa.mayFollow() {
		return nil
	}
	return func(from netip.AddrPort) {
		if owner := c.owner.Load(); owner != nil && owner.State() != StateDeleted {
			owner.enqueue(command{kind: cmdPeerMoved, addr: from})
		}
	}
}
