package dataplane

import "net/netip"

// prefixRefs counts references on routes, per destination prefix: the
// main-table routes into the TUN (route.go), the policy-routed host
// routes (hostroute.go) and the routes around the TUN (shunt.go) are all
// shared by the SAs, traps and shunts that need them, so that a rekey,
// which installs the new SA before the old one goes, changes no route.
// The caller supplies what installing and removing a route means.
// Guarded by Dataplane.installMu, as its owners are.
type prefixRefs map[netip.Prefix]int

// acquire takes a reference on every prefix of ps, calling install for
// each that had none. If install fails it drops what it took (remove for
// the prefixes it installed) and returns the error; otherwise it returns
// ps, for the caller to release later.
func (r prefixRefs) acquire(ps []netip.Prefix, install func(netip.Prefix) error, remove func(netip.Prefix)) ([]netip.Prefix, error) {
	for i, p := range ps {
		if r[p] == 0 {
			if err := install(p); err != nil {
				r.release(ps[:i], remove)
				return nil, err
			}
		}
		r[p]++
	}
	return ps, nil
}

// release drops one reference on every prefix of ps and calls remove for
// each that has none left.
func (r prefixRefs) release(ps []netip.Prefix, remove func(netip.Prefix)) {
	for _, p := range ps {
		if r[p] == 0 {
			continue // not held: never underflow
		}
		r[p]--
		if r[p] > 0 {
			continue
		}
		delete(r, p)
		remove(p)
	}
}

// drain calls remove for every prefix still referenced and forgets them
// (Dataplane.Close).
func (r prefixRefs) drain(remove func(netip.Prefix)) {
	for p := range r {
		remove(p)
	}
	clear(r)
}

// has reports whether some prefix of the family (IPv6 if v6) is held.
func (r prefixRefs) has(v6 bool) bool {
	for p := range r {
		if p.Addr().Is6() == v6 {
			return true
		}
	}
	return false
}
