package ike

import (
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func TestCookieJar(t *testing.T) {
	j := &cookieJar{randFill: func(b []byte) { rand.Read(b) }}
	now := time.Unix(1_800_000_000, 0)
	ni := []byte("initiator nonce of some length..")
	ip := netip.MustParseAddr("198.51.100.7")
	c := j.make(now, ni, ip, 42)
	if len(c) != cookieLen || !j.check(now, c, ni, ip, 42) {
		t.Fatalf("own cookie %x refused", c)
	}
	if !j.check(now, c, ni, netip.MustParseAddr("::ffff:198.51.100.7"), 42) {
		t.Error("IPv4-mapped source refused")
	}
	for name, ok := range map[string]bool{
		"other address": j.check(now, c, ni, netip.MustParseAddr("198.51.100.8"), 42),
		"other SPI":     j.check(now, c, ni, ip, 43),
		"other nonce":   j.check(now, c, []byte("another nonce"), ip, 42),
		"truncated":     j.check(now, c[:len(c)-1], ni, ip, 42),
		"empty":         j.check(now, nil, ni, ip, 42),
		"bit flip":      j.check(now, append(append([]byte{}, c[:10]...), append([]byte{c[10] ^ 1}, c[11:]...)...), ni, ip, 42),
		"other version": j.check(now, append([]byte{c[0] + 5}, c[1:]...), ni, ip, 42),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	// After one rotation the cookie still works (the previous secret is
	// kept); a new cookie carries the new version.
	later := now.Add(cookieSecretLifetime + time.Second)
	if !j.check(later, c, ni, ip, 42) {
		t.Error("cookie refused right after a secret rotation")
	}
	c2 := j.make(later, ni, ip, 42)
	if c2[0] == c[0] || string(c2) == string(c) {
		t.Errorf("no new secret after rotation: %x %x", c[0], c2[0])
	}
	// Two rotations later it is gone.
	if j.check(later.Add(cookieSecretLifetime+time.Second), c, ni, ip, 42) {
		t.Error("cookie accepted after two rotations")
	}
	// A long pause drops both secrets.
	j2 := &cookieJar{randFill: func(b []byte) { rand.Read(b) }}
	c3 := j2.make(now, ni, ip, 1)
	if j2.check(now.Add(time.Hour), c3, ni, ip, 1) {
		t.Error("cookie accepted an hour later")
	}
}

// rawInit builds an IKE_SA_INIT request as a peer at some address would.
func rawInit(t *testing.T, spiI uint64, cookie []byte) []byte {
	t.Helper()
	kex, err := suite.NewKeyExchange(31, rand.Reader) // x25519
	if err != nil {
		t.Fatal(err)
	}
	var ps []wire.Payload
	if cookie != nil {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie})
	}
	p := mustProposal(t, "aes256gcm16-prfsha256-x25519", false)
	ps = append(ps, &wire.SA{Proposals: numbered([]wire.Proposal{p}, nil)},
		&wire.KE{Group: kex.Group(), Data: kex.PublicValue()},
		&wire.Nonce{Data: make([]byte, 32)})
	m := &wire.Message{Header: wire.Header{SPIi: spiI, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: ps}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var strangerAddr = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), 500)

// admitStrangers lets the responder's connection match strangerAddr, so
// that its requests create half-open SAs.
func admitStrangers(p *testPeer) {
	pc := p.e.Peers()[0]
	pc.RemoteAddrs = append(pc.RemoteAddrs, netip.MustParsePrefix("198.51.100.0/24"))
}

// TestResponderCookieChallenge: over the threshold the responder answers
// IKE_SA_INIT with N(COOKIE) and keeps no state; the initiator retries
// with the cookie and the SA comes up (RFC 7296 2.6). A made-up cookie
// gets another challenge, never state.
func TestResponderCookieChallenge(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	r.e.cfg.CookieThreshold = 1
	admitStrangers(r)
	to := netip.AddrPortFrom(rightAddr, 500)
	r.e.HandlePacket(to, strangerAddr, rawInit(t, 1001, nil)) // a half-open SA that never completes
	waitFor(t, "one half-open SA", func() bool { return len(r.e.SAs()) == 1 })
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	if got := r.e.Stats.CookiesSent.Load(); got != 1 {
		t.Errorf("cookies sent %d, want 1", got)
	}
	before := len(r.e.SAs())
	r.e.HandlePacket(to, strangerAddr, rawInit(t, 1002, make([]byte, cookieLen)))
	waitFor(t, "forged cookie counted", func() bool { return r.e.Stats.CookiesInvalid.Load() == 1 })
	if got := len(r.e.SAs()); got != before {
		t.Errorf("a forged cookie created state: %d SAs, had %d", got, before)
	}
}

// TestHalfOpenPerSource: one address cannot hold more than
// HalfOpenPerSource half-open SAs; other addresses are not affected.
func TestHalfOpenPerSource(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	r.e.cfg.CookieThreshold = -1
	r.e.cfg.HalfOpenPerSource = 2
	admitStrangers(r)
	to := netip.AddrPortFrom(rightAddr, 500)
	for spi := uint64(1); spi <= 3; spi++ {
		r.e.HandlePacket(to, strangerAddr, rawInit(t, spi, nil))
	}
	waitFor(t, "two half-open SAs", func() bool { return len(r.e.SAs()) == 2 })
	if got := r.e.Stats.HalfOpenRejected.Load(); got != 1 {
		t.Errorf("rejected %d, want 1", got)
	}
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
