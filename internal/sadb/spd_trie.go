package sadb

import (
	"math/bits"
	"net/netip"

	"github.com/goipsec/goipsec/internal/ts"
)

// This file holds the index behind SPD lookups: a persistent (path-copying)
// path-compressed binary trie over address prefixes. Every SPD entry is
// stored at the trie nodes of the CIDR prefixes that exactly cover one of
// its address ranges (ts.Selector.Prefixes); a lookup walks from the root
// along the packet's address and sees only the entries whose range contains
// that address. The walk visits at most one node per distinct prefix length
// on the path (at most 33 for IPv4, 129 for IPv6, in practice a handful), so
// its cost does not grow with the number of policies.
//
// Nodes are never modified once published: an insert or delete copies the
// nodes on one root-to-node path (and the one entry list it changes) and
// returns a new root, so readers of an old root are unaffected and an
// update costs O(depth + entries at that prefix), not O(policies).

// u128 is an address as a 128-bit unsigned integer, most significant bit
// first. IPv4 addresses sit in the top 32 bits so that bit i means the same
// prefix bit in both families.
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

// bit returns prefix bit i (0 = most significant).
func (a u128) bit(i uint8) int {
	if i < 64 {
		return int(a.hi>>(63-i)) & 1
	}
	return int(a.lo>>(127-i)) & 1
}

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

// prefixKey is one CIDR prefix in trie form.
type prefixKey struct {
	key  u128
	bits uint8
}

// rangeKeys returns the prefixes that exactly cover the selector's address
// range (nil for an invalid or dynamic selector).
func rangeKeys(s ts.Selector) []prefixKey {
	ps := s.Prefixes()
	out := make([]prefixKey, len(ps))
	for i, p := range ps {
		out[i] = prefixKey{key: addrU128(p.Addr()), bits: uint8(p.Bits())}
	}
	return out
}

// node is one immutable trie node: a prefix, the entries stored at exactly
// that prefix (sorted by precedence, see entry.before) and up to two
// children whose prefixes are longer and continue with bit 0 or 1.
type node struct {
	key     u128
	bits    uint8
	child   [2]*node
	entries []*entry
}

// contains reports whether address a lies in the node's prefix.
func (n *node) contains(a u128) bool { return commonLen(a, n.key) >= n.bits }

// trieInsert returns a new root with e stored at prefix k.
func trieInsert(n *node, k prefixKey, e *entry) *node {
	if n == nil {
		return &node{key: k.key, bits: k.bits, entries: []*entry{e}}
	}
	common := min(commonLen(n.key, k.key), n.bits, k.bits)
	switch {
	case common == n.bits && n.bits == k.bits:
		c := *n
		c.entries = insertSorted(n.entries, e)
		return &c
	case common == n.bits: // k lies below n
		c := *n
		b := k.key.bit(n.bits)
		c.child[b] = trieInsert(n.child[b], k, e)
		return &c
	case common == k.bits: // n lies below k
		c := &node{key: k.key, bits: k.bits, entries: []*entry{e}}
		c.child[n.key.bit(k.bits)] = n
		return c
	default: // they diverge at bit common: a glue node without entries
		g := &node{key: k.key.masked(common), bits: common}
		g.child[n.key.bit(common)] = n
		g.child[k.key.bit(common)] = &node{key: k.key, bits: k.bits, entries: []*entry{e}}
		return g
	}
}

// trieRemove returns a new root without e at prefix k (the same root if e
// is not there). Nodes left without entries and with fewer than two
// children are spliced out, so the trie stays path-compressed.
func trieRemove(n *node, k prefixKey, e *entry) *node {
	if n == nil || n.bits > k.bits || commonLen(n.key, k.key) < n.bits {
		return n
	}
	c := *n
	if n.bits == k.bits {
		i := indexOf(n.entries, e)
		if i < 0 {
			return n
		}
		c.entries = make([]*entry, 0, len(n.entries)-1)
		c.entries = append(append(c.entries, n.entries[:i]...), n.entries[i+1:]...)
	} else {
		b := k.key.bit(n.bits)
		nc := trieRemove(n.child[b], k, e)
		if nc == n.child[b] {
			return n
		}
		c.child[b] = nc
	}
	if len(c.entries) == 0 {
		switch {
		case c.child[0] == nil:
			return c.child[1]
		case c.child[1] == nil:
			return c.child[0]
		}
	}
	return &c
}

// trieLoad returns the number of entries stored at exactly prefix k (0 if
// there is no such node), for choosing the less loaded index.
func trieLoad(n *node, k prefixKey) int {
	for n != nil && n.bits <= k.bits && commonLen(n.key, k.key) >= n.bits {
		if n.bits == k.bits {
			return len(n.entries)
		}
		n = n.child[k.key.bit(n.bits)]
	}
	return 0
}

// trieWalk returns best, or the entry that precedes it among those matching
// the packet, at the nodes on the path of address a. maxBits is the
// family's address length.
func trieWalk(n *node, a u128, maxBits uint8, p *pkt, best *entry) *entry {
	for n != nil && n.contains(a) {
		for _, e := range n.entries {
			if best != nil && !e.before(best) {
				break // the list is sorted: nothing later can win
			}
			if e.match(p) {
				best = e
				break
			}
		}
		if n.bits >= maxBits {
			break
		}
		n = n.child[a.bit(n.bits)]
	}
	return best
}

func insertSorted(list []*entry, e *entry) []*entry {
	i := len(list)
	for i > 0 && e.before(list[i-1]) {
		i--
	}
	out := make([]*entry, 0, len(list)+1)
	out = append(out, list[:i]...)
	out = append(out, e)
	return append(out, list[i:]...)
}

func indexOf(list []*entry, e *entry) int {
	for i, x := range list {
		if x == e {
			return i
		}
	}
	return -1
}

// trieCount returns the number of nodes and stored entry references, for
// tests and memory accounting.
func trieCount(n *node) (nodes, refs int) {
	if n == nil {
		return 0, 0
	}
	n0, r0 := trieCount(n.child[0])
	n1, r1 := trieCount(n.child[1])
	return 1 + n0 + n1, len(n.entries) + r0 + r1
}
