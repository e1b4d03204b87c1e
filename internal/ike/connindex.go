package ike

// The engine finds a connection's IKE SAs (for INITIAL_CONTACT, for
// "is this child up elsewhere", for initiate and terminate) through an
// index by connection name, not by walking every SA: with thousands of
// tunnels a walk per handshake made setup quadratic (bench/scale.sh).
// Names are unique among the configured peers, and an SA's connection
// never changes once chosen (a reload that replaces a PeerConfig keeps
// its name; see samePeer).

// indexConn records sa under its connection; callers hold e.mu and
// sa.peer is set.
func (e *Engine) indexConn(sa *ikeSA) {
	if sa.peer == nil {
		return
	}
	set := e.byConn[sa.peer.Name]
	if set == nil {
		set = map[*ikeSA]struct{}{}
		e.byConn[sa.peer.Name] = set
	}
	set[sa] = struct{}{}
}

// unindexConn removes sa; callers hold e.mu and are sa's goroutine (or
// own sa before it runs), the only writer of sa.peer.
func (e *Engine) unindexConn(sa *ikeSA) {
	p := sa.peer
	if p == nil {
		return
	}
	if set := e.byConn[p.Name]; set != nil {
		delete(set, sa)
		if len(set) == 0 {
			delete(e.byConn, p.Name)
		}
	}
}

// connSAs returns the IKE SAs of the named connection (a new slice).
func (e *Engine) connSAs(name string) []*ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	set := e.byConn[name]
	out := make([]*ikeSA, 0, len(set))
	for sa := range set {
		out = append(out, sa)
	}
	return out
}

// setPeer gives a responder SA the connection IKE_AUTH chose.
func (sa *ikeSA) setPeer(p *PeerConfig) {
	sa.mu.Lock()
	sa.peer = p // read by status and commands from other goroutines
	sa.mu.Unlock()
	sa.e.mu.Lock()
	sa.e.indexConn(sa)
	sa.e.mu.Unlock()
}
