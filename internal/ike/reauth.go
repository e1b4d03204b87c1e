package ike

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Reauthentication (swanctl.conf reauth_time; RFC 7296 2.8.3): unlike a
// rekey, which only refreshes keys, the IKE SA is set up from scratch,
// IKE_SA_INIT and IKE_AUTH with the credentials checked again, and its
// Child SAs are created anew on it. goipsec does this make-before-break,
// like strongSwan with charon.make_before_break: the new IKE SA and its
// Child SAs come up while the old ones still carry traffic, then the old
// IKE SA is deleted (its DELETE takes its Child SAs along, RFC 7296
// 1.4.1). Peers handle overlapping SAs (strongSwan since 5.3.0).
//
// A responder that leased virtual IPs to the peer cannot start over
// itself: the peer would have to ask for them again. As in strongSwan
// (ike_sa_can_reauthenticate), it tells the peer its reauthentication
// deadline instead, with AUTH_LIFETIME (RFC 4478), and the IKE SA ends
// at its hard lifetime unless the peer reauthenticates.

// reauthState belongs to the SA goroutine.
type reauthState struct {
	// reauthing is the IKE SA being set up to replace this one.
	reauthing *ikeSA
	// reauthOf is the IKE SA that this one replaces once up.
	reauthOf *ikeSA
	// wantVIPs, if set, are the virtual IPs to ask for instead of the
	// configured ones: those of the SA being replaced, so that the
	// addresses stay.
	wantVIPs []netip.Addr
}

// minAuthLifetime is the least time left to reauthenticate after an
// AUTH_LIFETIME, as strongSwan gives ("at least some seconds").
const minAuthLifetime = 10 * time.Second

// canReauth reports whether we may reauthenticate actively: not when we
// leased virtual IPs to the peer.
func (sa *ikeSA) canReauth() bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return len(sa.vip.remote) == 0
}

// reauth starts the IKE SA that replaces this one, with a Child SA for
// each child configuration this SA has one of; finishReauth completes
// the switch.
func (sa *ikeSA) reauth() error {
	if sa.State() != StateEstablished || sa.rekeyed {
		return nil
	}
	var cfgs []*ChildConfig
	for _, c := range sa.childList() {
		if c.rekeyed {
			// As for an IKE SA rekey (rekeyIKE): let the Child SA
			// rekey finish first.
			sa.lifetimes.reauthAt = sa.retryAt()
			return nil
		}
		if !slices.Contains(cfgs, c.cfg) {
			cfgs = append(cfgs, c.cfg)
		}
	}
	sa.mu.Lock()
	vips := append([]netip.Addr(nil), sa.vip.local...)
	sa.mu.Unlock()
	e := sa.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	n := e.newSA(sa.peer, true)
	// The peer's current address (a NAT may have moved it, and a
	// responder's peer may have no configured address at all), as
	// strongSwan reauthenticates to its other_host.
	n.local, n.remote = sa.local, sa.remote
	if len(cfgs) > 0 {
		n.initChild, n.moreChildren = cfgs[0], cfgs[1:]
	}
	n.initDone = make(chan error, 1)
	n.reauthOf = sa
	n.wantVIPs = vips
	e.sas[n.spiI] = n
	e.indexConn(n)
	sa.reauthing = n
	sa.log.Info("reauthenticating the IKE SA", "new_ike_sa", n.unique, "children", len(cfgs))
	e.start(n)
	return nil
}

// reportReauth tells the SA this one replaces how the setup went; it
// runs on the new SA's goroutine once its Child SAs are created.
func (sa *ikeSA) reportReauth() {
	if sa.reauthOf == nil {
		return
	}
	if !sa.reauthOf.tryEnqueue(command{kind: cmdReauthDone, ike: sa}) {
		sa.log.Warn("cannot hand the reauthenticated IKE SA over: the old one is busy")
	}
	sa.reauthOf = nil
}

// finishReauth deletes this IKE SA once n, its replacement, is up; if n
// failed, it tries again a little later, until the hard lifetime ends it.
func (sa *ikeSA) finishReauth(n *ikeSA) error {
	if sa.reauthing != n {
		return nil
	}
	sa.reauthing = nil
	if n.State() != StateEstablished {
		sa.lifetimes.reauthAt = sa.retryAt()
		sa.log.Warn("reauthentication failed; trying again", "at", sa.lifetimes.reauthAt, "expires", sa.lifetimes.expireAt)
		return nil
	}
	for _, c := range sa.childList() {
		if !n.hasChild(c.cfg.Name) {
			sa.log.Warn("Child SA not recreated by the reauthentication; it goes with the old IKE SA", "child", c.cfg.Name)
		}
	}
	sa.log.Info("IKE SA reauthenticated; deleting the old one", "new_ike_sa", n.unique)
	sa.markRekeyed()
	err := sa.deleteIKE(sa.e.cfg.RetransmitTries)
	if errors.Is(err, ErrTimeout) {
		err = nil // the new SA is up; the peer may have dropped the old one
	}
	return err
}

// authLifetimeNotify is the responder's AUTH_LIFETIME (RFC 4478 3): the
// seconds left until the peer must reauthenticate. Sent, as by
// strongSwan, only when we have a reauthentication deadline that we
// cannot meet ourselves.
func (sa *ikeSA) authLifetimeNotify() *wire.Notify {
	at := sa.lifetimes.reauthAt
	if at.IsZero() || sa.canReauth() {
		return nil
	}
	secs := max(0, at.Sub(sa.e.clock.Now())/time.Second)
	data := binary.BigEndian.AppendUint32(nil, uint32(min(secs, 1<<32-1)))
	sa.log.Info("cannot reauthenticate the peer actively (it holds virtual IPs from us); asking it to (AUTH_LIFETIME)", "seconds", uint32(secs))
	return &wire.Notify{NotifyType: wire.NotifyAuthLifetime, Data: data}
}

// applyAuthLifetime honours the peer's AUTH_LIFETIME (RFC 4478 3): we
// reauthenticate over_time before it ends, at once if that is past, and
// the SA ends when it does (but not sooner than minAuthLifetime).
func (sa *ikeSA) applyAuthLifetime(resp []wire.Payload) {
	n := wire.FindNotify(resp, wire.NotifyAuthLifetime)
	if n == nil {
		return
	}
	if len(n.Data) != 4 {
		sa.log.Info("ignoring malformed AUTH_LIFETIME", "len", len(n.Data))
		return
	}
	life := time.Duration(binary.BigEndian.Uint32(n.Data)) * time.Second
	now := sa.e.clock.Now()
	var over time.Duration
	if sa.peer != nil {
		over = sa.peer.IKELife.OverTime
	}
	soft := now.Add(life - over)
	if life < over {
		soft = now
	}
	if sa.lifetimes.reauthAt.IsZero() || sa.lifetimes.reauthAt.After(soft) {
		sa.lifetimes.reauthAt = soft
	}
	sa.lifetimes.expireAt = now.Add(max(life, minAuthLifetime))
	sa.log.Info("peer asks for reauthentication (AUTH_LIFETIME)", "lifetime", life, "reauth_at", sa.lifetimes.reauthAt)
}
