package ike

import (
	"errors"
	"fmt"
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
	size  uint64     // number of addresses; at most 1<<32 are tracked

	// DNS and NBNS are handed out with the address when asked for
	// (INTERNAL_IP4_DNS/INTERNAL_IP6_DNS, RFC 7296 3.15.1).
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

// NewAddressPool makes a pool of the addresses in [first, last]. A pool
// given as a subnet (strongSwan's addrs = 10.3.0.0/24) should pass
// SubnetRange's result, which leaves out the network and broadcast
// addresses as strongSwan does.
func NewAddressPool(name string, first, last netip.Addr) (*AddressPool, error) {
	first, last = first.Unmap(), last.Unmap()
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("pool %s: invalid range %v-%v", name, first, last)
	}
	size := offsetOf(first, last) + 1
	if size == 0 || size > 1<<32 {
		size = 1 << 32 // IPv6 /64 and larger: more than anyone will use
	}
	return &AddressPool{name: name, first: first, size: size,
		byAddr: map[uint64]*lease{}, byID: map[string][]uint64{}}, nil
}

// SubnetRange returns the usable addresses of p: for IPv4 prefixes up to
// /30 without the network and broadcast addresses, for IPv6 without the
// subnet-router anycast address (RFC 4291 2.6.1), else all of them.
func SubnetRange(p netip.Prefix) (first, last netip.Addr) {
	p = p.Masked()
	first = p.Addr()
	bits := first.BitLen() - p.Bits()
	last = first
	for i := 0; i < bits; i++ {
		last = setBit(last, i)
	}
	switch {
	case first.Is4() && bits >= 2:
		first, last = first.Next(), last.Prev()
	case first.Is6() && bits >= 1:
		first = first.Next()
	}
	return first, last
}

// setBit sets bit i (0 = least significant) of a.
func setBit(a netip.Addr, i int) netip.Addr {
	b := a.AsSlice()
	b[len(b)-1-i/8] |= 1 << (i % 8)
	out, _ := netip.AddrFromSlice(b)
	return out
}

// offsetOf is b - a for addresses of one family, the low 64 bits of it.
func offsetOf(a, b netip.Addr) uint64 {
	x, y := a.As16(), b.As16()
	var d uint64
	borrow := 0
	var out [16]byte
	for i := 15; i >= 0; i-- {
		v := int(y[i]) - int(x[i]) - borrow
		borrow = 0
		if v < 0 {
			v += 256
			borrow = 1
		}
		out[i] = byte(v)
	}
	for i := 8; i < 16; i++ {
		d = d<<8 | uint64(out[i])
	}
	for i := 0; i < 8; i++ {
		if out[i] != 0 {
			return 1<<64 - 1 // beyond 64 bits
		}
	}
	return d
}

func (p *AddressPool) addrAt(off uint64) netip.Addr {
	b := p.first.As16()
	carry := off
	for i := 15; i >= 0 && carry > 0; i-- {
		v := uint64(b[i]) + carry&0xff
		b[i] = byte(v)
		carry = carry>>8 + v>>8
	}
	a := netip.AddrFrom16(b)
	if p.first.Is4() {
		return a.Unmap()
	}
	return a
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
