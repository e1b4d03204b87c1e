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
