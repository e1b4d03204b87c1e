package ike

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Uniqueness policies (swanctl.conf connections.<conn>.unique), applied
// once an IKE SA is authenticated to the other established IKE SAs of
// the same connection with the same pair of identities:
const (
	// UniqueNo (the default) keeps duplicates, but a new IKE SA that
	// carries INITIAL_CONTACT (RFC 7296 3.10.1: the peer has lost its
	// state) replaces them.
	UniqueNo = "no"
	// UniqueNever keeps duplicates even with INITIAL_CONTACT, and an
	// initiator with this policy does not send INITIAL_CONTACT.
	UniqueNever = "never"
	// UniqueKeep refuses the new IKE SA while an old one is up (the
	// responder answers AUTHENTICATION_FAILED; an initiator deletes it).
	UniqueKeep = "keep"
	// UniqueReplace deletes the old IKE SAs, telling the peer.
	UniqueReplace = "replace"
)

// ErrUniqueKeep: the initiator deleted its new IKE SA because an older
// one with the same identities is up and the policy is UniqueKeep.
var ErrUniqueKeep = errors.New("ike: an IKE SA with the same identities is up (unique = keep)")

func (p *PeerConfig) unique() string {
	if p == nil || p.Unique == "" {
		return UniqueNo
	}
	return p.Unique
}

// duplicates returns the other established IKE SAs of sa's connection
// between the same identities, oldest first.
func (sa *ikeSA) duplicates() []*ikeSA {
	var out []*ikeSA
	for _, o := range sa.e.idSAs(sa.peer.Name, sa.remoteID) {
		// The SA that sa reauthenticates is no duplicate: sa replaces it.
		if o == sa || o == sa.reauthOf || o.State() != StateEstablished || o.isRekeyed() {
			continue
		}
		o.mu.Lock()
		same := o.localID.Equal(sa.localID)
		o.mu.Unlock()
		if same {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *ikeSA) int { return int(a.unique) - int(b.unique) })
	return out
}

// enforceUnique applies the connection's uniqueness policy to the newly
// authenticated sa; initialContact says whether the peer sent
// INITIAL_CONTACT. It reports whether sa itself must be refused
// (UniqueKeep with an older SA up). Called by sa's goroutine.
func (sa *ikeSA) enforceUnique(initialContact bool) (refuse bool) {
	policy := sa.peer.unique()
	if policy == UniqueNever {
		return false
	}
	if initialContact {
		// The peer lost every SA it had with us: drop ours without a
		// DELETE it could not read.
		sa.e.dropStale(sa)
		return false
	}
	dups := sa.duplicates()
	if len(dups) == 0 || policy == UniqueNo {
		return false
	}
	if policy == UniqueKeep {
		// Keep the oldest; any later duplicates go, as with replace.
		refuse, dups = true, dups[1:]
	}
	for _, o := range dups {
		sa.log.Info("deleting a duplicate IKE SA (unique = "+policy+")", "duplicate", o.unique)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = o.command(ctx, command{kind: cmdDeleteIKE})
		}()
	}
	return refuse
}
