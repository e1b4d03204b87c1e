package dataplane

import "sync/atomic"

// Counters counts packets the data plane did not deliver, by reason, plus a
// few events that are not errors (keepalives, dummy packets). The live
// copy's fields are only accessed atomically; Dataplane.Counters returns a
// plain snapshot.
type Counters struct {
	Malformed   uint64 // truncated or invalid ESP, inner IPv4/IPv6 or other datagrams, bad next header
	NoSA        uint64 // ESP with an SPI we have no SA for (RFC 4303 3.4.2), or an SA deleted in flight
	Replay      uint64 // duplicate or too old sequence number (RFC 4303 3.4.3)
	Auth        uint64 // ICV check failed (RFC 4303 3.4.4)
	Padding     uint64 // bad padding after a valid ICV (RFC 4303 2.4)
	Policy      uint64 // decrypted packet outside the SA's selectors (RFC 4301 5.2)
	NoPolicy    uint64 // outbound packet no SA's selectors match: dropped, never sent in the clear
	TooBig      uint64 // the ESP packet would not fit a UDP datagram or the buffer
	Unsupported uint64 // SAs to a peer of an address family not listened on (or whose raw ESP socket is missing)
	// EncapMismatch: ESP in UDP for an SA negotiated as raw ESP, or raw
	// ESP for one negotiated as ESP in UDP (Linux's XfrmInStateMismatch).
	EncapMismatch uint64
	SeqExhausted  uint64 // the SA's sequence numbers ran out (RFC 4303 3.3.3): it needs a rekey
	Expired       uint64 // the SA reached its hard byte or packet lifetime (RFC 4301 4.4.2.1)
	SendErrors    uint64 // UDP send failed
	TUNReadErr    uint64 // TUN read errors (including too many segments)
	TUNWriteErr   uint64 // TUN write errors
	NoTUN         uint64 // decrypted packets dropped because the data plane runs without a TUN
	Dummy         uint64 // next header 59 dummy packets (RFC 4303 2.6), dropped as they should be
	Keepalive     uint64 // NAT-keepalive packets received (RFC 3948 2.3)
	// KeepaliveSent counts the NAT-keepalives we sent (RFC 3948 4).
	KeepaliveSent uint64
	ShuntDrop     uint64 // outbound packet matched a DISCARD policy (mode = drop)
	BypassInTUN   uint64 // outbound packet matched a BYPASS policy (mode = pass) but was routed into the TUN anyway
	// Trap queues (trap.go), from sadb.HoldStats: held packets dropped
	// because the queue was full or too many traps held packets, because
	// they waited too long, or because the negotiation failed.
	TrapQueueFull, TrapExpired, TrapFailed uint64
}

func inc(p *uint64)           { atomic.AddUint64(p, 1) }
func add(p *uint64, n uint64) { atomic.AddUint64(p, n) }

// snapshot loads every counter atomically.
func (c *Counters) snapshot() Counters {
	return Counters{
		Malformed:     atomic.LoadUint64(&c.Malformed),
		NoSA:          atomic.LoadUint64(&c.NoSA),
		Replay:        atomic.LoadUint64(&c.Replay),
		Auth:          atomic.LoadUint64(&c.Auth),
		Padding:       atomic.LoadUint64(&c.Padding),
		Policy:        atomic.LoadUint64(&c.Policy),
		NoPolicy:      atomic.LoadUint64(&c.NoPolicy),
		TooBig:        atomic.LoadUint64(&c.TooBig),
		Unsupported:   atomic.LoadUint64(&c.Unsupported),
		EncapMismatch: atomic.LoadUint64(&c.EncapMismatch),
		SeqExhausted:  atomic.LoadUint64(&c.SeqExhausted),
		Expired:       atomic.LoadUint64(&c.Expired),
		SendErrors:    atomic.LoadUint64(&c.SendErrors),
		TUNReadErr:    atomic.LoadUint64(&c.TUNReadErr),
		TUNWriteErr:   atomic.LoadUint64(&c.TUNWriteErr),
		NoTUN:         atomic.LoadUint64(&c.NoTUN),
		Dummy:         atomic.LoadUint64(&c.Dummy),
		Keepalive:     atomic.LoadUint64(&c.Keepalive),
		KeepaliveSent: atomic.LoadUint64(&c.KeepaliveSent),
		ShuntDrop:     atomic.LoadUint64(&c.ShuntDrop),
		BypassInTUN:   atomic.LoadUint64(&c.BypassInTUN),
		// Filled from the trap queues' statistics by Dataplane.Counters.
		TrapQueueFull: atomic.LoadUint64(&c.TrapQueueFull),
		TrapExpired:   atomic.LoadUint64(&c.TrapExpired),
		TrapFailed:    atomic.LoadUint64(&c.TrapFailed),
	}
}

// Map returns the counters by their status-output names (malformed, no_sa,
// replay, auth, padding, policy, no_policy, too_big, ...). Call it on a
// snapshot from Dataplane.Counters.
func (c Counters) Map() map[string]uint64 {
	return map[string]uint64{
		"malformed":       c.Malformed,
		"no_sa":           c.NoSA,
		"replay":          c.Replay,
		"auth":            c.Auth,
		"padding":         c.Padding,
		"policy":          c.Policy,
		"no_policy":       c.NoPolicy,
		"too_big":         c.TooBig,
		"unsupported":     c.Unsupported,
		"encap_mismatch":  c.EncapMismatch,
		"seq_exhausted":   c.SeqExhausted,
		"expired":         c.Expired,
		"send_error":      c.SendErrors,
		"tun_read_error":  c.TUNReadErr,
		"tun_write_error": c.TUNWriteErr,
		"no_tun":          c.NoTUN,
		"dummy":           c.Dummy,
		"keepalive":       c.Keepalive,
		"keepalive_sent":  c.KeepaliveSent,
		"shunt_drop":      c.ShuntDrop,
		"bypass_in_tun":   c.BypassInTUN,
		"trap_queue_full": c.TrapQueueFull,
		"trap_expired":    c.TrapExpired,
		"trap_failed":     c.TrapFailed,
	}
}

// Counters returns a snapshot of the drop counters.
func (d *Dataplane) Counters() Counters {
	c := d.counters.snapshot()
	if d.acq == nil {
		return c
	}
	st := &d.acq.Stats
	c.TrapQueueFull += st.Full.Load() + st.NoRoom.Load()
	c.TrapExpired += st.Expired.Load()
	c.TrapFailed += st.Flushed.Load()
	return c
}
