package ike

import (
	"errors"
	"net/netip"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Transport mode negotiation (RFC 7296 1.3.1, 3.10.1): the initiator asks
// for transport mode with a USE_TRANSPORT_MODE notify in the request that
// creates (or rekeys, RFC 7296 1.3.3) the Child SA; a responder willing to
// use it answers with the same notify, otherwise the SA is a tunnel mode
// SA. We decide as strongSwan's child_create task does:
//
//   - the responder agrees only if its child config says transport and the
//     narrowed selectors are the two peers themselves (host to host: TSi
//     the initiator's address, TSr the responder's); otherwise it answers
//     without the notify and the SA is tunnel mode. A responder configured
//     for transport that gets no request makes a tunnel mode SA too.
//   - the initiator takes the responder's answer: no notify means tunnel
//     mode (RFC 7296 1.3.1 leaves deleting it to a picky initiator;
//     strongSwan keeps it, so do we). A USE_TRANSPORT_MODE we did not
//     ask for, or for selectors that are not host to host, fails the
//     Child SA ("transport mode requested by responder is unacceptable").

// errUnacceptableMode is the initiator's refusal of a transport mode answer
// it cannot use.
var errUnacceptableMode = errors.New("transport mode requested by responder is unacceptable")

// transportNotify is the USE_TRANSPORT_MODE notify (no protocol, no SPI,
// no data; RFC 7296 3.10.1).
func transportNotify() *wire.Notify {
	return &wire.Notify{NotifyType: wire.NotifyUseTransportMode}
}

// asksTransport reports whether a message's payloads carry USE_TRANSPORT_MODE.
func asksTransport(ps []wire.Payload) bool {
	return wire.FindNotify(ps, wire.NotifyUseTransportMode) != nil
}

// isHost reports whether every selector of list is the single address a
// (any protocol and ports), as strongSwan's ts_list_is_host.
func isHost(list []ts.Selector, a netip.Addr) bool {
	if len(list) == 0 || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, s := range list {
		if s.Start != a || s.End != a {
			return false
		}
	}
	return true
}

// responderMode is the mode of a Child SA we create as responder: the
// initiator asked for transport (asked), our child is configured for it,
// and the narrowed selectors are host to host (remote: the initiator's
// side, TSi; local: ours, TSr).
func (sa *ikeSA) responderMode(cfg *ChildConfig, asked bool, local, remote []ts.Selector) sadb.Mode {
	if !asked {
		if cfg.Mode == sadb.ModeTransport {
			sa.log.Info("peer did not ask for transport mode, using tunnel mode", "child", cfg.Name)
		}
		return sadb.ModeTunnel
	}
	if cfg.Mode != sadb.ModeTransport {
		sa.log.Info("peer asks for transport mode, child is configured for tunnel mode", "child", cfg.Name)
		return sadb.ModeTunnel
	}
	if !isHost(remote, sa.remote.Addr()) || !isHost(local, sa.local.Addr()) {
		sa.log.Info("not using transport mode, not host-to-host", "child", cfg.Name, "local_ts", local, "remote_ts", remote)
		return sadb.ModeTunnel
	}
	return sadb.ModeTransport
}

// initiatorMode is the mode of a Child SA we asked for with offer o, given
// the responder's answer resp and the narrowed selectors.
func (sa *ikeSA) initiatorMode(o *childOffer, resp []wire.Payload, local, remote []ts.Selector) (sadb.Mode, error) {
	if !asksTransport(resp) {
		if o.mode == sadb.ModeTransport {
			sa.log.Info("responder declined transport mode, using tunnel mode", "child", o.cfg.Name)
		}
		return sadb.ModeTunnel, nil
	}
	if o.mode != sadb.ModeTransport || !isHost(local, sa.local.Addr()) || !isHost(remote, sa.remote.Addr()) {
		return 0, errUnacceptableMode
	}
	return sadb.ModeTransport, nil
}

// Transport mode through a NAT (RFC 3948 5.2, RFC 7296 2.23.1): the
// selectors of a host behind a NAT carry its private address, which the
// other side never sees. We do what strongSwan's child_create does
// (narrow_ts, get_transport_nat_ts): when transport mode is asked for (by
// the request, as responder; by the answer, as initiator) and a side is
// behind a NAT, that side's received host selectors get the IKE SA's
// address of that side (as we see it) before narrowing, so the SA is host
// to host between the IKE addresses, and the selectors we answer with
// are those. The replaced address is what the peer's TCP and UDP
// checksums cover; it is kept for the data plane's fix-up (RFC 3948
// 3.1.2 step 3; IKEv2 has no NAT-OA payload, so the selectors are the
// only place the peer's view of the addresses is told).

// natTransportTS is get_transport_nat_ts: of list, the host selectors of
// the first host address, moved to ike; selectors of other addresses,
// ranges and another family are left out. It returns them and the address
// they had. Without a host selector it returns list as it is and an
// invalid address: strongSwan would narrow that to nothing
// (TS_UNACCEPTABLE); we let the selectors make the tunnel mode SA they
// can make, as RFC 7296 1.3.1 has a declined transport request do.
func natTransportTS(list []ts.Selector, ike netip.Addr) ([]ts.Selector, netip.Addr) {
	ike = ike.Unmap()
	var first netip.Addr
	var out []ts.Selector
	for _, s := range list {
		if s.Start != s.End || s.Start.Is4() != ike.Is4() || (first.IsValid() && s.Start != first) {
			continue
		}
		first = s.Start
		s.Start, s.End = ike, ike
		out = append(out, s)
	}
	if len(out) == 0 {
		return list, netip.Addr{}
	}
	return out, first
}

// natTransport holds the selectors of a Child SA request or answer after
// natTransportTS and the addresses it replaced.
type natTransport struct {
	tsi, tsr []ts.Selector
	// origLocal, origRemote: our and the peer's address as the peer
	// sees them, where a NAT made them differ from the IKE SA's
	// (sadb.ChildSA.NATOrigLocal, NATOrigRemote); invalid otherwise.
	origLocal, origRemote netip.Addr
}

// natTransportSelectors applies natTransportTS to the received selectors
// tsi and tsr of a Child SA for which transport mode was asked, on the
// sides behind a NAT (natLocal: ours, natRemote: the peer's; a faked NAT
// replaces an address by itself). initiator says whether we sent the
// request, so whether TSi is ours.
func (sa *ikeSA) natTransportSelectors(tsi, tsr []ts.Selector, initiator bool) natTransport {
	n := natTransport{tsi: tsi, tsr: tsr}
	localTS, remoteTS := &n.tsr, &n.tsi
	if initiator {
		localTS, remoteTS = &n.tsi, &n.tsr
	}
	if sa.natLocal {
		var orig netip.Addr
		*localTS, orig = natTransportTS(*localTS, sa.local.Addr())
		if orig.IsValid() && orig != sa.local.Addr().Unmap() {
			n.origLocal = orig
		}
	}
	if sa.natRemote {
		var orig netip.Addr
		*remoteTS, orig = natTransportTS(*remoteTS, sa.remote.Addr())
		if orig.IsValid() && orig != sa.remote.Addr().Unmap() {
			n.origRemote = orig
		}
	}
	return n
}
