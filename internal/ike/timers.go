package ike

import (
	"encoding/binary"
	"errors"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

const (
	// never arms a timer that does not fire in practice.
	never = 100 * 365 * 24 * time.Hour
	// halfOpenTimeout ends a responder IKE SA that never finished IKE_AUTH.
	halfOpenTimeout = 30 * time.Second
	// retryMin and retryJitter delay a rekey refused with TEMPORARY_FAILURE
	// (RFC 7296 2.25: "retry later").
	retryMin    = 2 * time.Second
	retryJitter = 8 * time.Second
	// minRekeyedWait is the least time an SA replaced by a rekey waits
	// for the peer's DELETE before it is deleted anyway (see rekeyedWait).
	minRekeyedWait = 2 * time.Minute
)

// rekeyedWait is how long an SA replaced by a rekey waits for the peer's
// DELETE: at least as long as our own retransmissions would take, since
// the peer may still be retransmitting the request we answered.
func (e *Engine) rekeyedWait() time.Duration {
	span := e.cfg.RetransmitTimeout * time.Duration(1<<min(e.cfg.RetransmitTries+1, 20)-1)
	return max(minRekeyedWait, span)
}

// IKELifetimes are the lifetimes of an IKE SA (swanctl.conf
// connections.<conn>.rekey_time, over_time, rand_time; RFC 7296 2.8).
type IKELifetimes struct {
	// RekeyTime is when the IKE SA is rekeyed; 0 never.
	RekeyTime time.Duration
	// ReauthTime is when the IKE SA is reauthenticated: created anew,
	// with its Child SAs, and the old one deleted (reauth.go); 0 never.
	ReauthTime time.Duration
	// OverTime is how long after the earlier of RekeyTime and
	// ReauthTime the SA is deleted if neither succeeded (its hard
	// lifetime).
	OverTime time.Duration
	// RandTime is the range of a random time subtracted from RekeyTime
	// and ReauthTime, so that both peers do not start at the same moment.
	RandTime time.Duration
}

// ChildLifetimes are the lifetimes of a Child SA (swanctl.conf
// children.<child>.rekey_time, life_time, rand_time and the _bytes and
// _packets variants; RFC 7296 2.8). Zero disables a limit.
type ChildLifetimes struct {
	RekeyTime, LifeTime, RandTime          time.Duration
	RekeyBytes, LifeBytes, RandBytes       uint64
	RekeyPackets, LifePackets, RandPackets uint64
}

// ikeLifetimes are the deadlines of one IKE SA.
type ikeLifetimes struct {
	rekeyAt, reauthAt, expireAt time.Time
}

// childLifetimes are the deadlines of one Child SA; the volume limits are
// compared with the data plane's counters in either direction.
type childLifetimes struct {
	rekeyAt, expireAt         time.Time
	rekeyBytes, lifeBytes     uint64
	rekeyPackets, lifePackets uint64
}

// randBelow returns a random value in [0, n).
func (e *Engine) randBelow(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	var b [8]byte
	e.random(b[:])
	return binary.BigEndian.Uint64(b[:]) % n
}

// startIKELifetimes sets the deadlines of a newly established IKE SA.
func (sa *ikeSA) startIKELifetimes() {
	now := sa.e.clock.Now()
	sa.lastRecv = now
	sa.lifetimes = ikeLifetimes{}
	if sa.peer == nil {
		return
	}
	l := sa.peer.IKELife
	if l.RekeyTime > 0 {
		jitter := time.Duration(sa.e.randBelow(uint64(min(l.RandTime, l.RekeyTime))))
		sa.lifetimes.rekeyAt = now.Add(l.RekeyTime - jitter)
	}
	if l.ReauthTime > 0 {
		jitter := time.Duration(sa.e.randBelow(uint64(min(l.RandTime, l.ReauthTime))))
		sa.lifetimes.reauthAt = now.Add(l.ReauthTime - jitter)
	}
	// The hard lifetime: over_time after the earlier of the two
	// (swanctl.conf(5): "relative in time to the rekey_time and
	// reauth_time values, as it applies to both").
	if first := firstPositive(l.RekeyTime, l.ReauthTime); first > 0 && l.OverTime > 0 {
		sa.lifetimes.expireAt = now.Add(first + l.OverTime)
	}
}

// firstPositive is the smaller of a and b that is above zero, or zero.
func firstPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// startChildLifetimes sets the deadlines of a newly installed Child SA.
func (sa *ikeSA) startChildLifetimes(c *childSA) {
	l := c.cfg.Life
	now := c.created
	if l.RekeyTime > 0 {
		c.life.rekeyAt = now.Add(l.RekeyTime - time.Duration(sa.e.randBelow(uint64(min(l.RandTime, l.RekeyTime)))))
	}
	if l.LifeTime > 0 {
		c.life.expireAt = now.Add(l.LifeTime)
	}
	if l.RekeyBytes > 0 {
		c.life.rekeyBytes = l.RekeyBytes - sa.e.randBelow(min(l.RandBytes, l.RekeyBytes))
	}
	c.life.lifeBytes = l.LifeBytes
	if l.RekeyPackets > 0 {
		c.life.rekeyPackets = l.RekeyPackets - sa.e.randBelow(min(l.RandPackets, l.RekeyPackets))
	}
	c.life.lifePackets = l.LifePackets
}

func (c *childSA) volumes() (bytes, packets uint64) {
	s := &c.installed.Stats
	return max(s.BytesIn.Load(), s.BytesOut.Load()), max(s.PacketsIn.Load(), s.PacketsOut.Load())
}

// hardExpired says why the Child SA has reached its hard lifetime, or "".
func (c *childSA) hardExpired(now time.Time) string {
	b, p := c.volumes()
	switch {
	case !c.life.expireAt.IsZero() && !now.Before(c.life.expireAt):
		return "life_time"
	case c.life.lifeBytes > 0 && b >= c.life.lifeBytes:
		return "life_bytes"
	case c.life.lifePackets > 0 && p >= c.life.lifePackets:
		return "life_packets"
	}
	return ""
}

// rekeyDue says why the Child SA should be rekeyed now, or "".
func (c *childSA) rekeyDue(now time.Time) string {
	if c.rekeyed {
		return ""
	}
	b, p := c.volumes()
	switch {
	case !c.life.rekeyAt.IsZero() && !now.Before(c.life.rekeyAt):
		return "rekey_time"
	case c.life.rekeyBytes > 0 && b >= c.life.rekeyBytes:
		return "rekey_bytes"
	case c.life.rekeyPackets > 0 && p >= c.life.rekeyPackets:
		return "rekey_packets"
	}
	return ""
}

func (sa *ikeSA) childList() []*childSA {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return append([]*childSA(nil), sa.children...)
}

// lastActivity is when we last heard from the peer: an authenticated IKE
// message or, as the data plane reports it, an ESP packet.
func (sa *ikeSA) lastActivity() time.Time {
	t := sa.lastRecv
	for _, c := range sa.childList() {
		if ns := c.installed.Stats.LastIn.Load(); ns != 0 {
			if in := time.Unix(0, ns); in.After(t) {
				t = in
			}
		}
	}
	return t
}

// nextDeadline is the earliest moment lifecycle has something to do;
// zero if nothing is scheduled.
func (sa *ikeSA) nextDeadline() time.Time {
	if st := sa.State(); st == StateConnecting && !sa.initiator {
		return sa.created.Add(halfOpenTimeout)
	} else if st != StateEstablished {
		return time.Time{}
	}
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	sa.adoptDraining()
	for _, c := range sa.draining {
		consider(c.drainAt)
	}
	consider(sa.lifetimes.expireAt)
	if !sa.rekeyed && sa.reauthing == nil {
		consider(sa.lifetimes.rekeyAt)
		if sa.canReauth() {
			consider(sa.lifetimes.reauthAt)
		}
	}
	// Byte and packet limits need no deadline: the data plane calls
	// volumeLimit as it counts (sadb.ChildSA.Limits).
	for _, c := range sa.childList() {
		consider(c.life.expireAt)
		if !c.rekeyed && !sa.replacing(c) {
			consider(c.life.rekeyAt)
		}
	}
	if d := sa.peerConfigDPD(); d > 0 && !sa.rekeyed {
		consider(sa.lastActivity().Add(d))
	}
	consider(sa.keepaliveAt())
	return next
}

func (sa *ikeSA) peerConfigDPD() time.Duration {
	if sa.peer == nil {
		return 0
	}
	return sa.peer.DPDDelay
}

// armLife points the lifetime timer at the next deadline and publishes
// the deadlines for status queries.
func (sa *ikeSA) armLife() {
	sa.mu.Lock()
	sa.shown = sa.lifetimes
	if sa.rekeyed {
		sa.shown.rekeyAt, sa.shown.reauthAt = time.Time{}, time.Time{}
	}
	for _, c := range sa.children {
		c.shown = c.life
		if c.rekeyed {
			c.shown.rekeyAt = time.Time{}
		}
	}
	sa.mu.Unlock()
	next := sa.nextDeadline()
	if next.Equal(sa.lifeArmed) {
		return
	}
	sa.lifeArmed = next
	if next.IsZero() {
		sa.life.Stop()
		return
	}
	sa.life.Reset(max(0, next.Sub(sa.e.clock.Now())))
}

// lifecycle does the one most urgent thing that is due: a hard expiry,
// an IKE SA rekey, a Child SA rekey or a liveness check. It asks to be
// called again at once after acting, since more may be due.
func (sa *ikeSA) lifecycle() {
	now := sa.e.clock.Now()
	if st := sa.State(); st == StateConnecting && !sa.initiator {
		if !now.Before(sa.created.Add(halfOpenTimeout)) {
			sa.log.Info("half-open IKE SA expired")
			sa.setState(StateDeleted)
		}
		return
	} else if st != StateEstablished {
		return
	}
	sa.maybeKeepalive(now)
	sa.removeDrained(false)
	if t := sa.lifetimes.expireAt; !t.IsZero() && !now.Before(t) {
		sa.log.Info("IKE SA reached its hard lifetime; deleting it")
		sa.afterFailure(sa.deleteIKE(sa.e.cfg.RetransmitTries))
		return
	}
	for _, c := range sa.childList() {
		if why := c.hardExpired(now); why != "" {
			sa.log.Info("Child SA reached its hard lifetime; deleting it", "child", c.cfg.Name, "limit", why)
			if c.rekeyed {
				// Replaced, but the replacement never came to be (the peer
				// dropped its half of a collision): keep the tunnel.
				sa.ensureChild(c.cfg)
			}
			sa.afterFailure(sa.deleteChildSA(c))
			sa.lifeDue = true
			return
		}
	}
	if sa.rekeyed {
		return
	}
	if sa.reauthing == nil {
		if t := sa.lifetimes.reauthAt; !t.IsZero() && !now.Before(t) && sa.canReauth() {
			sa.afterFailure(sa.reauth())
			sa.lifeDue = true
			return
		}
		if t := sa.lifetimes.rekeyAt; !t.IsZero() && !now.Before(t) {
			sa.afterFailure(sa.rekeyIKE())
			sa.lifeDue = true
			return
		}
	}
	for _, c := range sa.childList() {
		if why := c.rekeyDue(now); why != "" && !sa.replacing(c) {
			sa.log.Info("rekeying Child SA", "child", c.cfg.Name, "limit", why)
			sa.afterFailure(sa.rekeyChild(c))
			sa.lifeDue = true
			return
		}
	}
	if d := sa.peerConfigDPD(); d > 0 && !now.Before(sa.lastActivity().Add(d)) {
		sa.afterFailure(sa.dpd())
	}
}

// retryAt is when to try again after TEMPORARY_FAILURE.
func (sa *ikeSA) retryAt() time.Time {
	return sa.e.clock.Now().Add(retryMin + time.Duration(sa.e.randBelow(uint64(retryJitter))))
}

// dpd sends an empty INFORMATIONAL request, the liveness check of RFC
// 7296 2.4, after dpd_delay without a word from the peer.
func (sa *ikeSA) dpd() error {
	sa.log.Debug("checking liveness of peer")
	_, _, err := sa.exchange(wire.Informational, nil, sa.e.cfg.RetransmitTries)
	return err
}

// afterFailure handles the end of an exchange we started: a peer that
// stopped answering is dead (RFC 7296 2.4) and its SAs go, with what
// dpd_action says.
func (sa *ikeSA) afterFailure(err error) {
	if err == nil || !errors.Is(err, ErrTimeout) || sa.State() == StateDeleted {
		if err != nil && !errors.Is(err, ErrClosed) {
			sa.log.Info("exchange failed", "err", err)
		}
		return
	}
	sa.log.Warn("peer does not answer; deleting the IKE SA")
	for _, c := range sa.childList() {
		switch c.cfg.DPDAction {
		case ActionRestart:
			sa.restart = appendOnce(sa.restart, c.cfg)
		case ActionTrap:
			sa.trapChild(c.cfg)
		}
	}
	sa.setState(StateDeleted) // no DELETE: nobody would answer it
}

func appendOnce(list []*ChildConfig, c *ChildConfig) []*ChildConfig {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}

// Actions for dpd_action and close_action (swanctl.conf).
const (
	ActionNone    = ""
	ActionClear   = "clear"
	ActionRestart = "restart" // dpd_action; close_action calls it "start"
	// ActionTrap clears the SA and asks for a trap policy in its place
	// (Config.Trap), so the next packet sets the child up again.
	ActionTrap = "trap"
)

// runInitiate runs the handshake of an initiator SA and reports whether
// the SA is up. A handshake the peer never answered is tried again, on a
// new IKE SA, up to keyingtries times.
func (sa *ikeSA) runInitiate() bool {
	err := sa.initiate()
	if err == nil {
		sa.finishInitiate(nil)
		for _, cfg := range sa.moreChildren {
			if err := sa.createChild(cfg); err != nil {
				sa.log.Warn("cannot create Child SA", "child", cfg.Name, "err", err)
			}
		}
		return sa.State() == StateEstablished
	}
	if sa.State() == StateEstablished {
		// Only the first Child SA failed (its notify is in err): the
		// IKE SA stays up on both sides (RFC 7296 1.2, 2.21.1), as in
		// strongSwan ("failed to establish CHILD_SA, keeping IKE_SA"),
		// rather than vanishing here while the peer keeps it.
		sa.log.Warn("Child SA setup failed, keeping the IKE SA", "err", err)
		sa.finishInitiate(err)
		for _, cfg := range sa.moreChildren {
			if err := sa.createChild(cfg); err != nil {
				sa.log.Warn("cannot create Child SA", "child", cfg.Name, "err", err)
			}
		}
		return sa.State() == StateEstablished
	}
	sa.log.Warn("IKE SA setup failed", "err", err)
	tries := sa.peer.KeyingTries
	if errors.Is(err, ErrTimeout) && (tries < 0 || sa.attempt+1 < tries) {
		// A reauthentication is retried by the SA it replaces (reauth.go).
		if sa.reauthOf != nil {
			sa.finishInitiate(err)
			return false
		}
		if _, err := sa.e.spawnInitiatorFor(sa.peer, sa.initChild, sa.moreChildren, sa.initDone, sa.attempt+1, sa.initTrigger); err == nil {
			sa.log.Info("trying again", "attempt", sa.attempt+2)
			return false
		}
	}
	sa.finishInitiate(err)
	return false
}

func (sa *ikeSA) finishInitiate(err error) {
	select {
	case sa.initDone <- err:
	default:
	}
}

// replacing reports whether c replaces a Child SA that is still waiting
// for its DELETE. Until then the exchange that created c may not be
// finished at the peer (its request answered by us, our answer not yet
// received), and a rekey of c would find nothing there.
func (sa *ikeSA) replacing(c *childSA) bool {
	for _, o := range sa.childList() {
		if o != c && o.cfg == c.cfg && o.rekeyed && o.installed.ReqID < c.installed.ReqID {
			return true
		}
	}
	return false
}
