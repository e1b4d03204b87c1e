package sadb

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/goipsec/goipsec/internal/ts"
)

// This file holds the index behind SPD lookups: for one address family and
// one side (local or remote), a hash from CIDR prefix to the entries stored
// at exactly that prefix, plus the list of prefix lengths in use. Every SPD
// entry is stored under the prefixes that exactly cover its address range
// (ts.Selector.Prefixes); a lookup masks the packet's address to each
// length in use and probes the hash once per length. Its cost depends on
// how many distinct prefix lengths the configuration uses (a handful in
// practice, at most 33 for IPv4 and 129 for IPv6), not on how many policies
// there are, and it touches a few cache lines however large the SPD is.
//
// The index is persistent: a published index is never modified. The hash
// is split into shards by a hash of the prefix; an insert or delete copies
// two small arrays of shard pointers and the one shard map it changes,
// so an update costs O(policies/shards + entries at that prefix), not
// O(policies), and readers of the old index are unaffected.

// u128 is an address as a 128-bit unsigned integer, most significant bit
// first. IPv4 addresses sit in the top 32 bits so that prefix bit i means
// the same thing in both families.
type u128 struct{ hi, lo uint64 }

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32}
	}
	b := a.As16()
	var v u128
	for i := 0; i < 8; i++ {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// masked keeps the top n bits.
func (a u128) masked(n uint8) u128 {
	switch {
	case n == 0:
		return u128{}
	case n < 64:
		return u128{hi: a.hi &^ (^uint64(0) >> n)}
	case n == 64:
		return u128{hi: a.hi}
	case n < 128:
		return u128{hi: a.hi, lo: a.lo &^ (^uint64(0) >> (n - 64))}
	default:
		return a
	}
}

// commonLen returns the number of leading bits a and b share (0..128).
func commonLen(a, b u128) uint8 {
	if x := a.hi ^ b.hi; x != 0 {
		return uint8(bits.LeadingZeros64(x))
	}
	return 64 + uint8(bits.LeadingZeros64(a.lo^b.lo))
}

// prefixKey is one CIDR prefix: the masked address and its length.
type prefixKey struct {
	key  u128
	bits uint8
}

// rangeKeys returns the minimal list of CIDR prefixes that exactly cover
// the selector's address range, in ascending order (what
// ts.Selector.Prefixes computes, in integer arithmetic: an arbitrary IPv6
// range needs up to 254 prefixes, and Add should not spend milliseconds on
// them). It returns nil for an invalid or dynamic selector.
func rangeKeys(s ts.Selector) []prefixKey {
	if !s.Valid() {
		return nil
	}
	w := uint8(s.Start.BitLen())
	lo, hi := rightAligned(s.Start), rightAligned(s.End)
	var out []prefixKey
	for {
		// The largest block that starts at lo (aligned) and ends by hi.
		k := min(trailingZeros(lo), w)
		for k > 0 && hi.less(lo.add(ones(k))) {
			k--
		}
		key := lo
		if w == 32 {
			key = u128{hi: lo.lo << 32}
		}
		out = append(out, prefixKey{key: key, bits: w - k})
		last := lo.add(ones(k))
		if last == hi {
			return out
		}
		lo = last.add(u128{lo: 1})
	}
}

// rightAligned returns the address as an integer (IPv4 in the low 32 bits).
func rightAligned(a netip.Addr) u128 {
	v := addrU128(a)
	if a.Is4() {
		return u128{lo: v.hi >> 32}
	}
	return v
}

func (a u128) add(b u128) u128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return u128{hi: hi, lo: lo}
}

// ones returns 2^k - 1.
func ones(k uint8) u128 {
	switch {
	case k < 64:
		return u128{lo: 1<<k - 1}
	case k < 128:
		return u128{hi: 1<<(k-64) - 1, lo: ^uint64(0)}
	default:
		return u128{hi: ^uint64(0), lo: ^uint64(0)}
	}
}

func trailingZeros(a u128) uint8 {
	if a.lo != 0 {
		return uint8(bits.TrailingZeros64(a.lo))
	}
	return 64 + uint8(bits.TrailingZeros64(a.hi)) // 128 for zero
}

// The shards form two levels of shardFan each, so that an update copies
// 2*shardFan pointers and one shard map: 1,024 shards keep a shard at about
// ten prefixes per 10,000 policies.
const shardFan = 32

type shard = map[prefixKey][]*entry

type shardGroup [shardFan]shard

// shardOf spreads prefixes over the shards (a multiplicative hash; the
// shard maps hash again on their own, so this only has to be even).
func shardOf(k prefixKey) (group, slot uint8) {
	h := k.key.hi*0x9e3779b97f4a7c15 ^ k.key.lo*0xc2b2ae3d27d4eb4f ^ uint64(k.bits)*0x165667b19e3779f9
	return uint8(h>>59) % shardFan, uint8(h>>54) % shardFan
}

// index is one immutable side index (see the file comment).
type index struct {
	lens   []uint8               // prefix lengths in use, longest first
	count  [129]int32            // number of prefixes of each length
	groups [shardFan]*shardGroup // nil: all its shards are empty
}

var emptyIndex = &index{}

// get returns the entries stored at exactly prefix k, in SPD order.
func (ix *index) get(k prefixKey) []*entry {
	gi, si := shardOf(k)
	if g := ix.groups[gi]; g != nil {
		return g[si][k]
	}
	return nil
}

// update returns a copy of ix in which the list at each prefix in keys is
// replaced by change(old list) (an empty result removes the prefix). Each
// touched shard group and shard map is copied once, however many of the
// keys fall into it: an arbitrary IPv6 range covers up to 254 prefixes.
func (ix *index) update(keys []prefixKey, change func([]*entry) []*entry) *index {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b prefixKey) int {
		ga, sa := shardOf(a)
		gb, sb := shardOf(b)
		return int(ga)<<8 + int(sa) - (int(gb)<<8 + int(sb))
	})
	c := *ix
	lensChanged := false
	var g *shardGroup
	var m shard
	gCur, sCur := -1, -1
	finish := func() { // drop a shard left empty
		if g != nil && sCur >= 0 && len(m) == 0 {
			g[sCur] = nil
		}
	}
	for _, k := range keys {
		gi, si := shardOf(k)
		if int(gi) != gCur {
			finish()
			g = new(shardGroup)
			if old := ix.groups[gi]; old != nil {
				*g = *old
			}
			c.groups[gi] = g
			gCur, sCur = int(gi), -1
		}
		if int(si) != sCur {
			finish()
			old := g[si]
			m = make(shard, len(old)+1)
			for pk, l := range old {
				m[pk] = l
			}
			g[si] = m
			sCur = int(si)
		}
		old := m[k]
		list := change(old)
		switch {
		case len(list) > 0:
			m[k] = list
			if len(old) == 0 {
				c.count[k.bits]++
				lensChanged = lensChanged || c.count[k.bits] == 1
			}
		case len(old) > 0:
			delete(m, k)
			c.count[k.bits]--
			lensChanged = lensChanged || c.count[k.bits] == 0
		}
	}
	finish()
	if lensChanged {
		c.lens = lensOf(&c.count)
	}
	return &c
}

func lensOf(count *[129]int32) []uint8 {
	var out []uint8
	for l := len(count) - 1; l >= 0; l-- {
		if count[l] > 0 {
			out = append(out, uint8(l))
		}
	}
	return out
}

// insert returns an index with e added at every prefix in keys.
func (ix *index) insert(keys []prefixKey, e *entry) *index {
	return ix.update(keys, func(list []*entry) []*entry {
		i, _ := slices.BinarySearchFunc(list, e, func(x, t *entry) int {
			if x.before(t) {
				return -1
			}
			return 1
		})
		out := make([]*entry, 0, len(list)+1)
		return append(append(append(out, list[:i]...), e), list[i:]...)
	})
}

// remove returns an index without e at the prefixes in keys.
func (ix *index) remove(keys []prefixKey, e *entry) *index {
	return ix.update(keys, func(list []*entry) []*entry {
		i := slices.Index(list, e)
		if i < 0 {
			return list
		}
		out := make([]*entry, 0, len(list)-1)
		return append(append(out, list[:i]...), list[i+1:]...)
	})
}

// lookup returns best, or the entry that precedes it among those matching
// the packet and stored under a prefix that contains address a.
func (ix *index) lookup(a u128, p *pkt, best *entry) *entry {
	for _, l := range ix.lens {
		for _, e := range ix.get(prefixKey{key: a.masked(l), bits: l}) {
			if best != nil && !e.before(best) {
				break // the list is in SPD order: nothing later can win
			}
			if e.match(p) {
				best = e
				break
			}
		}
	}
	return best
}

// size returns the number of prefixes and of stored entry references, for
// tests and memory accounting.
func (ix *index) size() (prefixes, refs int) {
	for _, g := range ix.groups {
		if g == nil {
			continue
		}
		for _, m := range g {
			for _, l := range m {
				prefixes++
				refs += len(l)
			}
		}
	}
	return prefixes, refs
}
