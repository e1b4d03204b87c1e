package ike

import (
	"context"
	"errors"
	"fmt"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Childless IKE SAs (RFC 6023): an IKE_AUTH without SA, TSi and TSr sets
// up the IKE SA alone; Child SAs follow with CREATE_CHILD_SA, each with
// its own key exchange if the proposal has one. The responder announces
// support with CHILDLESS_IKEV2_SUPPORTED in IKE_SA_INIT, and an
// initiator may only leave the Child SA out if it did (RFC 6023 3).
//
// Policies (swanctl.conf connections.<conn>.childless, strongSwan's
// semantics):
const (
	// ChildlessAllow (the default): as responder accept childless
	// IKE SAs; as initiator create the first Child SA in IKE_AUTH
	// unless the IKE SA alone was asked for (InitiateIKE).
	ChildlessAllow = "allow"
	// ChildlessPrefer: as ChildlessAllow, but an initiator goes
	// childless whenever the responder supports it.
	ChildlessPrefer = "prefer"
	// ChildlessForce: only childless initiation, in either role; a
	// responder refuses an IKE_AUTH that carries a Child SA.
	ChildlessForce = "force"
	// ChildlessNever: as responder neither announce nor accept
	// childless IKE SAs; an initiator always creates a Child SA in
	// IKE_AUTH (and cannot set up an IKE SA alone).
	ChildlessNever = "never"
)

// ErrChildlessUnsupported: a childless IKE SA was wanted but the
// responder did not announce CHILDLESS_IKEV2_SUPPORTED (or our policy is
// never).
var ErrChildlessUnsupported = errors.New("ike: childless IKE SA not possible (RFC 6023): the responder does not support it, or childless = never")

func (p *PeerConfig) childless() string {
	if p == nil || p.Childless == "" {
		return ChildlessAllow
	}
	return p.Childless
}

func childlessNotify() wire.Payload {
	return &wire.Notify{NotifyType: wire.NotifyChildlessIKEv2Supported}
}

// goChildless decides, after IKE_SA_INIT, whether our IKE_AUTH leaves
// the Child SA out; an error if what the policy or the caller demands is
// impossible.
func (sa *ikeSA) goChildless() (bool, error) {
	policy := sa.peer.childless()
	wanted := sa.initChild == nil // the IKE SA alone was asked for
	switch {
	case policy == ChildlessNever:
		if wanted {
			return false, ErrChildlessUnsupported
		}
		return false, nil
	case policy == ChildlessForce || wanted:
		if !sa.peerChildless {
			return false, ErrChildlessUnsupported
		}
		return true, nil
	case policy == ChildlessPrefer:
		return sa.peerChildless, nil
	}
	return false, nil
}

// InitiateIKE sets up the named connection's IKE SA without any Child SA
// (a childless IKE SA, RFC 6023; swanctl --initiate --ike), returning
// once it is up or the attempt failed. An established IKE SA of the
// connection counts as done.
func (e *Engine) InitiateIKE(ctx context.Context, peerName string) error {
	p := e.peer(peerName)
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchPeer, peerName)
	}
	for _, sa := range e.connSAs(p.Name) {
		if sa.State() == StateEstablished && !sa.isRekeyed() {
			return nil
		}
	}
	return e.initiateNew(ctx, p, nil, nil)
}
