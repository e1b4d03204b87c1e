// Package ike is the IKEv2 engine (RFC 7296): it runs IKE_SA_INIT,
// IKE_AUTH and INFORMATIONAL exchanges as initiator and responder, derives
// keys, and hands Child SAs to the data plane through ChildInstaller.
//
// Each IKE SA is owned by one goroutine that handles its events (packets,
// commands, timers) in order; exchange code reads top to bottom, in the
// style of crypto/tls's handshake. The Engine only dispatches packets to
// the owning SA by SPI. The engine does no socket I/O itself: the daemon
// passes received IKE messages to HandlePacket and sends through Config.Send.
package ike

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// ChildInstaller receives negotiated Child SAs (the data plane).
type ChildInstaller interface {
	InstallChild(c *sadb.ChildSA) error
	RemoveChild(inSPI uint32)
}

// Config configures an Engine.
type Config struct {
	Peers []*PeerConfig
	// Send transmits an IKE message; the transport adds the non-ESP
	// marker when local.Port() is the NAT-T port.
	Send      func(local, remote netip.AddrPort, pkt []byte) error
	Installer ChildInstaller
	// SharedKey looks up the PSK for a pair of identities.
	SharedKey func(local, remote Identity) ([]byte, bool)
	// LocalAddr picks our source address towards remote when the config
	// leaves it open; the default asks the kernel's routing table.
	LocalAddr func(remote netip.Addr) (netip.Addr, error)
	Logger    *slog.Logger
	Rand      io.Reader
	// RetransmitTimeout is the first retransmission timeout, doubled on
	// every try (RFC 7296 2.4); RetransmitTries is how many
	// retransmissions are sent before giving up.
	RetransmitTimeout time.Duration
	RetransmitTries   int
	// NATTPort is the port IKE moves to when a NAT is detected (RFC 7296 2.23).
	NATTPort uint16
	// KeepAlive is the NAT-keepalive interval (RFC 3948 4; strongSwan's
	// charon.keep_alive): behind a NAT, an IKE SA with nothing sent for
	// this long sends a keepalive through SendKeepalive. 0 turns them off.
	KeepAlive     time.Duration
	SendKeepalive func(local, remote netip.AddrPort) error
	// MaxHalfOpen bounds responder IKE SAs that have not finished IKE_AUTH.
	MaxHalfOpen int
	// KeyLog, if set, receives every IKE and Child SA key (for Wireshark).
	KeyLog KeyLogger
	// FragmentSize is the largest IP datagram of an IKE fragment (RFC
	// 7383 2.5.1); 0 means DefaultFragmentSize.
	FragmentSize int
	// CookieThreshold is the number of half-open IKE SAs from which an
	// IKE_SA_INIT must carry a COOKIE (RFC 7296 2.6); 0 means
	// DefaultCookieThreshold, negative never. HalfOpenPerSource bounds
	// half-open SAs per source address; 0 means DefaultHalfOpenPerSource.
	CookieThreshold   int
	HalfOpenPerSource int
	// Clock is the time source of every timer; SystemClock if nil.
	Clock Clock
	// Events, if set, hears IKE and Child SAs come up and go down (VICI's
	// ike-updown and child-updown events, metrics).
	Events Events
	// Trap, if set, is told when dpd_action or close_action = trap
	// (ActionTrap) removed a child's SAs: the daemon installs a trap
	// policy for peer/child. Called from the SA's goroutine; it must not
	// block or call back into the engine.
	Trap func(peer, child string)
}

// Events receives SA life-cycle events. The engine calls it from the SA's
// own goroutine, so it must return quickly and must not call back into the
// engine (queue the event instead).
type Events interface {
	// IKEUpDown: an IKE SA was established (up) or an established one is
	// gone (down). An IKE SA rekey (RFC 7296 2.18) is neither: the new SA
	// takes over silently.
	IKEUpDown(sa SAInfo, up bool)
	// ChildUpDown: a Child SA was installed (up) or removed (down); sa
	// describes its IKE SA without children. A Child SA rekey shows as the
	// new SA up, then the old one down.
	ChildUpDown(sa SAInfo, child ChildInfo, up bool)
}

// KeyLogger records keys for decrypting captures (see package keylog).
type KeyLogger interface {
	LogIKESA(spiI, spiR uint64, encrID uint16, keyBits int, skEi, skEr []byte, integID uint16, skAi, skAr []byte)
	LogChildSA(src, dst netip.Addr, spi uint32, encrID uint16, encKey []byte, integID uint16, integKey []byte)
}

// Engine dispatches IKE messages to IKE SAs and runs commands on them.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	peers    []*PeerConfig
	sas      map[uint64]*ikeSA              // by our SPI
	byConn   map[string]map[*ikeSA]struct{} // by connection name, connindex.go
	byID     map[idKey]map[*ikeSA]struct{}  // established, by connection and peer ID
	peerMap  map[string]*PeerConfig         // e.peers by name
	halfOpen map[halfOpenKey]*ikeSA
	// inits are the responder SAs by the IKE_SA_INIT that made them, from
	// then until they end (halfOpen forgets them once established): a
	// late copy of that request must not start a second, ghost SA.
	inits map[halfOpenKey]*ikeSA
	// lingering keeps the last response of SAs deleted at the peer's
	// request, so that a retransmitted DELETE still gets its answer.
	lingering map[uint64]lingerEntry
	closed    bool
	wg        sync.WaitGroup
	liveMu    sync.Mutex
	live      map[*ikeSA]struct{} // SA goroutines running (for the simulator)
	clock     Clock

	fragBudget fragBudget // bytes all SAs hold in partial messages
	cookies    cookieJar  // responder COOKIE secrets (RFC 7296 2.6), see cookie.go

	nextUnique atomic.Uint32
	nextReqID  atomic.Uint32
	spisMu     sync.Mutex
	childSPIs  map[uint32]bool

	Stats Counters
}

// Counters count what the engine dropped and why.
type Counters struct {
	Malformed        atomic.Uint64 // unparseable messages
	UnknownSPI       atomic.Uint64 // no IKE SA for the SPI
	IntegrityFailed  atomic.Uint64 // SK payload ICV mismatch
	UnexpectedID     atomic.Uint64 // message ID outside the window
	Retransmits      atomic.Uint64 // requests we sent again
	CachedResponses  atomic.Uint64 // retransmitted requests answered from cache
	HalfOpenRejected atomic.Uint64 // IKE_SA_INIT dropped over the half-open limit
	QueueFull        atomic.Uint64 // events dropped because an SA was busy
	IKERekeys        atomic.Uint64 // IKE SAs rekeyed (RFC 7296 2.18)
	ChildRekeys      atomic.Uint64 // Child SAs rekeyed (RFC 7296 2.8)
	FragmentCounters
	CookiesSent    atomic.Uint64 // IKE_SA_INIT answered with N(COOKIE), no state kept
	CookiesInvalid atomic.Uint64 // IKE_SA_INIT with a COOKIE we did not make (or too old)
	StaleInit      atomic.Uint64 // IKE_SA_INIT retransmitted after its SA got past it: dropped
	// KeepalivesSent and PeerMoved are events, not drops (not in
	// Snapshot): NAT-keepalives sent (RFC 3948 4) and peer address
	// changes followed (RFC 7296 2.23).
	KeepalivesSent atomic.Uint64
	PeerMoved      atomic.Uint64
}

// Snapshot returns the counters by name.
func (c *Counters) Snapshot() map[string]uint64 {
	return c.addFragments(map[string]uint64{
		"malformed":          c.Malformed.Load(),
		"unknown_spi":        c.UnknownSPI.Load(),
		"integrity_failed":   c.IntegrityFailed.Load(),
		"unexpected_msg_id":  c.UnexpectedID.Load(),
		"retransmits":        c.Retransmits.Load(),
		"cached_responses":   c.CachedResponses.Load(),
		"half_open_rejected": c.HalfOpenRejected.Load(),
		"queue_full":         c.QueueFull.Load(),
		"cookies_sent":       c.CookiesSent.Load(),
		"cookies_invalid":    c.CookiesInvalid.Load(),
		"stale_init":         c.StaleInit.Load(),
	})
}

// Rekeys returns the IKE and Child SA rekey counts (not drops, so they
// are not in Snapshot).
func (c *Counters) Rekeys() (ike, child uint64) {
	return c.IKERekeys.Load(), c.ChildRekeys.Load()
}

// lingerTime is how long a deleted SA's last response is kept (about the
// peer's total retransmission time for the first few tries).
const lingerTime = 30 * time.Second

type lingerEntry struct {
	resp          []byte
	msgID         uint32
	local, remote netip.AddrPort
	expires       time.Time
}

type halfOpenKey struct {
	remote netip.AddrPort
	spiI   uint64
}

// New creates an Engine; it does nothing until packets or commands arrive.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RetransmitTimeout == 0 {
		cfg.RetransmitTimeout = time.Second
	}
	if cfg.RetransmitTries == 0 {
		cfg.RetransmitTries = 5
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = 4500
	}
	if cfg.MaxHalfOpen == 0 {
		cfg.MaxHalfOpen = 1000
	}
	if cfg.LocalAddr == nil {
		cfg.LocalAddr = routeSource
	}
	if cfg.SharedKey == nil {
		cfg.SharedKey = func(Identity, Identity) ([]byte, bool) { return nil, false }
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return &Engine{
		cfg:       cfg,
		clock:     cfg.Clock,
		live:      map[*ikeSA]struct{}{},
		log:       cfg.Logger,
		peers:     cfg.Peers,
		peerMap:   peersByName(cfg.Peers),
		sas:       map[uint64]*ikeSA{},
		byConn:    map[string]map[*ikeSA]struct{}{},
		byID:      map[idKey]map[*ikeSA]struct{}{},
		halfOpen:  map[halfOpenKey]*ikeSA{},
		inits:     map[halfOpenKey]*ikeSA{},
		lingering: map[uint64]lingerEntry{},
		childSPIs: map[uint32]bool{},
	}
}

// routeSource asks the kernel which source address it would use towards
// remote (connecting a UDP socket sends nothing).
func routeSource(remote netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 500)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %v: %w", remote, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// SetInstaller sets the data plane; call it before any packet arrives.
func (e *Engine) SetInstaller(i ChildInstaller) { e.cfg.Installer = i }

// SetPeers replaces the configured peers; established SAs keep their config.
func (e *Engine) SetPeers(peers []*PeerConfig) {
	m := peersByName(peers)
	e.mu.Lock()
	e.peers, e.peerMap = peers, m
	e.mu.Unlock()
}

func peersByName(peers []*PeerConfig) map[string]*PeerConfig {
	m := make(map[string]*PeerConfig, len(peers))
	for _, p := range peers {
		if _, dup := m[p.Name]; !dup {
			m[p.Name] = p // the first of a name, as the old walk found it
		}
	}
	return m
}

// Peers returns the configured peers.
func (e *Engine) Peers() []*PeerConfig {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peers
}

func (e *Engine) peer(name string) *PeerConfig {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peerMap[name]
}

func (e *Engine) random(b []byte) {
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		panic("ike: random source failed: " + err.Error())
	}
}

func (e *Engine) randomSPI() uint64 {
	var b [8]byte
	for {
		e.random(b[:])
		if spi := binary.BigEndian.Uint64(b[:]); spi != 0 {
			return spi
		}
	}
}

// allocChildSPI returns an unused inbound ESP SPI (RFC 4303 2.1: 1-255 reserved).
func (e *Engine) allocChildSPI() uint32 {
	e.spisMu.Lock()
	defer e.spisMu.Unlock()
	var b [4]byte
	for {
		e.random(b[:])
		spi := binary.BigEndian.Uint32(b[:])
		if spi > 255 && !e.childSPIs[spi] {
			e.childSPIs[spi] = true
			return spi
		}
	}
}

func (e *Engine) freeChildSPI(spi uint32) {
	e.spisMu.Lock()
	delete(e.childSPIs, spi)
	e.spisMu.Unlock()
}

// HandlePacket takes one received IKE message (without the non-ESP
// marker). Malformed messages and messages for unknown SAs are dropped
// and counted; nothing here blocks on an SA.
func (e *Engine) HandlePacket(local, remote netip.AddrPort, pkt []byte) {
	msg, err := wire.Parse(pkt)
	if err != nil {
		e.Stats.Malformed.Add(1)
		e.log.Debug("dropped malformed IKE message", "peer", remote, "err", err)
		return
	}
	ev := packetEvent{msg: msg, raw: pkt, local: local, remote: remote}
	h := msg.Header
	if h.Exchange == wire.IKESAInit && !h.IsResponse() {
		e.handleInitRequest(ev)
		return
	}
	spi := h.SPIr // sent by the original initiator: our SPI is SPIr
	if !h.IsInitiator() {
		spi = h.SPIi
	}
	e.mu.Lock()
	sa := e.sas[spi]
	l, lingering := e.lingering[spi]
	e.mu.Unlock()
	// Of a fragmented retransmission only fragment 1 gets the answer (RFC 7383 2.6.1).
	firstFrag := msg.Fragment == nil || msg.Fragment.FragmentNumber == 1
	if sa == nil && lingering && firstFrag && !h.IsResponse() && h.MessageID == l.msgID && e.clock.Now().Before(l.expires) {
		e.Stats.CachedResponses.Add(1)
		_ = e.cfg.Send(l.local, l.remote, l.resp)
		return
	}
	if sa == nil {
		e.Stats.UnknownSPI.Add(1)
		e.log.Debug("dropped IKE message for unknown SA", "peer", remote, "exchange", h.Exchange)
		return
	}
	sa.deliver(ev)
}

func (e *Engine) handleInitRequest(ev packetEvent) {
	key := halfOpenKey{ev.remote, ev.msg.SPIi}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if sa := e.halfOpen[key]; sa != nil {
		e.mu.Unlock()
		sa.deliver(ev) // a retransmission, or a retry after INVALID_KE/COOKIE
		return
	}
	if e.inits[key] != nil {
		// A duplicate delayed past IKE_AUTH (RFC 7296 2.1: a
		// retransmission, for an SA that is up already).
		e.mu.Unlock()
		e.Stats.StaleInit.Add(1)
		return
	}
	if ok, reply := e.admitInit(ev); !ok {
		e.mu.Unlock()
		e.sendStateless(ev, reply)
		return
	}
	if len(e.halfOpen) >= e.cfg.MaxHalfOpen {
		e.mu.Unlock()
		e.Stats.HalfOpenRejected.Add(1)
		return
	}
	sa := e.newSA(nil, false)
	sa.spiI = ev.msg.SPIi
	sa.local, sa.remote = ev.local, ev.remote
	sa.initRemote = ev.remote // the key forget removes, even if the SA never runs
	e.halfOpen[key] = sa
	e.inits[key] = sa
	e.sas[sa.spiR] = sa
	e.mu.Unlock()
	sa.deliver(ev)
	e.start(sa)
}

// newSA creates an IKE SA with a fresh SPI of ours; e.mu must be held
// by the caller when registering it.
func (e *Engine) newSA(p *PeerConfig, initiator bool) *ikeSA {
	sa := &ikeSA{
		e:         e,
		peer:      p,
		initiator: initiator,
		unique:    e.nextUnique.Add(1),
		inbox:     newInbox(),
		commands:  make(chan command, 8),
		created:   e.clock.Now(),
		state:     StateConnecting,
	}
	spi := e.randomSPI()
	for e.sas[spi] != nil {
		spi = e.randomSPI()
	}
	if initiator {
		sa.spiI = spi
	} else {
		sa.spiR = spi
	}
	sa.log = e.log.With("ike_sa", sa.unique)
	return sa
}

// start runs the SA's goroutine; e.mu may be held by the caller.
func (e *Engine) start(sa *ikeSA) {
	e.wg.Add(1)
	e.liveMu.Lock()
	e.live[sa] = struct{}{}
	e.liveMu.Unlock()
	go func() {
		defer e.wg.Done()
		sa.run()
		e.liveMu.Lock()
		delete(e.live, sa)
		e.liveMu.Unlock()
	}()
}

// forget removes an SA from every table (called by the SA goroutine as it ends).
func (e *Engine) forget(sa *ikeSA) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sas[sa.ourSPI()] == sa {
		delete(e.sas, sa.ourSPI())
	}
	e.unindexConn(sa)
	e.unindexID(sa)
	now := e.clock.Now()
	for spi, l := range e.lingering {
		if now.After(l.expires) {
			delete(e.lingering, spi)
		}
	}
	if sa.lastResp != nil && sa.expectReqID > 0 && len(e.lingering) < e.cfg.MaxHalfOpen {
		e.lingering[sa.ourSPI()] = lingerEntry{resp: sa.lastResp, msgID: sa.expectReqID - 1,
			local: sa.local, remote: sa.remote, expires: now.Add(lingerTime)}
	}
	key := halfOpenKey{sa.initRemote, sa.spiI}
	if e.halfOpen[key] == sa {
		delete(e.halfOpen, key)
	}
	if e.inits[key] == sa {
		delete(e.inits, key)
	}
}

func (e *Engine) established(sa *ikeSA) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := halfOpenKey{sa.initRemote, sa.spiI}
	if e.halfOpen[key] == sa {
		delete(e.halfOpen, key)
	}
}

func (e *Engine) snapshot() []*ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	return out
}

// Initiate brings up the named connection's IKE SA and the named child
// (or its first child when child is empty), returning once both are up or
// the attempt failed. An already established child is not set up twice.
func (e *Engine) Initiate(ctx context.Context, peerName, childName string) error {
	return e.initiate(ctx, peerName, childName, nil)
}

func (e *Engine) initiate(ctx context.Context, peerName, childName string, trig *Trigger) error {
	p := e.peer(peerName)
	if p == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchPeer, peerName)
	}
	var child *ChildConfig
	if childName != "" {
		if child = p.Child(childName); child == nil {
			return fmt.Errorf("ike: connection %q has no child %q", peerName, childName)
		}
	} else if len(p.Children) > 0 {
		child = p.Children[0]
	}
	for _, sa := range e.connSAs(p.Name) {
		if sa.State() == StateEstablished && !sa.isRekeyed() {
			if child == nil || sa.hasChild(child.Name) {
				return nil
			}
			// RFC 7296 1.3.1: more Child SAs on the IKE SA we have.
			return sa.command(ctx, command{kind: cmdCreateChild, cfg: child, trig: trig})
		}
	}
	return e.initiateNew(ctx, p, child, trig)
}

// initiateNew starts a new IKE SA for p (with child in IKE_AUTH, or
// childless if child is nil) and waits for the outcome.
func (e *Engine) initiateNew(ctx context.Context, p *PeerConfig, child *ChildConfig, trig *Trigger) error {
	done := make(chan error, 1)
	if _, err := e.spawnInitiatorFor(p, child, nil, done, 0, trig); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spawnInitiator starts an initiator IKE SA for p whose IKE_AUTH carries
// child and which creates more with CREATE_CHILD_SA once up; done hears
// the outcome. attempt counts keyingtries.
func (e *Engine) spawnInitiator(p *PeerConfig, child *ChildConfig, more []*ChildConfig, done chan error, attempt int) (*ikeSA, error) {
	return e.spawnInitiatorFor(p, child, more, done, attempt, nil)
}

// spawnInitiatorFor is spawnInitiator for an acquire: trig goes into the
// first child's traffic selectors.
func (e *Engine) spawnInitiatorFor(p *PeerConfig, child *ChildConfig, more []*ChildConfig, done chan error, attempt int, trig *Trigger) (*ikeSA, error) {
	if !p.RemoteHost.IsValid() {
		return nil, fmt.Errorf("ike: connection %q has no single remote address to initiate to", p.Name)
	}
	local, err := e.localFor(p)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	sa := e.newSA(p, true)
	sa.local = local
	sa.remote = netip.AddrPortFrom(p.RemoteHost, p.RemotePort)
	sa.initChild = child
	sa.initTrigger = trig
	sa.moreChildren = more
	sa.initDone = done
	sa.attempt = attempt
	e.sas[sa.spiI] = sa
	e.indexConn(sa)
	e.start(sa)
	return sa, nil
}

func (e *Engine) localFor(p *PeerConfig) (netip.AddrPort, error) {
	for _, pr := range p.LocalAddrs {
		if pr.IsSingleIP() {
			return netip.AddrPortFrom(pr.Addr(), p.LocalPort), nil
		}
	}
	a, err := e.cfg.LocalAddr(p.RemoteHost)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ike: connection %q: %w", p.Name, err)
	}
	return netip.AddrPortFrom(a, p.LocalPort), nil
}

// Terminate deletes every IKE SA of the named connection (and with them
// their Child SAs), sending INFORMATIONAL DELETE (RFC 7296 1.4.1). It
// returns how many IKE SAs were deleted.
func (e *Engine) Terminate(ctx context.Context, peerName string) (int, error) {
	n := 0
	var errs []error
	for _, sa := range e.connSAs(peerName) {
		if err := sa.command(ctx, command{kind: cmdDeleteIKE}); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
		n++
	}
	return n, errors.Join(errs...)
}

// TerminateChild deletes the named Child SA of the named connection.
func (e *Engine) TerminateChild(ctx context.Context, peerName, childName string) (int, error) {
	n := 0
	var errs []error
	for _, sa := range e.connSAs(peerName) {
		if !sa.hasChild(childName) {
			continue
		}
		if err := sa.command(ctx, command{kind: cmdDeleteChild, child: childName}); err != nil {
			errs = append(errs, err)
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Rekey rekeys the IKE SA with the given unique ID now (RFC 7296 1.3.2),
// or, when childName is set, that Child SA of it (1.3.3), as swanctl
// --rekey asks. It returns once the exchange is done.
func (e *Engine) Rekey(ctx context.Context, ikeUnique uint32, childName string) error {
	for _, sa := range e.snapshot() {
		if sa.unique != ikeUnique {
			continue
		}
		if childName == "" {
			return sa.command(ctx, command{kind: cmdRekeyIKE})
		}
		if !sa.hasChild(childName) {
			return fmt.Errorf("ike: IKE SA #%d has no Child SA %q", ikeUnique, childName)
		}
		return sa.command(ctx, command{kind: cmdRekeyChild, child: childName})
	}
	return fmt.Errorf("ike: no IKE SA #%d", ikeUnique)
}

// dropStale handles INITIAL_CONTACT (RFC 7296 3.10.1): the peer of sa
// has no other IKE SA with us, so any other SA between the same two
// identities is stale and goes, with its Child SAs, without a DELETE.
func (e *Engine) dropStale(sa *ikeSA) {
	for _, o := range e.idSAs(sa.peer.Name, sa.remoteID) {
		if o == sa || o.State() != StateEstablished {
			continue
		}
		o.mu.Lock()
		same := o.localID.Equal(sa.localID) && o.remoteID.Equal(sa.remoteID) && samePeer(o.peer, sa.peer)
		o.mu.Unlock()
		if !same {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = o.command(ctx, command{kind: cmdDrop})
		}()
	}
}

// samePeer reports whether two peer configs are the same connection: the
// daemon replaces a connection's PeerConfig when only its credentials
// change (the SAs set up with the old one stay), and names are unique
// among the configured peers.
func samePeer(a, b *PeerConfig) bool {
	return a == b || (a != nil && b != nil && a.Name == b.Name)
}

// hasOtherSA reports whether another established IKE SA of peer exists.
func (e *Engine) hasOtherSA(sa *ikeSA, peer *PeerConfig) bool {
	for _, o := range e.connSAs(peer.Name) {
		if o != sa && o.State() == StateEstablished {
			return true
		}
	}
	return false
}

// Close deletes every IKE SA, telling the peers (a DELETE each, one try
// within ctx), and waits for the SA goroutines to end.
func (e *Engine) Close(ctx context.Context) {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, sa := range e.snapshot() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sa.command(ctx, command{kind: cmdShutdown})
		}()
	}
	wg.Wait()
	e.wg.Wait()
}
