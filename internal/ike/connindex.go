package ike

import wire "github.com/goipsec/goipsec/internal/wire/ike"

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

// idKey finds the established IKE SAs of one connection with one peer
// identity, for INITIAL_CONTACT (RFC 7296 3.10.1), which must find them
// among thousands of remote-access clients on the same connection
// without walking them all.
type idKey struct {
	conn   string
	idType wire.IDType
	id     string
}

// indexID records an established sa under its connection and remote
// identity; callers hold e.mu and sa.peer and sa.remoteID are set.
func (e *Engine) indexID(sa *ikeSA) {
	if sa.peer == nil || sa.idIndexed != nil {
		return
	}
	k := &idKey{sa.peer.Name, sa.remoteID.Type, string(sa.remoteID.Data)}
	set := e.byID[*k]
	if set == nil {
		set = map[*ikeSA]struct{}{}
		e.byID[*k] = set
	}
	set[sa] = struct{}{}
	sa.idIndexed = k
}

// unindexID removes sa; callers hold e.mu.
func (e *Engine) unindexID(sa *ikeSA) {
	k := sa.idIndexed
	if k == nil {
		return
	}
	if set := e.byID[*k]; set != nil {
		delete(set, sa)
		if len(set) == 0 {
			delete(e.byID, *k)
		}
	}
	sa.idIndexed = nil
}

// idSAs returns the established IKE SAs of conn whose peer proved id.
func (e *Engine) idSAs(conn string, id Identity) []*ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	set := e.byID[idKey{conn, id.Type, string(id.Data)}]
	out := make([]*ikeSA, 0, len(set))
	for sa := range set {
		out = append(out, sa)
	}
	return out
}
