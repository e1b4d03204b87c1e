package ike

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
