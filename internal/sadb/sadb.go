// Package sadb is the Security Association Database of RFC 4301 4.4.2:
// installed Child SAs indexed by inbound SPI (DB), and the Security Policy
// Database that decides which SA protects an outbound packet (SPD, spd.go;
// RFC 4301 4.4.1 and 5.1).
//
// Lookups are lock-free: writers build a new immutable snapshot under a mutex
// and publish it through an atomic pointer (copy-on-write), so the data
// plane's per-packet lookups never contend with installs and deletes.
package sadb

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/ts"
)

// ErrDuplicateSPI is returned by Add when an SA with the same inbound SPI is
// already installed (RFC 4301 4.4.2: the SPI identifies the inbound SA).
var ErrDuplicateSPI = errors.New("sadb: duplicate inbound SPI")

// ErrDeleted is returned by ChildSA.Seal and ChildSA.Open after Zero: the SA
// was deleted while a packet was on its way through the data plane.
var ErrDeleted = errors.New("sadb: child SA deleted")

// Mode is an SA's IPsec mode (RFC 4301 4.1, RFC 4303 3.1).
type Mode uint8

const (
	// ModeTunnel protects whole IP packets inside an outer header (RFC
	// 4303 3.1.2); the default, as in IKEv2 without USE_TRANSPORT_MODE.
	ModeTunnel Mode = iota
	// ModeTransport protects the payload of packets between the two
	// peers themselves (RFC 4303 3.1.1), host to host.
	ModeTransport
)

// String returns the mode as strongSwan's VICI list-sas shows it.
func (m Mode) String() string {
	switch m {
	case ModeTunnel:
		return "TUNNEL"
	case ModeTransport:
		return "TRANSPORT"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ChildSA is one installed Child SA pair (RFC 4301 4.4.2): both directions,
// the outer addresses, and the traffic selectors that the policy lookup and
// the inbound check use.
//
// The exported fields are set before Add and not changed afterwards; Stats is
// updated by the data plane while the SA is installed.
type ChildSA struct {
	Name              string         // "conn/child" for logs
	ReqID             uint32         // unique per install (assigned by the engine)
	In                *esp.Inbound   // key: In.SPI() — our SPI
	Out               *esp.Outbound  // the peer's SPI
	Local, Remote     netip.AddrPort // outer addresses; Remote port is 4500 when Encap
	Encap             bool           // ESP in UDP (RFC 3948); the only mode the data plane does in this slice
	Mode              Mode           // tunnel (the zero value) or transport, as negotiated (RFC 7296 1.3.1)
	LocalTS, RemoteTS []ts.Selector
	// NATOrigLocal and NATOrigRemote are, for a transport-mode SA
	// through a NAT, our and the peer's addresses as the peer sees them
	// (its traffic selectors before the engine put the IKE addresses in,
	// as strongSwan does; IKEv2 has no NAT-OA): the peer's TCP and UDP
	// checksums cover them, and the data plane moves those checksums to
	// Remote and Local (RFC 3948 3.1.2). Unset when no NAT changed them.
	NATOrigLocal, NATOrigRemote netip.Addr
	Stats                       Stats // updated by the data plane (CountIn, CountOut)

	// Limits are the SA's volume lifetimes (RFC 4301 4.4.2.1): the data
	// plane counts every packet against them, calls OnLimit (if set) when
	// a soft or the hard limit is first reached, and stops using the SA
	// once the hard limit is. OnLimit must not block: it runs on the data
	// plane's goroutines. It returns false if the notice could not be
	// taken (the engine was busy): a later packet tells it again.
	Limits  Limits
	OnLimit func() bool
	// OnPeerMoved, if set, lets authenticated ESP move the SA: when a
	// packet that passed the ICV and the replay window comes from another
	// address or port than PeerAddr, the data plane sends there from now
	// on (UpdateRemote) and calls OnPeerMoved once per change (RFC 7296
	// 2.23, a NAT in front of the peer changed its mapping). The engine
	// sets it only where following is allowed (not behind a NAT
	// ourselves); it must not block.
	OnPeerMoved func(from netip.AddrPort)
	limits      atomic.Uint32 // limitSoft, limitHard: reached; toldSoft, toldHard: OnLimit took it

	// inMu serialises Open, OpenPrepare and OpenAccept (the replay
	// window is not safe for concurrent use, RFC 4303 3.4.3) and Zero.
	// outMu lets any number of Seal (esp.Outbound assigns sequence numbers
	// atomically), SealSeq and OpenDecrypt calls run together but excludes
	// Zero.
	inMu    sync.Mutex
	outMu   sync.RWMutex
	deleted bool // guarded by inMu and outMu (both held to set)
	// retired SAs are being replaced (make-before-break, RFC 7296 2.8):
	// the data plane's SPD no longer sends on them (RetireOutbound) but
	// they still open inbound packets.
	retired atomic.Bool
	// moved is the peer's outer address after a NAT mapping change (see
	// UpdateRemote); nil while Remote holds.
	moved atomic.Pointer[netip.AddrPort]
}

// Limits are the byte and packet lifetimes of a Child SA (swanctl's
// rekey_bytes/life_bytes, rekey_packets/life_packets); 0 is no limit.
// Either direction reaching a limit counts, as in strongSwan.
type Limits struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

const (
	limitSoft = 1 << iota
	limitHard
	toldSoft // = limitSoft << 2
	toldHard
)

// CountOut counts one outbound packet of n inner bytes; CountIn one
// inbound. The data plane calls them for every packet, so the volume
// lifetimes are enforced at once rather than at the engine's next look.
func (c *ChildSA) CountOut(n uint64) {
	c.checkLimits(c.Stats.BytesOut.Add(n), c.Stats.PacketsOut.Add(1))
}

// CountIn: see CountOut.
func (c *ChildSA) CountIn(n uint64) {
	c.checkLimits(c.Stats.BytesIn.Add(n), c.Stats.PacketsIn.Add(1))
}

func (c *ChildSA) checkLimits(bytes, packets uint64) {
	l := &c.Limits
	var reached uint32
	if l.HardBytes > 0 && bytes >= l.HardBytes || l.HardPackets > 0 && packets >= l.HardPackets {
		reached = limitSoft | limitHard
	} else if l.SoftBytes > 0 && bytes >= l.SoftBytes || l.SoftPackets > 0 && packets >= l.SoftPackets {
		reached = limitSoft
	} else {
		return
	}
	c.setLimitBits(reached)
	told := reached << 2 // toldSoft, toldHard
	if old := c.limits.Load(); old&told == told || !c.limits.CompareAndSwap(old, old|told) {
		return // told already (or another packet is telling now)
	}
	if c.OnLimit != nil && !c.OnLimit() {
		// Not taken: forget that we told, so the next packet tries again.
		for {
			old := c.limits.Load()
			if c.limits.CompareAndSwap(old, old&^told) {
				return
			}
		}
	}
}

// setLimitBits sets bits in c.limits.
func (c *ChildSA) setLimitBits(bits uint32) {
	for {
		old := c.limits.Load()
		if old&bits == bits || c.limits.CompareAndSwap(old, old|bits) {
			return
		}
	}
}

// Expired reports whether the SA reached a hard volume limit: it must
// not protect or accept another packet (RFC 4301 4.4.2.1), whatever the
// engine has done about it so far. A parallel pipeline may still pass
// the packets already in flight: at most a batch beyond the limit.
func (c *ChildSA) Expired() bool { return c.limits.Load()&limitHard != 0 }

// RetireOutbound marks c as no longer chosen for outbound packets (the
// data plane removes its policies from the SPD); inbound packets are still
// accepted until c is removed.
func (c *ChildSA) RetireOutbound() { c.retired.Store(true) }

// Retired reports whether RetireOutbound was called.
func (c *ChildSA) Retired() bool { return c.retired.Load() }

// Stats are the per-SA counters (the numbers `swanctl --list-sas` shows).
// Bytes count inner (plaintext) packet bytes, as strongSwan does.
type Stats struct {
	BytesIn, PacketsIn   atomic.Uint64
	BytesOut, PacketsOut atomic.Uint64
	DropsReplay          atomic.Uint64 // RFC 4303 3.4.3
	DropsAuth            atomic.Uint64 // ICV check failed, RFC 4303 3.4.4
	DropsPolicy          atomic.Uint64 // inner addresses outside the selectors, RFC 4301 5.2
	DropsPadding         atomic.Uint64 // bad padding after a valid ICV, RFC 4303 2.4
	// LastIn and LastOut are the time of the last packet in each direction
	// in Unix nanoseconds, 0 if none yet (for idle checks and DPD; the data
	// plane updates them once per batch, not per packet).
	LastIn, LastOut atomic.Int64
}

// Seal encrypts one outbound packet on the SA (see esp.Outbound.Seal). It
// is safe for concurrent use and returns ErrDeleted after Zero.
func (c *ChildSA) Seal(buf []byte, n int, nextHeader uint8) ([]byte, error) {
	c.outMu.RLock()
	defer c.outMu.RUnlock()
	if c.deleted || c.Out == nil {
		return nil, ErrDeleted
	}
	return c.Out.Seal(buf, n, nextHeader)
}

// Open verifies and decrypts one inbound ESP packet on the SA (see
// esp.Inbound.Open). Calls are serialised per SA because the anti-replay
// window update must follow the ICV check in order (RFC 4303 3.4.3). It
// returns ErrDeleted after Zero.
func (c *ChildSA) Open(pkt []byte) (payload []byte, nextHeader uint8, err error) {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if c.deleted || c.In == nil {
		return nil, 0, ErrDeleted
	}
	return c.In.Open(pkt)
}

// SealSeq is Seal with a sequence number reserved by Out.NextSeq, for a
// data plane that numbers packets serially and encrypts them in parallel
// (see esp.Outbound.SealSeq). Safe for concurrent use; ErrDeleted after
// Zero.
func (c *ChildSA) SealSeq(buf []byte, n int, nextHeader uint8, seq uint64) ([]byte, error) {
	c.outMu.RLock()
	defer c.outMu.RUnlock()
	if c.deleted || c.Out == nil {
		return nil, ErrDeleted
	}
	return c.Out.SealSeq(buf, n, nextHeader, seq)
}

// OpenPrepare, OpenDecrypt and OpenAccept are Open in three steps for a
// data plane that decrypts in parallel (esp.Inbound.Prepare, Decrypt and
// Accept): OpenPrepare and OpenAccept are serialised with each other and
// with Open (the replay window); OpenDecrypt runs concurrently with
// anything but Zero. All return ErrDeleted after Zero.
func (c *ChildSA) OpenPrepare(pkt []byte) (seq uint64, err error) {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if c.deleted || c.In == nil {
		return 0, ErrDeleted
	}
	return c.In.Prepare(pkt)
}

// OpenDecrypt: see OpenPrepare.
func (c *ChildSA) OpenDecrypt(pkt []byte, seq uint64) (payload []byte, nextHeader uint8, err error) {
	c.outMu.RLock()
	defer c.outMu.RUnlock()
	if c.deleted || c.In == nil {
		return nil, 0, ErrDeleted
	}
	return c.In.Decrypt(pkt, seq)
}

// OpenAccept: see OpenPrepare.
func (c *ChildSA) OpenAccept(seq uint64) error {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if c.deleted || c.In == nil {
		return ErrDeleted
	}
	return c.In.Accept(seq)
}

// Zero drops the SA's keys (best effort, see esp.Inbound.Zero) once no Seal
// or Open is running; later Seal and Open calls fail with ErrDeleted. The
// caller removes the SA from the DB first.
func (c *ChildSA) Zero() {
	c.inMu.Lock()
	c.outMu.Lock()
	defer c.inMu.Unlock()
	defer c.outMu.Unlock()
	if c.deleted {
		return
	}
	c.deleted = true
	if c.In != nil {
		c.In.Zero()
	}
	if c.Out != nil {
		c.Out.Zero()
	}
}

// InSPI returns the inbound SPI (our SPI), 0 if In is nil.
func (c *ChildSA) InSPI() uint32 {
	if c.In == nil {
		return 0
	}
	return c.In.SPI()
}

// OutSPI returns the outbound SPI (the peer's SPI), 0 if Out is nil.
func (c *ChildSA) OutSPI() uint32 {
	if c.Out == nil {
		return 0
	}
	return c.Out.SPI()
}

// MatchOutbound reports whether an outbound packet with these inner header
// fields is selected by the SA: src in LocalTS and dst in RemoteTS (RFC 4301
// 5.1). Ports are 0 when not available (non-initial fragments, protocols
// without ports).
func (c *ChildSA) MatchOutbound(src, dst netip.Addr, proto uint8, srcPort, dstPort uint16) bool {
	return ts.MatchAny(c.LocalTS, src, proto, srcPort) && ts.MatchAny(c.RemoteTS, dst, proto, dstPort)
}

// MatchInbound reports whether a decrypted inbound packet is allowed on the
// SA: src in RemoteTS and dst in LocalTS (RFC 4301 5.2, step 4).
func (c *ChildSA) MatchInbound(src, dst netip.Addr, proto uint8, srcPort, dstPort uint16) bool {
	return ts.MatchAny(c.RemoteTS, src, proto, srcPort) && ts.MatchAny(c.LocalTS, dst, proto, dstPort)
}

// String names the SA for logs: "conn/child" with its SPIs.
func (c *ChildSA) String() string {
	return fmt.Sprintf("%s (in %08x, out %08x)", c.Name, c.InSPI(), c.OutSPI())
}

// snapshot is one immutable state of the DB. The inbound table is split
// into shards by SPI so that a writer copies one shard, not every SA: a
// gateway with 10,000 tunnels would otherwise copy 10,000 entries per
// install and removal (bench/scale.sh).
type snapshot struct {
	in  [inShards]map[uint32]*ChildSA
	out []*ChildSA // insertion order
}

const inShards = 256

func inShardOf(spi uint32) int { return int(spi % inShards) }

// withShard returns a copy of s (sharing every shard but spi's) whose
// shard for spi is a copy that edit may change.
func (s *snapshot) withShard(spi uint32, extra int, edit func(map[uint32]*ChildSA)) *snapshot {
	n := &snapshot{in: s.in, out: s.out}
	k := inShardOf(spi)
	m := make(map[uint32]*ChildSA, len(s.in[k])+extra)
	for key, v := range s.in[k] {
		m[key] = v
	}
	edit(m)
	n.in[k] = m
	return n
}

var emptySnapshot = &snapshot{}

// DB holds the installed SAs by inbound SPI, and in insertion order (All).
// Safe for concurrent use; lookups are lock-free (copy-on-write snapshot via
// atomic.Pointer). The zero value is an empty database.
type DB struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[snapshot]
}

func (db *DB) load() *snapshot {
	if s := db.snap.Load(); s != nil {
		return s
	}
	return emptySnapshot
}

// Add installs c. It fails if c has no inbound or outbound half or if an SA
// with the same inbound SPI is installed.
func (db *DB) Add(c *ChildSA) error {
	if c == nil || c.In == nil || c.Out == nil {
		return errors.New("sadb: child SA without inbound or outbound ESP state")
	}
	spi := c.In.SPI()
	db.mu.Lock()
	defer db.mu.Unlock()
	old := db.load()
	if _, ok := old.in[inShardOf(spi)][spi]; ok {
		return fmt.Errorf("%w %08x (%s)", ErrDuplicateSPI, spi, c.Name)
	}
	s := old.withShard(spi, 1, func(m map[uint32]*ChildSA) { m[spi] = c })
	s.out = append(append(make([]*ChildSA, 0, len(old.out)+1), old.out...), c)
	db.snap.Store(s)
	return nil
}

// Remove uninstalls the SA with inbound SPI inSPI and returns it, or nil if
// there is none. Packets already in flight may still use it; see
// ChildSA.Zero.
func (db *DB) Remove(inSPI uint32) *ChildSA {
	db.mu.Lock()
	defer db.mu.Unlock()
	old := db.load()
	c, ok := old.in[inShardOf(inSPI)][inSPI]
	if !ok {
		return nil
	}
	s := old.withShard(inSPI, 0, func(m map[uint32]*ChildSA) { delete(m, inSPI) })
	s.out = make([]*ChildSA, 0, len(old.out))
	for _, v := range old.out {
		if v != c {
			s.out = append(s.out, v)
		}
	}
	db.snap.Store(s)
	return c
}

// Inbound returns the SA whose inbound SPI is spi, or nil (RFC 4303 3.4.2).
func (db *DB) Inbound(spi uint32) *ChildSA {
	return db.load().in[inShardOf(spi)][spi]
}

// All returns the installed SAs in insertion order (a new slice).
func (db *DB) All() []*ChildSA {
	out := db.load().out
	return append([]*ChildSA(nil), out...)
}

// Len returns the number of installed SAs.
func (db *DB) Len() int { return len(db.load().out) }
