package ike

import "testing"

// TestConnIndex: the by-connection index holds a connection's IKE SAs
// through setup, an IKE SA rekey and delete on both sides, and is empty
// once they are gone (no SA is leaked into it).
func TestConnIndex(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	count := func(e *Engine) int { return len(e.connSAs("site")) }
	waitFor(t, "one indexed SA each side", func() bool { return count(l.e) == 1 && count(r.e) == 1 })
	unique := l.e.SAs()[0].UniqueID
	if err := l.e.Rekey(ctxT(t), unique, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rekeyed SA replaced in the index", func() bool {
		sas := l.e.connSAs("site")
		return len(sas) == 1 && sas[0].unique != unique && count(r.e) == 1
	})
	// The new SAs are found by the peer's identity, for INITIAL_CONTACT.
	for _, p := range []*testPeer{l, r} {
		sas := p.e.SAs()
		if len(sas) != 1 {
			t.Fatalf("%d SAs", len(sas))
		}
		sa := p.e.connSAs("site")[0]
		if got := p.e.idSAs("site", sa.remoteID); len(got) != 1 || got[0] != sa {
			t.Errorf("by ID %v: %d SAs", sa.remoteID, len(got))
		}
	}
	if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
		t.Fatalf("terminate: %d %v", n, err)
	}
	waitFor(t, "index empty on both sides", func() bool {
		l.e.mu.Lock()
		ln := len(l.e.byConn) + len(l.e.byID)
		l.e.mu.Unlock()
		r.e.mu.Lock()
		rn := len(r.e.byConn) + len(r.e.byID)
		r.e.mu.Unlock()
		return ln == 0 && rn == 0
	})
}
