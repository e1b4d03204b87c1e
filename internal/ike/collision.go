package ike

import (
	"bytes"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Collisions (RFC 7296 2.8.1, 2.25). Each IKE SA runs at most one
// exchange of its own at a time (activeExchange), and answers the
// peer's requests meanwhile. What the peer asks for may collide with it:
//
//   - both rekey the same Child SA, or both the IKE SA: both exchanges
//     complete; the one whose four nonces include the lowest lost, and
//     its initiator deletes the SA it created. The winner's initiator
//     deletes the old SA.
//   - the peer rekeys a Child SA we are deleting, or one we rekeyed
//     already and are about to delete: TEMPORARY_FAILURE (2.25).
//   - the peer rekeys a Child SA we do not have: CHILD_SA_NOT_FOUND (2.25).
//   - the peer deletes the Child SA we rekey: our rekey's result is
//     deleted as well, since the peer wanted the Child SA gone.
//   - the peer deletes the IKE SA during our exchange: everything goes.
//   - the peer rekeys the IKE SA while we create or rekey a Child SA, or
//     the other way round: TEMPORARY_FAILURE; the refused side retries
//     later (strongSwan does the same).

type activeKind int

const (
	activeCreateChild activeKind = iota + 1
	activeRekeyChild
	activeDeleteChild
	activeRekeyIKE
)

// activeExchange is the exchange this SA initiated and waits on.
type activeExchange struct {
	kind  activeKind
	child *childSA // the Child SA rekeyed or deleted
	ni    []byte   // our nonce in a rekey
	nr    []byte   // the responder's nonce, once answered
	// collision is the peer's rekey of the same SA, answered meanwhile.
	collision *collision
	// childDeleted: the peer deleted child while we rekeyed it.
	childDeleted bool
}

// collision is the peer's colliding rekey exchange as we answered it.
type collision struct {
	ni, nr []byte   // the peer's nonce and ours in our answer
	child  *childSA // the Child SA it created (Child SA rekey)
	ike    *ikeSA   // the IKE SA it created (IKE SA rekey)
}

// lowest returns the smallest of the nonces (compared as octet strings).
func lowest(nonces ...[]byte) []byte {
	low := nonces[0]
	for _, n := range nonces[1:] {
		if bytes.Compare(n, low) < 0 {
			low = n
		}
	}
	return low
}

// weLose reports whether our exchange (nonces ni, nr) holds the lowest of
// the four nonces, which makes its SA the redundant one (RFC 7296 2.8.1).
func (c *collision) weLose(ni, nr []byte) bool {
	low := lowest(ni, nr, c.ni, c.nr)
	return bytes.Equal(low, ni) || bytes.Equal(low, nr)
}

// refuseChildRequest says whether a peer's CREATE_CHILD_SA for a Child SA
// (rekeying old, or new when old is nil) must be refused because of what
// we are doing, and with which notify.
func (sa *ikeSA) refuseChildRequest(old *childSA) (wire.NotifyType, bool) {
	if sa.rekeyed {
		return wire.NotifyTemporaryFailure, true
	}
	if a := sa.active; a != nil && a.kind == activeRekeyIKE {
		return wire.NotifyTemporaryFailure, true
	}
	if old != nil && old.rekeyed {
		return wire.NotifyTemporaryFailure, true
	}
	return 0, false
}

// deletingChild reports whether we are deleting the Child SA whose
// outbound SPI is spi (it is gone from sa.children already).
func (sa *ikeSA) deletingChild(spi uint32) bool {
	a := sa.active
	return a != nil && a.kind == activeDeleteChild && a.child.outSPI == spi
}

// noteChildRekey records a peer's rekey of the Child SA we rekey too.
func (sa *ikeSA) noteChildRekey(old *childSA, ni, nr []byte, created *childSA) {
	if a := sa.active; a != nil && a.kind == activeRekeyChild && a.child == old {
		sa.log.Info("Child SA rekey collision", "child", old.cfg.Name)
		a.collision = &collision{ni: ni, nr: nr, child: created}
		return
	}
	// Not a collision: the peer will delete the old SA (or its lifetime).
	sa.awaitDelete(old)
}

// noteChildDeleted records that the peer deleted c.
func (sa *ikeSA) noteChildDeleted(c *childSA) {
	if a := sa.active; a != nil && a.kind == activeRekeyChild && a.child == c {
		a.childDeleted = true
	}
}

// refuseIKERekey says whether a peer's IKE SA rekey must wait: we are in
// the middle of a Child SA exchange, or the SA was replaced already.
func (sa *ikeSA) refuseIKERekey() bool {
	if sa.rekeyed {
		return true
	}
	a := sa.active
	return a != nil && a.kind != activeRekeyIKE
}

// ikeRekeyCollides reports whether a peer's IKE SA rekey collides with ours.
func (sa *ikeSA) ikeRekeyCollides() bool {
	a := sa.active
	return a != nil && a.kind == activeRekeyIKE
}
