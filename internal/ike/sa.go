package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// State is the life-cycle state of an IKE SA.
type State int

const (
	StateConnecting State = iota
	StateEstablished
	StateDeleting
	StateDeleted
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "CONNECTING"
	case StateEstablished:
		return "ESTABLISHED"
	case StateDeleting:
		return "DELETING"
	}
	return "DELETED"
}

type packetEvent struct {
	msg           *wire.Message
	raw           []byte
	local, remote netip.AddrPort
	frag          *reassembledMsg // set if reassembled from fragments (RFC 7383)
	// inner and first are the decrypted content of the SK payload (or of
	// the reassembled fragments) and its first payload type, kept for
	// IntAuth (RFC 9242 3.3.2).
	inner []byte
	first wire.PayloadType
}

type cmdKind int

const (
	cmdDeleteIKE cmdKind = iota
	cmdDeleteChild
	cmdShutdown
	// cmdDrop deletes the SA without telling the peer, which has lost it
	// already (INITIAL_CONTACT, RFC 7296 3.10.1).
	cmdDrop
	cmdCreateChild // CREATE_CHILD_SA for a new Child SA (RFC 7296 1.3.1)
	cmdRekeyChild  // rekey a Child SA now (1.3.3)
	cmdRekeyIKE    // rekey the IKE SA now (1.3.2)
	cmdWake        // re-read the Child SAs and deadlines (after a hand-over)
	cmdVolume      // a Child SA reached a byte or packet limit: run lifecycle
	cmdPeerMoved   // authenticated ESP came from a new address (natd.go)
	cmdRedundant   // lost a rekey collision: wait for the peer's DELETE
	cmdReauthDone  // the IKE SA replacing this one (reauth.go) is up, or failed
)

type command struct {
	kind  cmdKind
	child string
	cfg   *ChildConfig   // cmdCreateChild
	addr  netip.AddrPort // cmdPeerMoved
	ike   *ikeSA         // cmdReauthDone
	trig  *Trigger       // cmdCreateChild for an acquire
	reply chan error
}

// ikeSA is one IKE SA. Everything below mu is owned by the SA's goroutine;
// mu guards only what status queries read from other goroutines.
type ikeSA struct {
	e         *Engine
	log       *slog.Logger
	peer      *PeerConfig // nil for a responder until IKE_AUTH picked one
	initiator bool        // we are the original initiator
	unique    uint32
	spiI      uint64
	spiR      uint64

	inbox    inbox // IKE messages for this goroutine (inbox.go)
	commands chan command
	pending  []command // commands that arrived during an exchange

	// initiator only
	initChild *ChildConfig
	// peerChildless: the peer sent CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
	peerChildless bool
	moreChildren  []*ChildConfig // created with CREATE_CHILD_SA once up
	initTrigger   *Trigger       // the packet that asked for initChild (an acquire)
	initDone      chan error

	local, remote netip.AddrPort
	initRemote    netip.AddrPort // address the IKE_SA_INIT came from (half-open key)
	natLocal      bool           // we are behind a NAT (our address did not match the peer's hash)
	natRemote     bool           // the peer is behind a NAT, or faked one
	natFake       bool           // no NAT either way, but we force UDP encapsulation
	lastSent      time.Time      // when we last sent an IKE message (NAT-keepalives)
	localID       Identity
	remoteID      Identity

	suite      ikeSuite
	keys       *ikeKeys
	nonceI     []byte
	nonceR     []byte
	msg1, msg2 []byte // IKE_SA_INIT request and response, signed in AUTH
	auth       authState

	nextReqID   uint32 // message ID of our next request
	expectReqID uint32 // message ID of the peer's next request
	lastResp    []byte // cached response to the peer's last request
	ivCounter   uint64
	frag        fragState         // IKE fragmentation (RFC 7383), see fragment.go
	inter       intermediateState // IKE_INTERMEDIATE (RFC 9242), see intermediate.go

	// announced: Config.Events heard this SA come up (or the SA it
	// replaced in a rekey), so it hears it go down; it moves with the
	// Child SAs to the IKE SA that replaces this one (moveChildren).
	// fromRekey: the SA was created by a rekey (no handshake); set before
	// the SA's goroutine starts.
	announced atomic.Bool
	fromRekey bool

	sched     schedState
	life      Timer     // the next lifetime or liveness deadline (timers.go)
	lifeArmed time.Time // when life fires; zero if not armed
	lifeDue   bool      // life fired during an exchange
	// idIndexed is the key of the SA in Engine.byID once established;
	// guarded by the engine's mu.
	idIndexed *idKey
	lifetimes ikeLifetimes
	lastRecv  time.Time // last authenticated message from the peer (DPD)
	active    *activeExchange
	rekeyed   bool // replaced by a new IKE SA; waits for its DELETE
	// lastInstalled is the Child SA install added last (for collisions).
	lastInstalled *childSA
	// draining are deleted Child SAs replaced by a rekey that still take
	// inbound packets for a moment (see retire). Only the SA's goroutine
	// touches it; adopted (guarded by mu) holds the draining Child SAs an
	// IKE SA rekey handed over from the replaced IKE SA's goroutine
	// (moveChildren) until this SA's goroutine takes them (adoptDraining).
	draining []*childSA
	adopted  []*childSA
	// vip are the virtual IPs of the SA (vip.go), guarded by mu.
	vip vipState
	// restart lists child configs to initiate again once this SA is gone
	// (dpd_action/close_action = restart/start).
	restart []*ChildConfig
	reauthState
	// attempt counts initiation attempts (keyingtries).
	attempt int

	mu          sync.Mutex
	rekeyedFlag bool         // rekeyed, for other goroutines
	shown       ikeLifetimes // lifetimes as of the last armLife, for status
	state       State
	created     time.Time
	established time.Time
	children    []*childSA
}

func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// State returns the SA's state; safe from any goroutine.
func (sa *ikeSA) State() State {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.state
}

func (sa *ikeSA) setState(s State) {
	sa.mu.Lock()
	sa.state = s
	if s == StateEstablished {
		sa.established = sa.e.clock.Now()
	}
	sa.mu.Unlock()
	if s == StateEstablished {
		sa.e.mu.Lock()
		sa.e.indexID(sa)
		sa.e.mu.Unlock()
		sa.startIKELifetimes()
	}
}

// peerConfig returns the SA's connection (nil for a responder before
// IKE_AUTH); safe from any goroutine.
func (sa *ikeSA) peerConfig() *PeerConfig {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.peer
}

func (sa *ikeSA) hasChild(name string) bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	for _, c := range sa.children {
		if c.cfg.Name == name {
			return true
		}
	}
	return false
}

// deliver queues a packet for the SA goroutine without blocking.
func (sa *ikeSA) deliver(ev packetEvent) {
	sa.sched.delivered.Add(1)
	if !sa.inbox.put(ev) {
		sa.sched.delivered.Add(^uint64(0))
		sa.e.Stats.QueueFull.Add(1)
	}
}

// command runs c on the SA goroutine and waits for its result.
func (sa *ikeSA) command(ctx context.Context, c command) error {
	c.reply = make(chan error, 1)
	sa.sched.delivered.Add(1)
	select {
	case sa.commands <- c:
	case <-ctx.Done():
		sa.sched.delivered.Add(^uint64(0))
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the SA goroutine: the handshake (as initiator), then serving
// requests, commands and lifetime timers until the SA is deleted.
func (sa *ikeSA) run() {
	defer sa.teardown()
	sa.life = sa.newTimer(never)
	defer sa.life.Stop()
	if sa.keys == nil && sa.initiator {
		up := sa.runInitiate()
		sa.reportReauth()
		if !up {
			return
		}
	}
	for sa.State() != StateDeleted {
		if len(sa.pending) > 0 {
			c := sa.pending[0]
			sa.pending = sa.pending[1:]
			sa.runCommand(c)
			continue
		}
		if sa.lifeDue {
			sa.lifeDue = false
			sa.lifecycle()
			continue
		}
		sa.armLife()
		sa.sched.park()
		select {
		case <-sa.inbox.ready:
			ev, ok := sa.inbox.take()
			if !ok {
				continue // a stale token
			}
			sa.sched.wake()
			ev, ok = sa.reassemble(ev)
			if !ok || ev.msg.IsResponse() {
				continue // held fragment, or a late response to a request we no longer wait for
			}
			sa.handleRequest(ev)
		case c := <-sa.commands:
			sa.sched.wake()
			sa.runCommand(c)
		case <-sa.life.C():
			sa.sched.wake()
			sa.lifeArmed = time.Time{}
			sa.lifecycle()
		}
	}
}

func (sa *ikeSA) runCommand(c command) {
	var err error
	switch c.kind {
	case cmdDeleteIKE:
		err = sa.deleteIKE(sa.e.cfg.RetransmitTries)
	case cmdShutdown:
		err = sa.deleteIKE(0)
	case cmdDrop:
		sa.log.Info("peer lost this IKE SA (INITIAL_CONTACT on a new one); dropping it")
		sa.setState(StateDeleted)
	case cmdDeleteChild:
		err = sa.deleteChild(c.child)
	case cmdCreateChild:
		err = sa.createChildFor(c.cfg, c.trig)
	case cmdRekeyChild:
		err = sa.rekeyChildByName(c.child)
	case cmdRekeyIKE:
		err = sa.rekeyIKE()
	case cmdWake:
	case cmdVolume:
		sa.lifeDue = true
	case cmdPeerMoved:
		sa.followPeer(packetEvent{local: sa.local, remote: c.addr}, false)
	case cmdRedundant:
		sa.markRekeyed()
	case cmdReauthDone:
		err = sa.finishReauth(c.ike)
	}
	c.reply <- err
}

// teardown removes the SA's Child SAs from the data plane, clears keys and
// unregisters the SA.
func (sa *ikeSA) teardown() {
	var last SAInfo
	if sa.announced.Load() {
		last = sa.info()
	}
	sa.mu.Lock()
	children := sa.children
	sa.children = nil
	sa.state = StateDeleted
	sa.mu.Unlock()
	for _, c := range children {
		sa.uninstall(c)
	}
	sa.removeDrained(true)
	sa.releaseVIPs()
	sa.keys.zero()
	sa.releaseFragments()
	sa.e.forget(sa)
	if ev := sa.e.cfg.Events; ev != nil && sa.announced.Swap(false) {
		last.State, last.Children = StateDeleted, nil
		ev.IKEUpDown(last, false)
	}
	// Children that moved to another IKE SA (a rekey collision resolved
	// as this SA went) need no restart.
	var again []*ChildConfig
	for _, c := range sa.restart {
		if !sa.e.childElsewhere(sa, c.Name) {
			again = append(again, c)
		}
	}
	if len(again) > 0 && sa.peer != nil {
		sa.log.Info("initiating the connection again", "children", len(again))
		_, _ = sa.e.spawnInitiator(sa.peer, again[0], again[1:], make(chan error, 1), 0)
	}
	// Anyone still waiting for this SA hears that it is gone.
	for {
		select {
		case c := <-sa.commands:
			c.reply <- ErrClosed
		default:
			for _, c := range sa.pending {
				c.reply <- ErrClosed
			}
			return
		}
	}
}

// exchange sends a request and returns the payloads of its response
// (decrypted and checked against the rule table), retransmitting with
// exponential backoff (RFC 7296 2.1, 2.4). Requests from the peer that
// arrive meanwhile are answered; commands wait until the exchange is done.
// tries bounds the retransmissions (0: send once, wait one timeout).
func (sa *ikeSA) exchange(exch wire.ExchangeType, ps []wire.Payload, tries int) (*packetEvent, []wire.Payload, error) {
	id := sa.nextReqID
	pkt, err := sa.encode(exch, false, id, ps)
	if err != nil {
		return nil, nil, err
	}
	return sa.roundTrip(exch, id, pkt, tries)
}

func (sa *ikeSA) roundTrip(exch wire.ExchangeType, id uint32, pkt []byte, tries int) (*packetEvent, []wire.Payload, error) {
	sa.send(pkt)
	timeout := sa.e.cfg.RetransmitTimeout
	timer := sa.newTimer(timeout)
	defer timer.Stop()
	for sent := 0; ; {
		sa.sched.park()
		select {
		case <-sa.inbox.ready:
			ev, ok := sa.inbox.take()
			if !ok {
				continue // a stale token
			}
			sa.sched.wake()
			ev, ok = sa.reassemble(ev)
			if !ok {
				continue
			}
			h := ev.msg.Header
			if !h.IsResponse() {
				sa.handleRequest(ev)
				if sa.State() == StateDeleted {
					return nil, nil, ErrClosed
				}
				continue
			}
			if h.MessageID != id || h.Exchange != exch {
				sa.e.Stats.UnexpectedID.Add(1)
				continue
			}
			ps, err := sa.decode(&ev)
			if err != nil {
				sa.log.Debug("dropped invalid response", "exchange", exch, "err", err)
				continue
			}
			sa.lastRecv = sa.e.clock.Now()
			if exch != wire.IKESAInit {
				sa.followPeer(ev, false)
			}
			if err := wire.Verify(exch, true, ps); err != nil {
				// Authenticated but broken: the exchange failed (RFC 7296 2.21).
				return nil, nil, fmt.Errorf("ike: invalid %v response: %w", exch, err)
			}
			sa.nextReqID++
			return &ev, ps, nil
		case c := <-sa.commands:
			sa.sched.wake()
			// Shutting down, or deleting an SA still being set up, ends the
			// exchange at once; anything else waits for it.
			if c.kind == cmdShutdown || c.kind == cmdDrop || (c.kind == cmdDeleteIKE && sa.State() == StateConnecting) {
				c.reply <- nil
				sa.setState(StateDeleted)
				return nil, nil, ErrClosed
			}
			sa.pending = append(sa.pending, c)
		case <-sa.life.C():
			sa.sched.wake()
			sa.lifeArmed = time.Time{}
			sa.lifeDue = true // handled once this exchange is over
		case <-timer.C():
			sa.sched.wake()
			if sent >= tries {
				return nil, nil, ErrTimeout
			}
			sent++
			sa.e.Stats.Retransmits.Add(1)
			sa.log.Debug("retransmitting request", "exchange", exch, "msg_id", id, "try", sent)
			sa.send(pkt)
			timeout *= 2
			timer.Reset(timeout)
		}
	}
}

// handleRequest answers one request from the peer, enforcing the message
// ID window of one (RFC 7296 2.3): the last request again gets the cached
// response; anything else out of order is dropped.
func (sa *ikeSA) handleRequest(ev packetEvent) {
	h := ev.msg.Header
	if h.Exchange == wire.IKESAInit {
		if !sa.initiator && h.MessageID == 0 {
			sa.respondInit(ev)
		}
		return
	}
	if sa.keys == nil {
		return // IKE_SA_INIT not done: nothing else can be authenticated
	}
	if sa.lastResp != nil && h.MessageID+1 == sa.expectReqID {
		sa.e.Stats.CachedResponses.Add(1)
		sa.send(sa.lastResp)
		return
	}
	if h.MessageID != sa.expectReqID {
		sa.e.Stats.UnexpectedID.Add(1)
		return
	}
	ps, err := sa.decode(&ev)
	if err != nil {
		sa.log.Debug("dropped invalid request", "exchange", h.Exchange, "err", err)
		return
	}
	sa.lastRecv = sa.e.clock.Now()
	// The first request after IKE_SA_INIT (IKE_AUTH, or the first
	// IKE_INTERMEDIATE) is where the initiator floats to 4500 (RFC 7296 2.23).
	sa.followPeer(ev, !sa.initiator && h.MessageID == 1 && !sa.fromRekey)
	var resp []wire.Payload
	if err := wire.Verify(h.Exchange, false, ps); err != nil {
		sa.log.Info("rejected request", "exchange", h.Exchange, "err", err)
		resp = []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	} else {
		switch h.Exchange {
		case wire.IKEAuth:
			resp = sa.respondAuth(ps)
		case wire.Informational:
			resp = sa.respondInformational(ps)
		case wire.CreateChildSA:
			resp = sa.respondCreateChild(ps)
		case wire.IKEIntermediate:
			resp = sa.respondIntermediate(h, ev, ps)
		default:
			return
		}
	}
	pkt, err := sa.encode(h.Exchange, true, h.MessageID, resp)
	if err != nil {
		sa.log.Error("cannot encode response", "err", err)
		return
	}
	sa.expectReqID++
	sa.lastResp = pkt
	sa.send(pkt)
	if h.Exchange == wire.IKEIntermediate {
		sa.afterIntermediateResponse(h.MessageID, resp)
	}
	sa.afterResponse()
}

// afterResponse applies decisions that must wait until the response left,
// such as deleting the SA after answering a DELETE.
func (sa *ikeSA) afterResponse() {
	if sa.State() == StateDeleting {
		sa.setState(StateDeleted)
	}
}

// encode builds a message; all but IKE_SA_INIT go into an SK payload.
func (sa *ikeSA) encode(exch wire.ExchangeType, response bool, id uint32, ps []wire.Payload) ([]byte, error) {
	h := sa.header(exch, response, id)
	if exch == wire.IKESAInit {
		m := &wire.Message{Header: h, Payloads: ps}
		return m.Marshal()
	}
	aead := sa.keys.encR
	if sa.initiator {
		aead = sa.keys.encI
	}
	sa.ivCounter++
	pkt, err := sealSK(h, ps, aead, sa.ivCounter, sa.e.cfg.Rand)
	if err == nil {
		err = sa.fragmentIfNeeded(h, ps, pkt, aead)
	}
	return pkt, err
}

// header is the IKE header of a message we send (RFC 7296 3.1).
func (sa *ikeSA) header(exch wire.ExchangeType, response bool, id uint32) wire.Header {
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: 0x20, Exchange: exch, MessageID: id}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// decode returns the payloads of a received message, decrypting and
// verifying the SK payload (RFC 7296 3.14) for every exchange after
// IKE_SA_INIT. Only cleartext payloads before SK are refused.
func (sa *ikeSA) decode(ev *packetEvent) ([]wire.Payload, error) {
	m := ev.msg
	if ev.frag != nil {
		ev.inner, ev.first = ev.frag.inner, ev.frag.first
		return ev.frag.payloads, nil // authenticated fragment by fragment
	}
	if m.Exchange == wire.IKESAInit {
		if m.Encrypted != nil {
			return nil, errMalformed("SK payload in IKE_SA_INIT")
		}
		return m.Payloads, nil
	}
	if m.Encrypted == nil || len(m.Payloads) != 0 {
		sa.e.Stats.Malformed.Add(1)
		return nil, errMalformed("message after IKE_SA_INIT must carry only an SK payload")
	}
	aead := sa.keys.encI // the peer's direction
	if sa.initiator {
		aead = sa.keys.encR
	}
	content, err := openEncrypted(m.Encrypted.Body, m.Encrypted.AAD, aead, "SK")
	var ps []wire.Payload
	if err == nil {
		ps, err = wire.ParsePayloads(m.Encrypted.NextPayload, content)
		ev.inner, ev.first = content, m.Encrypted.NextPayload
	}
	if err != nil {
		if errors.Is(err, errIntegrity) {
			sa.e.Stats.IntegrityFailed.Add(1)
		} else {
			sa.e.Stats.Malformed.Add(1)
		}
		return nil, err
	}
	return ps, nil
}

func (sa *ikeSA) send(pkt []byte) {
	sa.lastSent = sa.e.clock.Now()
	if frags := sa.fragmentsOf(pkt); frags != nil {
		sa.sendAll(frags)
		return
	}
	if err := sa.e.cfg.Send(sa.local, sa.remote, pkt); err != nil {
		sa.log.Warn("send failed", "err", err)
	}
}

// logIKEKeys hands the IKE SA's encryption keys to the key log, if any,
// and warns about deprecated algorithms in the negotiated suite.
func (sa *ikeSA) logIKEKeys() {
	for _, w := range sa.suite.warnings() {
		sa.log.Warn("weak IKE algorithm negotiated", "warning", w)
	}
	if kl := sa.e.cfg.KeyLog; kl != nil {
		kl.LogIKESA(sa.spiI, sa.spiR, sa.suite.encrID, sa.suite.keyBits, sa.keys.skEi, sa.keys.skEr, sa.suite.integID, sa.keys.skAi, sa.keys.skAr)
	}
}

// floatToNATT moves IKE to the NAT-T port once NAT was detected (RFC 7296 2.23).
func (sa *ikeSA) floatToNATT() {
	p := sa.e.cfg.NATTPort
	sa.setAddrs(netip.AddrPortFrom(sa.local.Addr(), p), netip.AddrPortFrom(sa.remote.Addr(), p))
	sa.relog()
}

// relog gives the SA's logger what is known of it so far: its unique ID,
// the connection once chosen, the peer's current address (it changes
// with the move to port 4500) and the SPIs once both are known. It is
// rebuilt rather than extended so that no key appears twice. Called by
// the SA's goroutine only.
func (sa *ikeSA) relog() {
	args := []any{"ike_sa", sa.unique}
	if sa.peer != nil {
		args = append(args, "conn", sa.peer.Name)
	}
	args = append(args, "peer", sa.remote)
	if sa.spiI != 0 && sa.spiR != 0 {
		args = append(args, "ike_spi", fmt.Sprintf("%016x_i %016x_r", sa.spiI, sa.spiR))
	}
	sa.log = sa.e.log.With(args...)
}

// setAddrs changes the IKE SA's addresses; status queries read them under mu.
func (sa *ikeSA) setAddrs(local, remote netip.AddrPort) {
	sa.mu.Lock()
	sa.local, sa.remote = local, remote
	sa.mu.Unlock()
}

// announceUp tells Config.Events that the SA is established (RFC 7296
// 1.2: after IKE_AUTH); called once by the SA's goroutine.
func (sa *ikeSA) announceUp() {
	sa.announced.Store(true)
	if ev := sa.e.cfg.Events; ev != nil {
		in := sa.info()
		in.Children = nil
		ev.IKEUpDown(in, true)
	}
}

// announceChild tells Config.Events that a Child SA was installed or
// removed.
func (sa *ikeSA) announceChild(c *childSA, up bool) {
	if ev := sa.e.cfg.Events; ev != nil {
		in := sa.info()
		in.Children = nil
		ev.ChildUpDown(in, c.info(sa.e.clock.Now()), up)
	}
}
