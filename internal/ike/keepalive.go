package ike

import "time"

// keepaliveAt is when the IKE SA owes the NAT in front of us a
// NAT-keepalive (RFC 3948 4): only behind a NAT (our address did not match
// the peer's NAT_DETECTION_DESTINATION_IP; a NAT only the peer has keeps
// no mapping for us to refresh), only on the NAT-T port, and Config.KeepAlive
// after the last packet we sent, IKE or ESP. Zero if none is due.
func (sa *ikeSA) keepaliveAt() time.Time {
	d := sa.e.cfg.KeepAlive
	if d <= 0 || sa.e.cfg.SendKeepalive == nil || !sa.natLocal || sa.rekeyed || sa.local.Port() != sa.e.cfg.NATTPort {
		return time.Time{}
	}
	return sa.lastOutbound().Add(d)
}

// lastOutbound is when we last sent the peer anything: an IKE message or,
// as the data plane reports it, an ESP packet.
func (sa *ikeSA) lastOutbound() time.Time {
	t := sa.lastSent
	for _, c := range sa.childList() {
		if ns := c.installed.Stats.LastOut.Load(); ns != 0 {
			if out := time.Unix(0, ns); out.After(t) {
				t = out
			}
		}
	}
	return t
}

// maybeKeepalive sends a NAT-keepalive if one is due.
func (sa *ikeSA) maybeKeepalive(now time.Time) {
	at := sa.keepaliveAt()
	if at.IsZero() || now.Before(at) {
		return
	}
	sa.lastSent = now
	if err := sa.e.cfg.SendKeepalive(sa.local, sa.remote); err != nil {
		sa.log.Warn("NAT-keepalive failed", "peer", sa.remote, "err", err)
		return
	}
	sa.e.Stats.KeepalivesSent.Add(1)
}
