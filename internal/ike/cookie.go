package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Denial-of-service protection for the responder (RFC 7296 2.6, RFC
// 8019). While few IKE SAs are half-open, IKE_SA_INIT requests are
// answered at once. Over CookieThreshold half-open SAs, a request must
// carry a COOKIE that proves the initiator receives packets at its source
// address; without one it gets a stateless N(COOKIE) answer and no state
// is kept. Independently, one source address may hold at most
// HalfOpenPerSource half-open SAs (RFC 8019 4.4 / strongSwan's
// block_threshold), and the engine at most MaxHalfOpen.
//
// The cookie is RFC 7296 2.6's suggestion:
//
//	Cookie = <VersionIDofSecret> | HMAC-SHA-256(<secret>, Ni | IPi | SPIi)
//
// The secret changes every cookieSecretLifetime; cookies made with the
// previous secret are still accepted, so an initiator that got a cookie
// just before a change is not turned away.

// Defaults, as strongSwan's charon.cookie_threshold and block_threshold.
const (
	DefaultCookieThreshold   = 30
	DefaultHalfOpenPerSource = 5
	cookieSecretLifetime     = 2 * time.Minute
	cookieLen                = 1 + sha256.Size
)

// cookieJar holds the current and previous cookie secrets.
type cookieJar struct {
	mu       sync.Mutex
	version  byte
	secrets  [2][32]byte // [version&1]
	valid    [2]bool
	rotated  time.Time
	randFill func([]byte)
}

// rotateLocked makes a new secret if the current one is older than the
// lifetime; jar.mu must be held.
func (j *cookieJar) rotateLocked(now time.Time) {
	if j.valid[j.version&1] && now.Sub(j.rotated) < cookieSecretLifetime {
		return
	}
	if j.valid[j.version&1] {
		j.version++
	}
	if now.Sub(j.rotated) >= 2*cookieSecretLifetime {
		j.valid[(j.version+1)&1] = false // the previous one is too old too
	}
	j.randFill(j.secrets[j.version&1][:])
	j.valid[j.version&1] = true
	j.rotated = now
}

func cookieMAC(secret *[32]byte, version byte, ni []byte, ip netip.Addr, spiI uint64) []byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write(ni)
	a := ip.Unmap().AsSlice()
	m.Write(a)
	var spi [8]byte
	binary.BigEndian.PutUint64(spi[:], spiI)
	m.Write(spi[:])
	return m.Sum([]byte{version})
}

// make returns the cookie for an initiator's nonce, address and SPI.
func (j *cookieJar) make(now time.Time, ni []byte, ip netip.Addr, spiI uint64) []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rotateLocked(now)
	return cookieMAC(&j.secrets[j.version&1], j.version, ni, ip, spiI)
}

// check reports whether cookie is one we made, with the current or the
// previous secret, for these values; the comparison is in constant time.
func (j *cookieJar) check(now time.Time, cookie, ni []byte, ip netip.Addr, spiI uint64) bool {
	if len(cookie) != cookieLen {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rotateLocked(now)
	v := cookie[0]
	if v != j.version && v != j.version-1 || !j.valid[v&1] {
		return false
	}
	return hmac.Equal(cookie, cookieMAC(&j.secrets[v&1], v, ni, ip, spiI))
}

func (e *Engine) cookieThreshold() int {
	if e.cfg.CookieThreshold == 0 {
		return DefaultCookieThreshold
	}
	return e.cfg.CookieThreshold
}

func (e *Engine) halfOpenPerSource() int {
	if e.cfg.HalfOpenPerSource == 0 {
		return DefaultHalfOpenPerSource
	}
	return e.cfg.HalfOpenPerSource
}

// admitInit decides whether a new IKE_SA_INIT request (one that is not a
// retransmission to a half-open SA) may create state; e.mu is held. If not
// and reply is non-nil, the caller sends reply (a COOKIE request) after
// unlocking.
func (e *Engine) admitInit(ev packetEvent) (ok bool, reply []byte) {
	if e.cookies.randFill == nil {
		e.cookies.randFill = e.random
	}
	if len(e.halfOpen) >= e.cookieThreshold() && e.cfg.CookieThreshold >= 0 {
		ps := ev.msg.Payloads
		nonce := findNonce(ps)
		if nonce == nil {
			e.Stats.Malformed.Add(1)
			return false, nil
		}
		now := e.clock.Now()
		if n := wire.FindNotify(ps, wire.NotifyCookie); n == nil || !e.cookies.check(now, n.Data, nonce, ev.remote.Addr(), ev.msg.SPIi) {
			if n != nil {
				e.Stats.CookiesInvalid.Add(1)
			}
			e.Stats.CookiesSent.Add(1)
			return false, cookieReply(ev.msg.SPIi, e.cookies.make(now, nonce, ev.remote.Addr(), ev.msg.SPIi))
		}
	}
	n, src := 0, ev.remote.Addr()
	for k := range e.halfOpen {
		if k.remote.Addr() == src {
			n++
		}
	}
	if n >= e.halfOpenPerSource() {
		e.Stats.HalfOpenRejected.Add(1)
		return false, nil
	}
	return true, nil
}

// cookieReply is the stateless IKE_SA_INIT response HDR(A,0), N(COOKIE)
// (RFC 7296 2.6).
func cookieReply(spiI uint64, cookie []byte) []byte {
	h := wire.Header{SPIi: spiI, Version: wire.Version2, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}
	m := &wire.Message{Header: h, Payloads: []wire.Payload{&wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie}}}
	pkt, err := m.Marshal()
	if err != nil {
		return nil
	}
	return pkt
}

func findNonce(ps []wire.Payload) []byte {
	for _, p := range ps {
		if n, ok := p.(*wire.Nonce); ok {
			return n.Data
		}
	}
	return nil
}

// sendStateless sends reply, if any, to the request's source.
func (e *Engine) sendStateless(ev packetEvent, reply []byte) {
	if reply != nil {
		_ = e.cfg.Send(ev.local, ev.remote, reply)
	}
}
