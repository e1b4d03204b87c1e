package dataplane

// Shunt policies (swanctl mode = pass and mode = drop; RFC 4301 4.4.1
// BYPASS and DISCARD), installed at load without IKE and consulted before
// every PROTECT policy with strongSwan's priorities (policy.go).
//
// drop: the shunt's remote selectors are routed into the TUN like a
// tunnel's, so the host's own and forwarded traffic for them reaches the
// data plane, where the DISCARD policy drops it (counted shunt_drop)
// instead of letting it leave in the clear by some other route.
//
// Inbound, the per-SA check stays what it was (receive.go); a drop shunt
// is also consulted for what a tunnel delivers, as strongSwan installs its
// DISCARD policies in both directions: a decrypted packet whose first
// inbound SPD match is a DISCARD policy is dropped (shunt_drop). The lookup
// runs only while a drop shunt is installed.
//
// pass: a userspace data plane sees only what is routed into its TUN, and
// it cannot send a packet read from the TUN in the clear (writing it to a
// raw socket would route it straight back into the TUN). So a BYPASS shunt
// is done by routing: for each of its remote prefixes the data plane adds
// a more specific route copied from the route the host uses for that
// prefix outside the TUN (the longest non-TUN route in the main table that
// covers it), so the tunnel's broader route into the TUN no longer catches
// it and the traffic goes out in the clear. Routes select by destination
// only, which is why the daemon accepts a pass child only when every tunnel
// or trap child whose remote selectors overlap the pass child's has its
// local selectors inside the pass child's (otherwise traffic the tunnel
// must protect would leak), and only with plain address selectors (no
// protocol or ports). The BYPASS policy still sits in the SPD: a packet
// that reaches the TUN anyway is dropped and counted bypass_in_tun, never
// sealed into a tunnel the configuration says it must not use.

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// Shunt describes one pass or drop child.
type Shunt struct {
	Name              string // "conn/child"
	Action            sadb.Action
	LocalTS, RemoteTS []ts.Selector
}

type installedShunt struct {
	spec  Shunt
	reqID uint32
	ids   []sadb.PolicyID
}

// bypassRouter is implemented by route systems that can route a prefix
// around the TUN (netlink on Linux).
type bypassRouter interface {
	// bypass routes dst the way the host routes it without the TUN;
	// installed is false if the host has its own route for exactly dst
	// (then nothing is added, and nothing is deleted later).
	bypass(dst netip.Prefix) (installed bool, err error)
	delBypass(dst netip.Prefix) error
}

// InstallShunt installs (or replaces) the BYPASS or DISCARD policies of s
// and its routes. It changes nothing on error.
func (d *Dataplane) InstallShunt(s Shunt) error {
	if s.Action != sadb.Bypass && s.Action != sadb.Discard {
		return fmt.Errorf("dataplane: shunt %s: action %v", s.Name, s.Action)
	}
	d.installMu.Lock()
	defer d.installMu.Unlock()
	if d.closing.Load() {
		return errors.New("dataplane: closed")
	}
	d.pol.init()
	if old := d.pol.shunts[s.Name]; old != nil {
		d.removeShuntLocked(old)
	}
	d.pol.nextTrapReq++
	is := &installedShunt{spec: s, reqID: trapReqIDBase + d.pol.nextTrapReq}
	pols := sadb.ChildPolicies(s.Name, is.reqID, s.Action, s.LocalTS, s.RemoteTS)
	if len(pols) == 0 {
		return fmt.Errorf("dataplane: shunt %s: no (local, remote) selector pair of one address family", s.Name)
	}
	if d.routes != nil {
		if err := d.routes.addShunt(is.reqID, s); err != nil {
			return fmt.Errorf("dataplane: shunt %s: %w", s.Name, err)
		}
	}
	for _, p := range pols {
		p.Priority = policyPriority(sadb.ClassPass, p.Local, p.Remote, false)
		id, err := d.pol.spd.Add(p)
		if err != nil {
			d.removeShuntLocked(is)
			return fmt.Errorf("dataplane: shunt %s: %w", s.Name, err)
		}
		is.ids = append(is.ids, id)
	}
	d.pol.shunts[s.Name] = is
	if s.Action == sadb.Discard {
		d.pol.drops.Add(1)
	}
	d.log.Debug("shunt installed", "shunt", s.Name, "action", s.Action, "local_ts", s.LocalTS, "remote_ts", s.RemoteTS)
	return nil
}

// RemoveShunt removes the shunt named name; it reports whether there was one.
func (d *Dataplane) RemoveShunt(name string) bool {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	is := d.pol.shunts[name]
	if is == nil {
		return false
	}
	d.removeShuntLocked(is)
	return true
}

func (d *Dataplane) removeShuntLocked(is *installedShunt) {
	for _, id := range is.ids {
		d.pol.spd.Remove(id)
	}
	if d.routes != nil {
		d.routes.removeShunt(is.reqID)
	}
	if d.pol.shunts[is.spec.Name] == is {
		delete(d.pol.shunts, is.spec.Name)
		if is.spec.Action == sadb.Discard {
			d.pol.drops.Add(-1)
		}
	}
}

// shuntDropsInbound reports (and counts) whether a decrypted inbound packet
// hits a DISCARD policy first (RFC 4301 5.2: the SPD decides for inbound
// traffic too). It does not allocate.
func (d *Dataplane) shuntDropsInbound(src, dst netip.Addr, proto uint8, sp, dp uint16) bool {
	if d.pol.drops.Load() == 0 {
		return false
	}
	dec := d.pol.spd.InboundBypass(src, dst, proto, sp, dp)
	if dec.Policy == nil || dec.Action != sadb.Discard {
		return false
	}
	inc(&d.counters.ShuntDrop)
	return true
}

// Shunts returns the names of the installed shunts.
func (d *Dataplane) Shunts() []string {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	out := make([]string, 0, len(d.pol.shunts))
	for n := range d.pol.shunts {
		out = append(out, n)
	}
	return out
}

// addShunt installs the routes of a shunt: into the TUN for drop, around it
// for pass.
func (t *routeTable) addShunt(reqID uint32, s Shunt) error {
	if s.Action == sadb.Discard {
		added, err := t.hold(s.LocalTS, s.RemoteTS, netip.Addr{})
		if err != nil {
			return err
		}
		t.byTrap[reqID] = added
		return nil
	}
	br, ok := t.sys.(bypassRouter)
	if !ok {
		return errors.New("this platform cannot route around the TUN (mode = pass)")
	}
	install := func(p netip.Prefix) error {
		installed, err := br.bypass(p)
		if err != nil {
			return fmt.Errorf("route %s around the TUN: %w", p, err)
		}
		t.bypassOwned[p] = installed
		t.log.Debug("bypass route", "dst", p, "added", installed)
		return nil
	}
	added, err := t.bypassRefs.acquire(remotePrefixes(s.RemoteTS), install, func(p netip.Prefix) { t.delBypass(br, p) })
	if err != nil {
		return err
	}
	t.byBypass[reqID] = added
	return nil
}

func (t *routeTable) removeShunt(reqID uint32) {
	t.removeTrap(reqID)
	if ps, ok := t.byBypass[reqID]; ok {
		delete(t.byBypass, reqID)
		if br, ok := t.sys.(bypassRouter); ok {
			t.releaseBypass(br, ps)
		}
	}
}

func (t *routeTable) releaseBypass(br bypassRouter, ps []netip.Prefix) {
	t.bypassRefs.release(ps, func(p netip.Prefix) { t.delBypass(br, p) })
}

// delBypass deletes the route around the TUN for p if we added it (one
// that was there before stays).
func (t *routeTable) delBypass(br bypassRouter, p netip.Prefix) {
	owned := t.bypassOwned[p]
	delete(t.bypassOwned, p)
	if !owned {
		return
	}
	if err := br.delBypass(p); err != nil {
		t.log.Warn("remove bypass route", "dst", p, "err", err)
	}
}

// removeBypassAll deletes every bypass route (Dataplane.Close).
func (t *routeTable) removeBypassAll() {
	br, ok := t.sys.(bypassRouter)
	if !ok {
		return
	}
	t.bypassRefs.drain(func(p netip.Prefix) { t.delBypass(br, p) })
	clear(t.bypassOwned)
	clear(t.byBypass)
}
