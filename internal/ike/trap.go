package ike

import (
	"context"

	"github.com/goipsec/goipsec/internal/ts"
)

// A Trigger is the packet that hit a trap policy (an acquire, RFC 4301
// 5.1 step 3c), as one-address selectors with its protocol and ports.
// The Child SA it asks for offers them as the first traffic selectors of
// TSi and TSr, before the configured ones (RFC 7296 2.9: they "SHOULD"
// be there, so that a responder with several narrower policies can pick
// the one for this packet).
type Trigger struct {
	Local, Remote ts.Selector
}

// InitiateFor is Initiate for an acquire: trig (nil for none) describes
// the packet that asked for the child.
func (e *Engine) InitiateFor(ctx context.Context, peerName, childName string, trig *Trigger) error {
	return e.initiate(ctx, peerName, childName, trig)
}

// withTrigger puts the trigger's selector first in list, if it is valid
// and inside one of list's selectors (a packet a trap caught always is,
// unless the configuration changed meanwhile: then the offer stays as
// configured).
func withTrigger(list []ts.Selector, s ts.Selector) []ts.Selector {
	if !s.Valid() {
		return list
	}
	for _, c := range list {
		if c.Contains(s) {
			return append([]ts.Selector{s}, list...)
		}
	}
	return list
}

// applyTrigger adds trig (if any) to offer o.
func (o *childOffer) applyTrigger(trig *Trigger) {
	if o == nil || trig == nil {
		return
	}
	tsi, tsr := withTrigger(o.tsi, trig.Local), withTrigger(o.tsr, trig.Remote)
	if len(tsi) > len(o.tsi) && len(tsr) > len(o.tsr) {
		// Both or neither: a pair describes the packet.
		o.tsi, o.tsr = tsi, tsr
	}
}

// trapChild asks for a trap policy in place of cfg's SAs (dpd_action or
// close_action = trap, swanctl.conf(5)): the SAs are cleared as with
// "clear", and the daemon's trap brings the child back on the next packet
// (RFC 4301 5.1 step 3c) instead of at once as "restart" would.
func (sa *ikeSA) trapChild(cfg *ChildConfig) {
	if f := sa.e.cfg.Trap; f != nil {
		sa.log.Info("installing a trap policy in place of the Child SA", "child", cfg.Name)
		f(sa.peer.Name, cfg.Name)
	}
}
