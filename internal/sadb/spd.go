package sadb

// The Security Policy Database (RFC 4301 4.4.1).
//
// Order. The SPD is an ordered list and the first entry that matches a
// packet decides (RFC 4301 4.4.1: "the SPD is ordered"; no decorrelation,
// 4.4.1.2, is attempted or needed). The order is by Priority, lower first,
// then by the order of Add. A Policy with Priority 0 gets AutoPriority, the
// scheme strongSwan's kernel interface uses (kernel_netlink get_priority):
// a class (shunts, i.e. BYPASS and DISCARD, before PROTECT policies before
// fallbacks), then more specific first by the sum of the two selectors'
// prefix lengths, then selectors with ports, then selectors with a
// protocol. So a child for 10.2.0.0/24[tcp/443] wins over a child for
// 10.2.0.0/16 whatever the order of the configuration, and a `mode = pass`
// child for the local LAN wins over a tunnel that covers it too.
//
// PROTECT and traps. PROTECT policies name a ReqID; Bind attaches the
// Child SA that currently serves that ReqID (one atomic store, no rebuild).
// A PROTECT policy with no bound SA, or a packet outside the bound SA's
// negotiated (possibly narrowed) selectors, is a trap: Decision.Trap()
// tells the data plane to hold the packet (Acquires) and ask IKE for an SA.
//
// Index. See spd_index.go: per address family two hash indexes keyed by
// CIDR prefix, one over the remote and one over the local selector; each
// entry is in one of them. A lookup probes once per prefix length in use
// and scans only the entries stored at the probed prefixes, in SPD order,
// stopping as soon as nothing later can win. Lookups do not allocate.
// Entries whose keyed prefix is shared by many others (say 10,000 policies
// with the same addresses differing only in ports) make that one list long:
// lookups through it and updates of it are linear in its length.

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/ts"
)

// Action is what an SPD entry does with the packets it selects (RFC 4301
// 4.4.1: PROTECT, BYPASS or DISCARD).
type Action uint8

const (
	// Discard drops the packet (RFC 4301 4.4.1, swanctl mode = drop). It is
	// also the answer when no policy matches (RFC 4301 5.1 step 3: a packet
	// that matches no SPD entry is discarded).
	Discard Action = iota
	// Bypass lets the packet pass without IPsec (swanctl mode = pass).
	Bypass
	// Protect sends the packet through the policy's Child SA; while no SA
	// is bound the policy is a trap (swanctl start_action = trap): the
	// packet is held and IKE is asked to negotiate one (an acquire).
	Protect
)

func (a Action) String() string {
	switch a {
	case Discard:
		return "DISCARD"
	case Bypass:
		return "BYPASS"
	case Protect:
		return "PROTECT"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Policy is one SPD entry (RFC 4301 4.4.1.2): a pair of selectors and an
// action. Local selects the packet's source address and source port on
// outbound packets (its destination on inbound ones), Remote the other end;
// both sides must match, and a non-zero Proto on either side must equal the
// packet's protocol. A child with several local and remote selectors becomes
// one Policy per (local, remote) pair, as strongSwan installs them.
type Policy struct {
	Name   string // "conn/child" for logs
	ReqID  uint32 // Protect: which Child SA serves it (strongSwan's reqid, stable across rekeys)
	Action Action
	// Priority orders the SPD: lower values are consulted first, equal
	// values in the order they were added (RFC 4301 4.4.1: the SPD is an
	// ordered list and the first match wins). 0 means "derive it" with
	// AutoPriority from the action and the selectors.
	Priority      uint32
	Local, Remote ts.Selector
}

// Priority classes, the ranges strongSwan's kernel interface reserves
// (kernel_netlink get_priority): shunts before IPsec policies before
// fallbacks, so a configured bypass for the local LAN wins over a tunnel
// whose selectors also cover it.
const (
	ClassPass     = 1 // BYPASS and DISCARD shunts
	ClassDefault  = 2 // PROTECT (installed SA or trap)
	ClassFallback = 4 // catch-alls meant to lose to everything else
)

// priorityBase leaves room below each class for the specificity
// adjustment: at most (128+128)*4+3 for two IPv6 /128 host selectors.
const priorityBase = 1 << 12

// AutoPriority returns the priority strongSwan would give a policy in class
// (ClassPass, ClassDefault or ClassFallback): more specific selectors come
// first, by the sum of both prefix lengths, then policies with ports, then
// policies with a protocol. For a range that is not one CIDR prefix the
// length of the longest prefix that contains the whole range counts.
func AutoPriority(class uint32, local, remote ts.Selector) uint32 {
	p := priorityBase * class
	p -= uint32(rangeSpecificity(local) + rangeSpecificity(remote))
	p <<= 2
	if local.IsAnyPort() && remote.IsAnyPort() {
		p += 2
	}
	if local.Proto == 0 && remote.Proto == 0 {
		p++
	}
	return p
}

func rangeSpecificity(s ts.Selector) int {
	if !s.Start.IsValid() || !s.End.IsValid() || s.Start.BitLen() != s.End.BitLen() {
		return 0
	}
	return int(min(commonLen(addrU128(s.Start), addrU128(s.End)), uint8(s.Start.BitLen())))
}

// PolicyID names an entry added to an SPD, for Remove.
type PolicyID uint64

// binding is what the PROTECT entries of one ReqID share: the Child SA that
// currently carries their traffic, nil while there is none (a trap). It is
// the one mutable part of a published snapshot, swapped atomically so that
// installing or rekeying an SA does not rebuild the index.
type binding struct {
	sa   atomic.Pointer[ChildSA]
	refs int // entries referring to it; guarded by SPD.mu
}

// entry is one immutable, indexed policy.
type entry struct {
	pol    Policy
	prio   uint32
	seq    uint64 // insertion order among equal priorities
	bind   *binding
	local  compiled
	remote compiled
	v6     bool
	byLoc  bool        // indexed by the local range (else by the remote range)
	keys   []prefixKey // the prefixes it is stored under
}

// before reports whether e precedes o in the SPD's order.
func (e *entry) before(o *entry) bool {
	return e.prio < o.prio || (e.prio == o.prio && e.seq < o.seq)
}

// compiled is a ts.Selector in the form the per-packet match wants.
type compiled struct {
	lo, hi      u128
	proto       uint8
	anyPort     bool
	opaque      bool
	pLow, pHigh uint16
}

func compile(s ts.Selector) compiled {
	return compiled{
		lo: addrU128(s.Start), hi: addrU128(s.End), proto: s.Proto,
		anyPort: s.IsAnyPort(), opaque: s.IsOpaque(), pLow: s.StartPort, pHigh: s.EndPort,
	}
}

// match has ts.Selector.Match's semantics for an address of the right family.
func (c *compiled) match(a u128, proto uint8, port uint16) bool {
	if c.proto != 0 && c.proto != proto {
		return false
	}
	if a.less(c.lo) || c.hi.less(a) {
		return false
	}
	switch {
	case c.anyPort:
		return true
	case c.opaque:
		return false
	}
	return c.pLow <= port && port <= c.pHigh
}

// pkt is a packet's selector fields seen from our side: local is the source
// of an outbound packet and the destination of an inbound one.
type pkt struct {
	local, remote         u128
	proto                 uint8
	localPort, remotePort uint16
}

func (e *entry) match(p *pkt) bool {
	return e.local.match(p.local, p.proto, p.localPort) && e.remote.match(p.remote, p.proto, p.remotePort)
}

// family is the index of one address family: entries keyed by their remote
// range and entries keyed by their local range. Each entry sits in one of
// the two, whichever keeps the entry lists at its prefixes shorter, so that
// both "many remote subnets" and "many local subnets to one remote" stay flat.
type family struct {
	byRemote, byLocal *index
}

func (f *family) init() {
	if f.byRemote == nil {
		f.byRemote, f.byLocal = emptyIndex, emptyIndex
	}
}

// spdSnapshot is one immutable state of the SPD index.
type spdSnapshot struct {
	v4, v6 family
	n      int
}

var emptySPD = &spdSnapshot{}

// SPD is the Security Policy Database (RFC 4301 4.4.1): an ordered list of
// policies consulted for every outbound packet and for inbound packets after
// decryption or, unprotected, on arrival. Safe for concurrent use; lookups
// are lock-free and allocation-free and read an immutable snapshot that
// writers replace (copy-on-write of one index shard). The zero value is an
// empty SPD.
type SPD struct {
	mu       sync.Mutex // serialises writers
	snap     atomic.Pointer[spdSnapshot]
	seq      uint64
	entries  map[PolicyID]*entry // guarded by mu
	bindings map[uint32]*binding // by ReqID; guarded by mu
}

func (d *SPD) load() *spdSnapshot {
	if s := d.snap.Load(); s != nil {
		return s
	}
	return emptySPD
}

// ErrInvalidPolicy is returned by Add for a policy that could never match:
// an invalid or dynamic selector (resolve it first, ts.Selector.Resolve),
// mixed address families, or an unknown action.
var ErrInvalidPolicy = errors.New("sadb: invalid policy")

// Add inserts p and returns its ID. It copies one index shard per prefix of
// the keyed range and the entry lists at those prefixes, not the SPD.
func (d *SPD) Add(p Policy) (PolicyID, error) {
	if !p.Local.Valid() || !p.Remote.Valid() || p.Local.Start.BitLen() != p.Remote.Start.BitLen() {
		return 0, fmt.Errorf("%w: %s: %v === %v", ErrInvalidPolicy, p.Name, p.Local, p.Remote)
	}
	if p.Action > Protect {
		return 0, fmt.Errorf("%w: %s: action %v", ErrInvalidPolicy, p.Name, p.Action)
	}
	e := &entry{pol: p, prio: p.Priority, local: compile(p.Local), remote: compile(p.Remote), v6: p.Local.Is6()}
	if e.prio == 0 {
		class := uint32(ClassPass)
		if p.Action == Protect {
			class = ClassDefault
		}
		e.prio = AutoPriority(class, p.Local, p.Remote)
	}
	e.pol.Priority = e.prio
	lk, rk := rangeKeys(p.Local), rangeKeys(p.Remote)

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil {
		d.entries = make(map[PolicyID]*entry)
		d.bindings = make(map[uint32]*binding)
	}
	d.seq++
	e.seq = d.seq
	if p.Action == Protect {
		e.bind = d.bindingLocked(p.ReqID)
		e.bind.refs++
	}
	old := d.load()
	s := *old
	f := &s.v4
	if e.v6 {
		f = &s.v6
	}
	// Key the entry by the cheaper side: lookups pay for the entries sharing
	// its prefixes, updates (and memory) for the number of prefixes its
	// range needs. Ties go to the remote side, the usual discriminator (one
	// remote subnet per site or per road warrior).
	f.init()
	e.byLoc = maxLoad(f.byLocal, lk)+len(lk) < maxLoad(f.byRemote, rk)+len(rk)
	if e.byLoc {
		e.keys = lk
		f.byLocal = f.byLocal.insert(lk, e)
	} else {
		e.keys = rk
		f.byRemote = f.byRemote.insert(rk, e)
	}
	s.n++
	d.entries[PolicyID(e.seq)] = e
	d.snap.Store(&s)
	return PolicyID(e.seq), nil
}

func maxLoad(ix *index, keys []prefixKey) int {
	m := 0
	for _, k := range keys {
		m = max(m, len(ix.get(k)))
	}
	return m
}

// bindingLocked returns the binding of reqID, creating it. d.mu is held.
func (d *SPD) bindingLocked(reqID uint32) *binding {
	b := d.bindings[reqID]
	if b == nil {
		b = &binding{}
		d.bindings[reqID] = b
	}
	return b
}

// Remove deletes the policy with this ID; it reports whether there was one.
func (d *SPD) Remove(id PolicyID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entries[id]
	if e == nil {
		return false
	}
	delete(d.entries, id)
	s := *d.load()
	f := &s.v4
	if e.v6 {
		f = &s.v6
	}
	if e.byLoc {
		f.byLocal = f.byLocal.remove(e.keys, e)
	} else {
		f.byRemote = f.byRemote.remove(e.keys, e)
	}
	s.n--
	if e.bind != nil {
		e.bind.refs--
		if e.bind.refs == 0 && e.bind.sa.Load() == nil {
			delete(d.bindings, e.pol.ReqID)
		}
	}
	d.snap.Store(&s)
	return true
}

// Bind makes sa carry the traffic of every PROTECT policy with this ReqID,
// from now on and for policies added later; nil turns them back into traps.
// It is one atomic store, so installing an SA or switching to the new SA of
// a rekey (RFC 7296 2.8) costs nothing however large the SPD is.
func (d *SPD) Bind(reqID uint32, sa *ChildSA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bindings == nil {
		d.entries = make(map[PolicyID]*entry)
		d.bindings = make(map[uint32]*binding)
	}
	b := d.bindingLocked(reqID)
	b.sa.Store(sa)
	if sa == nil && b.refs == 0 {
		delete(d.bindings, reqID)
	}
}

// Unbind turns the policies of reqID back into traps if sa is still the SA
// bound to them (a delete of an SA that a rekey already replaced changes
// nothing). It reports whether it unbound sa.
func (d *SPD) Unbind(reqID uint32, sa *ChildSA) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bindings[reqID]
	if b == nil || !b.sa.CompareAndSwap(sa, nil) {
		return false
	}
	if b.refs == 0 {
		delete(d.bindings, reqID)
	}
	return true
}

// Len returns the number of policies.
func (d *SPD) Len() int { return d.load().n }

// Policies returns the policies in SPD order with their IDs (a new slice;
// for listings, not for the data path).
func (d *SPD) Policies() ([]PolicyID, []Policy) {
	d.mu.Lock()
	list := make([]*entry, 0, len(d.entries))
	for _, e := range d.entries {
		list = append(list, e)
	}
	d.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].before(list[j]) })
	ids := make([]PolicyID, len(list))
	pols := make([]Policy, len(list))
	for i, e := range list {
		ids[i], pols[i] = PolicyID(e.seq), e.pol
	}
	return ids, pols
}

// Decision is the result of an SPD lookup.
type Decision struct {
	// Policy is the first matching SPD entry, nil if none matched (then
	// Action is Discard, RFC 4301 5.1). It is shared: do not modify it.
	Policy *Policy
	Action Action
	// SA is the Child SA bound to a PROTECT policy whose negotiated
	// selectors cover the packet; nil for a trap.
	SA *ChildSA
	e  *entry
}

// Trap reports whether the packet hit a PROTECT policy with no SA: the data
// plane holds it (see Acquires) and asks IKE to negotiate an SA for
// Policy.ReqID, offering the packet's addresses as the first traffic
// selectors (RFC 7296 2.9).
func (d Decision) Trap() bool { return d.Action == Protect && d.SA == nil }

// ID returns the ID of the matching policy (0 if none).
func (d Decision) ID() PolicyID {
	if d.e == nil {
		return 0
	}
	return PolicyID(d.e.seq)
}

// Outbound looks up an outbound packet (RFC 4301 5.1 step 2): the first
// policy in SPD order whose Local selector matches the source and whose
// Remote selector matches the destination. Ports are the transport ports
// (type<<8|code for ICMP), 0 when not available.
func (d *SPD) Outbound(src, dst netip.Addr, proto uint8, srcPort, dstPort uint16) Decision {
	return d.lookup(src, dst, proto, srcPort, dstPort)
}

// InboundBypass looks up an unprotected inbound packet (RFC 4301 5.2 step
// 3a): the first policy whose Local selector matches its destination and
// whose Remote selector matches its source. Only Bypass lets it in; a
// Protect match means it should have arrived in an SA and is dropped, like
// a Discard or no match.
func (d *SPD) InboundBypass(src, dst netip.Addr, proto uint8, srcPort, dstPort uint16) Decision {
	return d.lookup(dst, src, proto, dstPort, srcPort)
}

// InboundAllowed checks a packet decrypted on sa (RFC 4301 5.2 step 4):
// its inner addresses must lie in sa's negotiated selectors (src in
// RemoteTS, dst in LocalTS), and the first policy matching it in the
// inbound direction must be a PROTECT policy of sa's ReqID, as Linux's
// xfrm_policy_check insists. The second half keeps SPD order on inbound
// traffic: a more specific DISCARD or BYPASS ahead of the tunnel's policy
// wins, and a peer cannot slip another child's traffic into this SA. An SA
// that a rekey already replaced still passes (same ReqID) until removed.
func (d *SPD) InboundAllowed(sa *ChildSA, src, dst netip.Addr, proto uint8, srcPort, dstPort uint16) bool {
	if sa == nil || !sa.MatchInbound(src, dst, proto, srcPort, dstPort) {
		return false
	}
	r := d.lookup(dst, src, proto, dstPort, srcPort)
	return r.Action == Protect && r.Policy.ReqID == sa.ReqID
}

func (d *SPD) lookup(local, remote netip.Addr, proto uint8, localPort, remotePort uint16) Decision {
	if !local.IsValid() || local.BitLen() != remote.BitLen() || local.Zone() != "" || remote.Zone() != "" {
		return Decision{Action: Discard}
	}
	s := d.load()
	f := &s.v4
	if local.Is6() {
		f = &s.v6
	}
	if f.byRemote == nil {
		return Decision{Action: Discard}
	}
	p := pkt{local: addrU128(local), remote: addrU128(remote), proto: proto, localPort: localPort, remotePort: remotePort}
	best := f.byRemote.lookup(p.remote, &p, nil)
	best = f.byLocal.lookup(p.local, &p, best)
	if best == nil {
		return Decision{Action: Discard}
	}
	r := Decision{Policy: &best.pol, Action: best.pol.Action, e: best}
	if best.bind != nil {
		// The SA serves only what its negotiated selectors cover: narrowing
		// (RFC 7296 2.9) may have given it less than the policy. The rest
		// stays trapped, so IKE negotiates another Child SA for it, as
		// strongSwan's trap policies do.
		if sa := best.bind.sa.Load(); sa != nil && sa.MatchOutbound(local, remote, proto, localPort, remotePort) {
			r.SA = sa
		}
	}
	return r
}

// ChildPolicies returns the policies of one child (swanctl
// children.<child>): one per (local, remote) selector pair, in the order of
// the lists, as strongSwan installs them. Dynamic selectors must be
// resolved first (ts.Selector.Resolve); Add refuses them.
func ChildPolicies(name string, reqID uint32, action Action, local, remote []ts.Selector) []Policy {
	out := make([]Policy, 0, len(local)*len(remote))
	for _, l := range local {
		for _, r := range remote {
			if l.Start.BitLen() != r.Start.BitLen() {
				continue // an IPv4 and an IPv6 selector select no packet together
			}
			out = append(out, Policy{Name: name, ReqID: reqID, Action: action, Local: l, Remote: r})
		}
	}
	return out
}
