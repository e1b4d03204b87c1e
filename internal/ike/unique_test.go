package ike

import (
	"context"
	"errors"
	"testing"
	"time"
)

// secondClient starts another initiator engine at the left address with
// the same configuration (and so the same identity) as l, as a second
// device of the same user, or the same one after a restart.
func secondClient(t *testing.T, n *testNet, l *testPeer) *testPeer {
	inst := &fakeInstaller{}
	e := New(Config{
		Peers:     l.e.Peers(),
		Send:      n.sender(t),
		Installer: inst,
		SharedKey: l.e.cfg.SharedKey,
		LocalAddr: l.e.cfg.LocalAddr,
		Logger:    testLogger(t),
	})
	n.mu.Lock()
	n.engines[leftAddr] = e
	n.mu.Unlock()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		e.Close(ctx)
	})
	return &testPeer{e: e, inst: inst, addr: leftAddr}
}

// TestUnique: the responder's uniqueness policy (swanctl unique) when a
// second IKE SA with the same identities arrives. The clients use
// unique = never, so they send no INITIAL_CONTACT.
func TestUnique(t *testing.T) {
	for _, tc := range []struct {
		policy     string
		wantErr    bool // the second initiation fails
		keepsFirst bool // the responder's first SA survives
		both       bool // the responder keeps both
	}{
		{policy: UniqueNo, both: true},
		{policy: UniqueNever, both: true},
		{policy: UniqueReplace},
		{policy: UniqueKeep, wantErr: true, keepsFirst: true},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			n, l, r := newPair(t, pairOpts{})
			l.e.Peers()[0].Unique = UniqueNever
			r.e.Peers()[0].Unique = tc.policy
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
			first := r.e.SAs()[0].UniqueID
			firstChild := r.inst.all()[0]
			c := secondClient(t, n, l)
			err := c.e.Initiate(ctxT(t), "site", "net")
			if tc.wantErr {
				if err == nil {
					t.Fatal("second IKE SA accepted")
				}
				var ne *NotifyError
				if !errors.As(err, &ne) {
					t.Logf("second initiation: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.both:
				waitFor(t, "two IKE SAs on the responder", func() bool { return len(r.e.SAs()) == 2 && len(r.inst.all()) == 2 })
			case tc.keepsFirst:
				waitFor(t, "only the first IKE SA on the responder", func() bool {
					sas := r.e.SAs()
					return len(sas) == 1 && sas[0].UniqueID == first && len(r.inst.all()) == 1
				})
			default:
				// The first is deleted, with a DELETE that nobody answers
				// here (the first client is gone), so it lingers in
				// StateDeleting while the DELETE is retransmitted.
				waitFor(t, "only the second IKE SA established on the responder", func() bool {
					var up []SAInfo
					for _, s := range r.e.SAs() {
						if s.State == StateEstablished {
							up = append(up, s)
						}
					}
					return len(up) == 1 && up[0].UniqueID != first
				})
				// Traffic has moved to the new Child SA already.
				waitFor(t, "the replaced Child SA retired", firstChild.Retired)
			}
		})
	}
}

// TestUniqueNeverIgnoresInitialContact: with unique = never even
// INITIAL_CONTACT leaves the old IKE SA alone (strongSwan's semantics);
// with the default it replaces it (TestInitialContactDropsStaleSAs).
func TestUniqueNeverIgnoresInitialContact(t *testing.T) {
	n, l, r := newPair(t, pairOpts{})
	r.e.Peers()[0].Unique = UniqueNever
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
	c := secondClient(t, n, l) // sends INITIAL_CONTACT: it has no SA
	if err := c.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both IKE SAs kept", func() bool { return len(r.e.SAs()) == 2 })
	time.Sleep(100 * time.Millisecond)
	if len(r.e.SAs()) != 2 {
		t.Fatal("an IKE SA was dropped")
	}
}
