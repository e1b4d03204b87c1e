package dataplane

// The outbound policy lookup through the Security Policy Database (RFC 4301
// 4.4.1, 5.1). Every outbound packet is looked up in one sadb.SPD:
//
//	TUN packet -> SPD lookup (src, dst, proto, ports)
//	  -> PROTECT with a bound SA: seal on that SA (send.go)
//	  -> PROTECT without SA (a trap, start_action = trap): hold the packet
//	     in the trap's bounded queue and raise an acquire (trap.go)
//	  -> BYPASS (mode = pass) or DISCARD (mode = drop), or no match: drop,
//	     counted (shunt.go explains why a bypassed packet never reaches us)
//
// Which entries the SPD holds:
//
//   - Each installed Child SA adds one PROTECT policy per (local, remote)
//     pair of its negotiated selectors, under a binding of its own (the
//     data plane's policy ReqID, not the engine's, so that hand-made SAs in
//     tests with equal ReqIDs stay apart) bound to the SA.
//   - Each trap adds PROTECT policies for the child's configured selectors
//     under a binding that is never bound: a lookup that ends there is a
//     trap.
//   - Each shunt adds BYPASS or DISCARD policies.
//
// Order follows strongSwan (sadb.AutoPriority): shunts before PROTECT
// policies, the more specific first. Priorities are doubled so that an
// installed SA sorts just before a trap with the very same selectors (the
// kernel updates the trap policy in place to point at the SA; this is the
// same outcome without touching the trap), while anything more specific
// still wins over both.
//
// Rekeys (RFC 7296 2.8, make-before-break): the new SA's policies are added
// while the old SA's are still there; equal priority keeps the older first,
// so the old SA carries traffic until the engine retires it
// (RetireOutbound), which removes its policies in one snapshot swap: the
// next lookup finds the new SA. No packet sees "no policy" in between. The
// retired SA stays in the SAD for inbound packets until RemoveChild.
//
// The inbound check stays per SA (receive.go: sadb.ChildSA.MatchInbound),
// plus the drop shunts (shunt.go).

import (
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// trapReqIDBase splits the SPD's ReqID space: bindings of installed SAs
// count up from 1, traps and shunts from here.
const trapReqIDBase = 1 << 31

// policyPriority is the priority of a policy in the data plane's SPD:
// strongSwan's order (sadb.AutoPriority), doubled, plus one for traps so
// that an SA with a trap's exact selectors comes first.
func policyPriority(class uint32, local, remote ts.Selector, trap bool) uint32 {
	p := sadb.AutoPriority(class, local, remote) * 2
	if trap {
		p++
	}
	return p
}

// saPolicies is what an installed Child SA holds in the SPD.
type saPolicies struct {
	reqID uint32
	ids   []sadb.PolicyID // nil once retired
}

// policyState is the data plane's view of its SPD. Guarded by
// Dataplane.installMu except the SPD itself, whose lookups are lock-free.
type policyState struct {
	spd         sadb.SPD
	nextSAReq   uint32
	nextTrapReq uint32
	bySA        map[uint32]*saPolicies     // by inbound SPI
	traps       map[string]*installedTrap  // by name (trap.go)
	shunts      map[string]*installedShunt // by name (shunt.go)
	drops       atomic.Int32               // drop shunts installed (read per inbound packet)
}

func (ps *policyState) init() {
	if ps.bySA == nil {
		ps.bySA = make(map[uint32]*saPolicies)
		ps.traps = make(map[string]*installedTrap)
		ps.shunts = make(map[string]*installedShunt)
	}
}

// addSA adds c's PROTECT policies, bound to c. It changes nothing on error.
func (ps *policyState) addSA(c *sadb.ChildSA) error {
	ps.init()
	spi := c.InSPI()
	if _, ok := ps.bySA[spi]; ok {
		return errors.New("policies for this SPI already installed")
	}
	ps.nextSAReq++
	if ps.nextSAReq >= trapReqIDBase {
		ps.nextSAReq = 1
	}
	reqID := ps.nextSAReq
	pols := sadb.ChildPolicies(c.Name, reqID, sadb.Protect, c.LocalTS, c.RemoteTS)
	if len(pols) == 0 {
		return errors.New("no (local, remote) selector pair of one address family")
	}
	// Bind first: a lookup that finds the new entries finds the SA too.
	ps.spd.Bind(reqID, c)
	ids := make([]sadb.PolicyID, 0, len(pols))
	for _, p := range pols {
		p.Priority = policyPriority(sadb.ClassDefault, p.Local, p.Remote, false)
		id, err := ps.spd.Add(p)
		if err != nil {
			for _, id := range ids {
				ps.spd.Remove(id)
			}
			ps.spd.Unbind(reqID, c)
			return err
		}
		ids = append(ids, id)
	}
	ps.bySA[spi] = &saPolicies{reqID: reqID, ids: ids}
	return nil
}

// retireSA removes the policies of the SA with inbound SPI spi, keeping the
// binding (packets that looked it up a moment ago may still seal on it).
func (ps *policyState) retireSA(spi uint32) {
	sp := ps.bySA[spi]
	if sp == nil {
		return
	}
	for _, id := range sp.ids {
		ps.spd.Remove(id)
	}
	sp.ids = nil
}

// removeSA removes everything c holds in the SPD.
func (ps *policyState) removeSA(c *sadb.ChildSA) {
	spi := c.InSPI()
	sp := ps.bySA[spi]
	if sp == nil {
		return
	}
	ps.retireSA(spi)
	ps.spd.Unbind(sp.reqID, c)
	delete(ps.bySA, spi)
}

// lookupOut is the per-packet outbound decision (RFC 4301 5.1 step 2). It
// does not allocate.
func (ps *policyState) lookupOut(src, dst netip.Addr, proto uint8, sp, dp uint16) sadb.Decision {
	return ps.spd.Outbound(src, dst, proto, sp, dp)
}

// Policies returns the data plane's SPD in order (for listings such as
// swanctl --list-pols; it allocates).
func (d *Dataplane) Policies() []sadb.Policy {
	_, pols := d.pol.spd.Policies()
	return pols
}
