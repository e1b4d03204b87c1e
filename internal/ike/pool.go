package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"sync"
)

// AddressPool hands out virtual IP addresses to remote-access peers (RFC
// 7296 2.19, 3.15: INTERNAL_IP4_ADDRESS and INTERNAL_IP6_ADDRESS in a
// CFG_REPLY), the way strongSwan's in-memory pools do (swanctl.conf pools
// section): a lease belongs to the peer's identity, so a peer that comes
// back gets the address it had; a lease is online while an IKE SA uses it
// and offline after, and offline leases of other identities are only
// taken back when no address was ever handed out is left.
//
// Safe for concurrent use; several connections may share a pool.
type AddressPool struct {
	name  string
	first netip.Addr // first address handed out
	size  uint64     // number of addresses; at most 1<<32

	// DNS are handed out with the address (INTERNAL_IP4_DNS/
	// INTERNAL_IP6_DNS, RFC 7296 3.15.1). Set it before the pool is in
	// use, SetDNS after.
	DNS []netip.Addr

	mu     sync.Mutex
	next   uint64              // addresses [0, next) have been handed out once
	byAddr map[uint64]*lease   // offset -> lease
	byID   map[string][]uint64 // identity -> its leases, oldest first
	// offline are offsets of leases nobody uses, oldest first (the ones
	// taken back first when the pool runs dry).
	offline []uint64
}

type lease struct {
	id     string
	online int // IKE SAs using the address (a rekeyed IKE SA adds one)
}

// ErrPoolExhausted is returned by Acquire when every address is in use.
var ErrPoolExhausted = errors.New("address pool exhausted")

// NewAddressPool makes a pool of the addresses in [first, last]. For a
// pool given as a subnet (strongSwan's addrs = 10.3.0.0/24) the caller
// leaves out the network and broadcast addresses, as strongSwan does.
func NewAddressPool(name string, first, last netip.Addr) (*AddressPool, error) {
	first, last = first.Unmap(), last.Unmap()
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("pool %s: invalid range %v-%v", name, first, last)
	}
	// Past 2^32 addresses (large IPv6 pools) nobody will use the rest.
	size := min(offsetOf(first, last), 1<<32-1) + 1
	return &AddressPool{name: name, first: first, size: size,
		byAddr: map[uint64]*lease{}, byID: map[string][]uint64{}}, nil
}

// offsetOf is b - a for addresses of one family, or math.MaxUint64 when
// the difference does not fit 64 bits (IPv6 pools larger than that).
func offsetOf(a, b netip.Addr) uint64 {
	ahi, alo := halves(a)
	bhi, blo := halves(b)
	lo, borrow := bits.Sub64(blo, alo, 0)
	if hi, _ := bits.Sub64(bhi, ahi, borrow); hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// addrAt is the address off places after the pool's first.
func (p *AddressPool) addrAt(off uint64) netip.Addr {
	hi, lo := halves(p.first)
	lo, carry := bits.Add64(lo, off, 0)
	hi += carry
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	if p.first.Is4() {
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom16(b)
}

// halves is a's 16-octet form as two big-endian words.
func halves(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// SetDNS replaces the name servers sent with new leases (a reloaded pool
// whose addresses did not change keeps its leases, as strongSwan's do).
func (p *AddressPool) SetDNS(dns []netip.Addr) {
	p.mu.Lock()
	p.DNS = append([]netip.Addr(nil), dns...)
	p.mu.Unlock()
}

func (p *AddressPool) dnsServers() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.DNS
}

// Name is the pool's name (swanctl.conf pools.<name>).
func (p *AddressPool) Name() string { return p.name }

// Is4 reports whether the pool holds IPv4 addresses.
func (p *AddressPool) Is4() bool { return p.first.Is4() }

// Size is the number of addresses in the pool.
func (p *AddressPool) Size() uint64 { return p.size }

// Contains reports whether a is one of the pool's addresses.
func (p *AddressPool) Contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() != p.first.Is4() || a.Less(p.first) {
		return false
	}
	return offsetOf(p.first, a) < p.size
}

// Acquire leases an address to identity id. The requested address (zero
// or unspecified: none, as in an empty INTERNAL_IP4_ADDRESS) is honoured
// when it is id's own lease or was never handed out; otherwise id gets
// back an offline lease of its own, then a fresh address, then the
// oldest offline lease of another identity.
func (p *AddressPool) Acquire(id string, requested netip.Addr) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if requested.IsValid() && !requested.IsUnspecified() && p.Contains(requested) {
		off := offsetOf(p.first, requested.Unmap())
		if l := p.byAddr[off]; l == nil && off >= p.next {
			// Never handed out: take it, leaving the cursor alone.
			p.take(off, id)
			return p.addrAt(off), nil
		} else if l != nil && l.id == id {
			p.online(off, l)
			return p.addrAt(off), nil
		}
	}
	for _, off := range p.byID[id] {
		if l := p.byAddr[off]; l.online == 0 {
			p.online(off, l)
			return p.addrAt(off), nil
		}
	}
	for p.next < p.size {
		off := p.next
		p.next++
		if p.byAddr[off] == nil {
			p.take(off, id)
			return p.addrAt(off), nil
		}
	}
	if len(p.offline) > 0 {
		off := p.offline[0]
		old := p.byAddr[off]
		p.dropID(old.id, off)
		delete(p.byAddr, off)
		p.offline = p.offline[1:]
		p.take(off, id)
		return p.addrAt(off), nil
	}
	return netip.Addr{}, fmt.Errorf("pool %s: %w (%d addresses online)", p.name, ErrPoolExhausted, len(p.byAddr))
}

func (p *AddressPool) take(off uint64, id string) {
	p.byAddr[off] = &lease{id: id, online: 1}
	p.byID[id] = append(p.byID[id], off)
}

func (p *AddressPool) online(off uint64, l *lease) {
	if l.online == 0 {
		p.removeOffline(off)
	}
	l.online++
}

func (p *AddressPool) removeOffline(off uint64) {
	for i, o := range p.offline {
		if o == off {
			p.offline = append(p.offline[:i], p.offline[i+1:]...)
			return
		}
	}
}

func (p *AddressPool) dropID(id string, off uint64) {
	list := p.byID[id]
	for i, o := range list {
		if o == off {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.byID, id)
	} else {
		p.byID[id] = list
	}
}

// Retain adds a user to the online lease of a (an IKE SA rekey: the new
// IKE SA carries the address on). It reports false if a is not leased.
func (p *AddressPool) Retain(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Contains(a) {
		return false
	}
	l := p.byAddr[offsetOf(p.first, a.Unmap())]
	if l == nil {
		return false
	}
	p.online(offsetOf(p.first, a.Unmap()), l)
	return true
}

// Release drops one user of a's lease; with none left the lease goes
// offline and stays with its identity until the pool needs it.
func (p *AddressPool) Release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Contains(a) {
		return
	}
	off := offsetOf(p.first, a.Unmap())
	l := p.byAddr[off]
	if l == nil || l.online == 0 {
		return
	}
	l.online--
	if l.online == 0 {
		p.offline = append(p.offline, off)
	}
}

// PoolStats are a pool's counters, as swanctl --list-pools shows them.
type PoolStats struct {
	Name          string
	Base          netip.Addr
	Size          uint64
	Online        int
	Offline       int
	OnlineLeases  map[netip.Addr]string // address -> identity
	OfflineLeases map[netip.Addr]string
}

// Stats reports the pool's leases.
func (p *AddressPool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PoolStats{Name: p.name, Base: p.first, Size: p.size,
		OnlineLeases: map[netip.Addr]string{}, OfflineLeases: map[netip.Addr]string{}}
	for off, l := range p.byAddr {
		if l.online > 0 {
			s.Online++
			s.OnlineLeases[p.addrAt(off)] = l.id
		} else {
			s.Offline++
			s.OfflineLeases[p.addrAt(off)] = l.id
		}
	}
	return s
}
