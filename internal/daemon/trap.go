package daemon

// Trap and shunt policies from the configuration (swanctl.conf(5)
// start_action = trap, mode = pass|drop), kept in step with it, and the
// acquires that traps raise.
//
//	config change -> wantPolicies (validate, resolve selectors; on error the
//	  change fails and nothing changes) -> syncPolicies (install/remove the
//	  difference in the data plane)
//	packet hits a trap -> data plane Acquire(name) -> acquireQueue ->
//	  runAcquires: one initiation per trap at a time (engine.Initiate
//	  brings up the IKE SA too if there is none); on failure the data plane
//	  drops what it held (TrapFailed) and the next packet tries again.
//
// A trap stays installed while its connection is configured: when its
// Child SA goes (delete, DPD, close) the data plane's trap policy is what
// is left, and the next packet brings the SA back.

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/dataplane"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// trapSpec is one configured trap: the data plane's Trap and the
// connection and child an acquire initiates.
type trapSpec struct {
	conn, child string
	trap        dataplane.Trap
}

// policySet is the trap and shunt policies of one configuration, by
// "conn/child" (the name the engine gives the child's SAs): traps of
// start_action = trap children, shunts of mode = pass|drop ones. onDemand
// are the traps of children with dpd_action or close_action = trap (and
// no start_action = trap), installed once the engine asks (onTrapAction);
// possible holds the trap every tunnel child would have (swanctl
// --install), possibleErr why a child cannot have one.
type policySet struct {
	traps       map[string]trapSpec
	shunts      map[string]dataplane.Shunt
	onDemand    map[string]trapSpec
	possible    map[string]trapSpec
	possibleErr map[string]error
}

func newPolicySet() policySet {
	return policySet{traps: map[string]trapSpec{}, shunts: map[string]dataplane.Shunt{},
		onDemand: map[string]trapSpec{}, possible: map[string]trapSpec{}, possibleErr: map[string]error{}}
}

// policyState is the daemon's side of the installed traps and shunts.
type policyState struct {
	mu        sync.Mutex
	installed policySet              // traps and shunts in the data plane
	extra     map[string]bool        // installed traps not from start_action = trap (dpd/close_action, VICI install)
	want      policySet              // the last configuration's
	acquiring map[string]bool        // traps with an initiation running
	queue     chan dataplane.Acquire // acquires from the data plane
	trapQueue chan string            // dpd_action/close_action = trap from the engine
}

func newPolicyState() *policyState {
	return &policyState{
		installed: newPolicySet(),
		extra:     map[string]bool{},
		want:      newPolicySet(),
		acquiring: map[string]bool{},
		queue:     make(chan dataplane.Acquire, 256),
		trapQueue: make(chan string, 256),
	}
}

// wantPolicies computes the traps and shunts of cfg, with dynamic
// selectors resolved, and refuses what the data plane could not do safely.
// peers are the engine peers by connection name.
func wantPolicies(cfg *config.Config, peers map[string]*ike.PeerConfig) (policySet, error) {
	set := newPolicySet()
	for _, c := range cfg.Connections {
		p := peers[c.Name]
		for _, ch := range c.Children {
			name := c.Name + "/" + ch.Name
			key := "connections." + c.Name + ".children." + ch.Name
			switch {
			case ch.Mode == "pass" || ch.Mode == "drop":
				act := sadb.Bypass
				if ch.Mode == "drop" {
					act = sadb.Discard
				}
				set.shunts[name] = dataplane.Shunt{Name: name, Action: act, LocalTS: ch.LocalSelectors, RemoteTS: ch.RemoteSelectors}
			default:
				what := ""
				switch {
				case ch.StartAction == "trap":
					what = "start_action"
				case ch.DPDAction == "trap":
					what = "dpd_action"
				case ch.CloseAction == "trap":
					what = "close_action"
				}
				spec, err := trapSpecFor(c.Name, ch, p, key, what)
				if err != nil {
					if what != "" {
						return set, err
					}
					set.possibleErr[name] = err
					continue
				}
				set.possible[name] = spec
				switch what {
				case "start_action":
					set.traps[name] = spec
				case "dpd_action", "close_action":
					set.onDemand[name] = spec
				}
			}
		}
	}
	if err := checkShunts(cfg, peers, set); err != nil {
		return set, err
	}
	return set, nil
}

// trapSpecFor resolves the trap of one tunnel child: traps need a peer to
// initiate to and selectors with addresses. what names the key that asks
// for the trap, for the error ("" for swanctl --install).
func trapSpecFor(conn string, ch *config.Child, p *ike.PeerConfig, key, what string) (trapSpec, error) {
	whatKey := key
	if what == "" {
		what = "a trap policy"
	} else {
		whatKey += "." + what
		what += " = trap"
	}
	if p == nil || !p.RemoteHost.IsValid() {
		return trapSpec{}, &config.Error{Pos: ch.Pos, Key: whatKey, Msg: what + " needs a single remote_addrs address to initiate to"}
	}
	local, err := resolveTS(ch.LocalSelectors, singleHost(p.LocalAddrs))
	if err != nil {
		return trapSpec{}, &config.Error{Pos: ch.Pos, Key: key + ".local_ts", Msg: what + " with local_ts = dynamic needs a single local_addrs address"}
	}
	remote, _ := resolveTS(ch.RemoteSelectors, p.RemoteHost)
	if ts.MatchAny(remote, p.RemoteHost.Unmap(), 0, 0) {
		// Its route into the TUN would catch the IKE and ESP packets too
		// (the data plane refuses such routes; policy routing is not done).
		return trapSpec{}, &config.Error{Pos: ch.Pos, Key: key + ".remote_ts",
			Msg: what + " for selectors that cover the peer " + p.RemoteHost.String() + " (host-to-host) is not supported yet", Err: config.ErrUnsupported}
	}
	name := conn + "/" + ch.Name
	return trapSpec{conn: conn, child: ch.Name, trap: dataplane.Trap{
		Name: name, LocalTS: local, RemoteTS: remote, Peer: p.RemoteHost}}, nil
}

// checkShunts refuses shunts whose routes would do harm. A drop shunt is
// routed into the TUN, so it must not cover an IKE peer (the IKE and ESP
// packets themselves would be dropped). A pass shunt is routed around the
// TUN, by destination only, so every tunnel or trap child whose remote
// selectors overlap it must have its local selectors inside the pass
// child's: otherwise traffic that tunnel protects would leave in the clear.
func checkShunts(cfg *config.Config, peers map[string]*ike.PeerConfig, set policySet) error {
	for _, c := range cfg.Connections {
		for _, ch := range c.Children {
			if ch.Mode != "pass" && ch.Mode != "drop" {
				continue
			}
			key := "connections." + c.Name + ".children." + ch.Name + ".remote_ts"
			if ch.Mode == "drop" {
				for _, p := range peers {
					if p.RemoteHost.IsValid() && ts.MatchAny(ch.RemoteSelectors, p.RemoteHost.Unmap(), 0, 0) {
						return &config.Error{Pos: ch.Pos, Key: key, Msg: fmt.Sprintf("mode = drop for the IKE peer %s of connection %s is not supported yet (its routes into the TUN would drop the IKE and ESP packets too)", p.RemoteHost, p.Name), Err: config.ErrUnsupported}
					}
				}
				continue
			}
			for _, o := range cfg.Connections {
				for _, och := range o.Children {
					if och.Mode == "pass" || och.Mode == "drop" {
						continue // tunnel and transport children carry traffic
					}
					if err := passSafe(ch, och, o.Name); err != nil {
						return &config.Error{Pos: ch.Pos, Key: key, Msg: err.Error(), Err: config.ErrUnsupported}
					}
				}
			}
		}
	}
	return nil
}

// passSafe checks one pass child against one tunnel child (see
// checkShunts). A dynamic selector of the tunnel counts as "any address".
func passSafe(pass, tun *config.Child, conn string) error {
	for _, tr := range tun.RemoteSelectors {
		if tr.IsDynamic() {
			tr = ts.FromPrefix(netip.MustParsePrefix("0.0.0.0/0"))
		}
		for _, pr := range pass.RemoteSelectors {
			if _, ok := tr.Intersect(pr); !ok {
				continue
			}
			for _, tl := range tun.LocalSelectors {
				if tl.IsDynamic() {
					tl = ts.FromPrefix(netip.MustParsePrefix("0.0.0.0/0"))
				}
				if !tl.Is4() || !anyContains(pass.LocalSelectors, tl) {
					return fmt.Errorf("mode = pass for %v would also bypass %s/%s (local_ts %v is not inside this child's local_ts): not supported yet, pass works by routing, by destination only", pr, conn, tun.Name, tl)
				}
			}
		}
	}
	return nil
}

func anyContains(list []ts.Selector, s ts.Selector) bool {
	for _, x := range list {
		if x.Contains(s) {
			return true
		}
	}
	return false
}

// singleHost returns the address of a one-address list of host prefixes.
func singleHost(ps []netip.Prefix) netip.Addr {
	if len(ps) == 1 && ps[0].IsSingleIP() {
		return ps[0].Addr()
	}
	return netip.Addr{}
}

// resolveTS replaces dynamic selectors by addr (invalid addr: an error).
func resolveTS(list []ts.Selector, addr netip.Addr) ([]ts.Selector, error) {
	out := make([]ts.Selector, 0, len(list))
	for _, s := range list {
		if s.IsDynamic() {
			if !addr.IsValid() {
				return nil, errors.New("dynamic selector without an address")
			}
			s = s.Resolve(addr)
		}
		out = append(out, s)
	}
	return out, nil
}

// syncPolicies makes the data plane's traps and shunts those of want.
// Failures are logged: the configuration was checked by wantPolicies, so
// what remains are system errors (a route the kernel refuses). d.changeMu
// is held.
func (d *Daemon) syncPolicies(want policySet) error {
	ps := d.pols
	if d.dp == nil || ps == nil {
		return nil // configuration tests without a data plane
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.want = want
	var errs []error
	for name, t := range ps.installed.traps {
		w, ok := want.traps[name]
		if ps.extra[name] {
			// Installed by dpd/close_action = trap or swanctl
			// --install: kept while the child is configured the same.
			w, ok = want.possible[name]
		}
		if !ok || !reflect.DeepEqual(w.trap, t.trap) {
			d.dp.RemoveTrap(name)
			delete(ps.installed.traps, name)
			delete(ps.extra, name)
		}
	}
	for name, s := range ps.installed.shunts {
		if w, ok := want.shunts[name]; !ok || !reflect.DeepEqual(w, s) {
			d.dp.RemoveShunt(name)
			delete(ps.installed.shunts, name)
		}
	}
	for name, s := range want.shunts {
		if _, ok := ps.installed.shunts[name]; ok {
			continue
		}
		if err := d.dp.InstallShunt(s); err != nil {
			errs = append(errs, err)
			continue
		}
		ps.installed.shunts[name] = s
		d.log.Info("shunt policy installed", "child", name, "action", s.Action, "local_ts", s.LocalTS, "remote_ts", s.RemoteTS)
	}
	for name, t := range want.traps {
		if _, ok := ps.installed.traps[name]; ok {
			continue
		}
		if err := d.dp.InstallTrap(t.trap); err != nil {
			errs = append(errs, err)
			continue
		}
		ps.installed.traps[name] = t
		d.log.Info("trap policy installed", "child", name, "local_ts", t.trap.LocalTS, "remote_ts", t.trap.RemoteTS)
	}
	for _, err := range errs {
		d.log.Error("policy not installed", "err", err)
	}
	return errors.Join(errs...)
}

// onTrapAction is the engine's Config.Trap (dpd_action or close_action =
// trap cleared a child): queued, as the engine must not wait for us.
func (d *Daemon) onTrapAction(peer, child string) {
	select {
	case d.pols.trapQueue <- peer + "/" + child:
	default:
		d.log.Warn("trap queue full, trap not installed", "conn", peer, "child", child)
	}
}

// installOnDemand installs the trap of a child whose dpd_action or
// close_action = trap just fired.
func (d *Daemon) installOnDemand(name string) {
	ps := d.pols
	ps.mu.Lock()
	defer ps.mu.Unlock()
	spec, ok := ps.want.onDemand[name]
	if _, done := ps.installed.traps[name]; done || !ok {
		return
	}
	if err := d.dp.InstallTrap(spec.trap); err != nil {
		d.log.Error("trap policy not installed", "child", name, "err", err)
		return
	}
	ps.installed.traps[name] = spec
	ps.extra[name] = true
	d.log.Info("trap policy installed (dpd_action/close_action = trap)", "child", name,
		"local_ts", spec.trap.LocalTS, "remote_ts", spec.trap.RemoteTS)
}

// onAcquire is the data plane's Config.Acquire: it must not block, so a
// full queue drops the acquire (the trap raises another after its retry
// interval while packets keep coming).
func (d *Daemon) onAcquire(a dataplane.Acquire) {
	select {
	case d.pols.queue <- a:
	default:
		d.log.Warn("acquire queue full, acquire dropped", "child", a.Name)
	}
}

// runAcquires starts one initiation per acquired trap at a time, and
// installs the traps dpd_action/close_action = trap ask for, until
// shutdown.
func (d *Daemon) runAcquires() {
	defer d.wg.Done()
	for {
		select {
		case <-d.runCtx.Done():
			return
		case a := <-d.pols.queue:
			d.acquire(a)
		case name := <-d.pols.trapQueue:
			d.installOnDemand(name)
		}
	}
}

func (d *Daemon) acquire(a dataplane.Acquire) {
	name := a.Name
	ps := d.pols
	ps.mu.Lock()
	t, ok := ps.installed.traps[name]
	if !ok || ps.acquiring[name] {
		ps.mu.Unlock()
		return
	}
	ps.acquiring[name] = true
	ps.mu.Unlock()
	d.log.Info("acquire: traffic for a trap policy, initiating", "conn", t.conn, "child", t.child,
		"packet", a.Local.String()+" -> "+a.Remote.String())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		err := d.engine.InitiateFor(d.runCtx, t.conn, t.child, &ike.Trigger{Local: a.Local, Remote: a.Remote})
		ps.mu.Lock()
		delete(ps.acquiring, name)
		ps.mu.Unlock()
		if err != nil {
			d.dp.TrapFailed(name)
			if d.runCtx.Err() == nil {
				d.log.Warn("acquire: initiation failed; held packets dropped, the next packet tries again",
					"conn", t.conn, "child", t.child, "err", err)
			}
		}
	}()
}

// installedPolicies lists the installed traps and shunts (list-pols).
func (d *Daemon) installedPolicies() (traps []trapSpec, shunts []dataplane.Shunt) {
	if d.pols == nil {
		return nil, nil
	}
	d.pols.mu.Lock()
	defer d.pols.mu.Unlock()
	for _, t := range d.pols.installed.traps {
		traps = append(traps, t)
	}
	for _, s := range d.pols.installed.shunts {
		shunts = append(shunts, s)
	}
	return traps, shunts
}
