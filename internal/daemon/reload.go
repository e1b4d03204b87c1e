package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
)

// terminateTimeout bounds how long a configuration change waits for the
// peers of removed or changed connections to acknowledge their DELETEs.
const terminateTimeout = 10 * time.Second

// credsChange says whether a configuration change may change credentials
// and what happens to a pubkey connection that cannot be built with them.
type credsChange int

const (
	credsSame   credsChange = iota // no credential changed
	credsStrict                    // the change fails
	// credsCleared (clear-creds, which swanctl --clear sends before it
	// loads the credentials again): the connection keeps its peer.
	credsCleared
)

// change edits the configuration store and applies the result: f changes
// st; if the effective configuration it leaves cannot be turned into
// engine peers, nothing changes and the error is returned. Unless
// credsChanged is credsSame, pubkey connections get peers with the
// credentials f left (their SAs stay). Changes are serialised.
func (d *Daemon) change(ctx context.Context, credsChanged credsChange, f func(st *store) error) error {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	// f works on a copy, so a failed change leaves no trace.
	trial := d.store.clone()
	if err := f(trial); err != nil {
		return err
	}
	if err := d.apply(ctx, trial.effective(), credsOnce(trial.credentials), credsChanged); err != nil {
		return err
	}
	d.store = trial
	return nil
}

// Reload re-reads the config file and applies it (SIGHUP, `goipsec
// reload`, VICI reload-settings): connections whose configuration did not
// change keep their SAs; removed ones are terminated (the peers are told);
// changed ones are terminated and, like new ones, initiated if a child has
// start_action = start. Connections and secrets loaded over VICI that the
// file does not define stay. On an error nothing changes.
func (d *Daemon) Reload(ctx context.Context) error {
	file, err := config.Load(d.opts.ConfigPath)
	if err != nil {
		return err
	}
	// The credential directories are read again too.
	err = d.change(ctx, credsStrict, func(st *store) error {
		st.setFile(file)
		return nil
	})
	if err != nil {
		return err
	}
	d.log.Info("configuration reloaded", "config", d.opts.ConfigPath, "connections", len(d.cfg.Load().Connections))
	return nil
}

// apply makes cfg the running configuration. Unchanged connections keep
// their *ike.PeerConfig (the engine ties SAs to it) unless credsChanged
// and they use public keys: those get a peer built with the new
// credentials, and their SAs stay (credentials only authenticate new IKE
// SAs, as in charon). The SAs of removed and changed connections are
// deleted; start_action = start children of new and changed connections
// are initiated in the background.
func (d *Daemon) apply(ctx context.Context, cfg *config.Config, creds func() (*credentials, error), credsChanged credsChange) error {
	old := d.cfg.Load()
	pools, err := updatePools(d.pools, cfg.Pools)
	if err != nil {
		return err
	}
	oldConns := byName(old.Connections, func(c *config.Connection) string { return c.Name })
	oldPeers := byName(d.engine.Peers(), func(p *ike.PeerConfig) string { return p.Name })
	var peers []*ike.PeerConfig
	var started []*ike.PeerConfig // new or changed: start_action applies
	keep := map[string]bool{}
	for _, c := range cfg.Connections {
		// Same pointer: untouched since the last change (the common case
		// when one of many connections is loaded); else compare.
		// A connection whose pool changed is changed too: its SAs hold
		// leases of the old pool.
		if o := oldConns[c.Name]; o != nil && (o == c || sameConnection(o, c)) && oldPeers[c.Name] != nil &&
			samePoolsOf(oldPeers[c.Name], c, pools) {
			p := oldPeers[c.Name]
			if credsChanged != credsSame && usesPubKey(c) {
				np, err := d.peerOf(ctx, c, creds, pools)
				switch {
				case err == nil:
					p = np
				case credsChanged == credsStrict:
					return err
				default:
					d.log.Warn("credentials cleared: connection keeps its previous ones until credentials are loaded", "conn", c.Name, "err", err)
				}
			}
			peers = append(peers, p)
			keep[c.Name] = true
			continue
		}
		p, err := d.peerOf(ctx, c, creds, pools)
		if err != nil {
			return err
		}
		peers = append(peers, p)
		started = append(started, p)
	}
	var gone []string
	for _, o := range old.Connections {
		if !keep[o.Name] {
			gone = append(gone, o.Name)
		}
	}
	want, err := wantPolicies(cfg, byName(peers, func(p *ike.PeerConfig) string { return p.Name }))
	if err != nil {
		return err
	}
	d.cfg.Store(cfg)
	pools.logLimited(d.log, d.pools)
	d.pools = pools
	pools.commit()
	d.engine.SetPeers(peers)
	d.index(cfg, peers)
	d.syncPolicies(want) // errors are logged: the configuration itself is valid
	for _, name := range gone {
		d.terminate(ctx, name)
	}
	for _, p := range started {
		d.initiateStart(p)
	}
	return nil
}

// initiateStart initiates the children of p with start_action = start, in
// the background (they may take seconds and retry). d.changeMu is held.
func (d *Daemon) initiateStart(p *ike.PeerConfig) {
	if d.runCtx.Err() != nil {
		return // shutting down
	}
	for _, c := range p.Children {
		if c.StartAction != "start" {
			continue
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.engine.Initiate(d.runCtx, p.Name, c.Name); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Warn("start_action=start failed", "conn", p.Name, "child", c.Name, "err", err)
			}
		}()
	}
}

// index remembers the running connections and their engine peers by name
// (for the load-conn fast path).
func (d *Daemon) index(cfg *config.Config, peers []*ike.PeerConfig) {
	d.effConns = byName(cfg.Connections, func(c *config.Connection) string { return c.Name })
	d.effPeers = byName(peers, func(p *ike.PeerConfig) string { return p.Name })
}

// loadConns is load-conn's path: only the named connections change, so
// only they are compared, converted and, if changed, restarted; loading
// one connection among thousands copies two slices and builds no maps.
// On an error nothing changes.
func (d *Daemon) loadConns(ctx context.Context, conns []*config.Connection) error {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	type update struct {
		conn, old *config.Connection
		peer      *ike.PeerConfig
		changed   bool
	}
	ups := make([]update, 0, len(conns))
	creds := credsOnce(d.store.credentials)
	for _, c := range conns {
		u := update{conn: c, old: d.effConns[c.Name]}
		if u.old != nil && d.effPeers[c.Name] != nil && (u.old == c || sameConnection(u.old, c)) {
			u.peer = d.effPeers[c.Name]
		} else {
			p, err := d.peerOf(ctx, c, creds, d.pools)
			if err != nil {
				return err
			}
			u.peer, u.changed = p, true
		}
		ups = append(ups, u)
	}
	prev := d.cfg.Load()
	cfg := &config.Config{Connections: append([]*config.Connection(nil), prev.Connections...), Secrets: prev.Secrets, Pools: prev.Pools, Dir: prev.Dir}
	peers := append([]*ike.PeerConfig(nil), d.engine.Peers()...)
	// Trap and shunt policies are checked against the result first, so a
	// refused one changes nothing.
	{
		trial := &config.Config{Connections: append([]*config.Connection(nil), cfg.Connections...)}
		tpeers := make(map[string]*ike.PeerConfig, len(d.effPeers)+len(ups))
		for k, v := range d.effPeers {
			tpeers[k] = v
		}
		for _, u := range ups {
			if i := slices.Index(trial.Connections, u.old); u.old != nil && i >= 0 {
				trial.Connections[i] = u.conn
			} else {
				trial.Connections = append(trial.Connections, u.conn)
			}
			tpeers[u.conn.Name] = u.peer
		}
		if _, err := wantPolicies(trial, tpeers); err != nil {
			return err
		}
	}
	for _, u := range ups {
		d.store.loadConn(u.conn)
		// The running configuration is updated in place of the store's
		// full merge (same entries; a connection new to it goes last).
		if i := slices.Index(cfg.Connections, u.old); u.old != nil && i >= 0 {
			cfg.Connections[i] = u.conn
		} else {
			cfg.Connections = append(cfg.Connections, u.conn)
		}
		replaced := false
		if old := d.effPeers[u.conn.Name]; old != nil {
			for i, p := range peers {
				if p == old {
					peers[i], replaced = u.peer, true
					break
				}
			}
		}
		if !replaced {
			peers = append(peers, u.peer)
		}
		d.effConns[u.conn.Name], d.effPeers[u.conn.Name] = u.conn, u.peer
	}
	d.cfg.Store(cfg)
	d.engine.SetPeers(peers)
	d.resyncPolicies()
	for _, u := range ups {
		if !u.changed {
			continue
		}
		if u.old != nil {
			d.terminate(ctx, u.conn.Name)
		}
		d.initiateStart(u.peer)
	}
	return nil
}

// peerOf converts a connection with its credentials and pools, errors
// naming the key.
func (d *Daemon) peerOf(ctx context.Context, c *config.Connection, creds func() (*credentials, error), pools poolSet) (*ike.PeerConfig, error) {
	p, key, err := peerWithAuth(ctx, c, creds)
	if err == nil {
		if err = setVIPs(p, c, pools); err != nil {
			key = "pools"
		}
	}
	if err != nil {
		if key == "" {
			return nil, err // names the connection's key itself
		}
		return nil, fmt.Errorf("connections.%s.%s: %w", c.Name, key, err)
	}
	return p, nil
}

// changeCreds edits the VICI credential layer and rebuilds the peers of
// pubkey connections with the result; no SA is touched. If a pubkey
// connection cannot be built with the new credentials (unload-key of the
// key it signs with), nothing changes and the error says why.
func (d *Daemon) changeCreds(ctx context.Context, f func(v *viciCreds) error) error {
	return d.change(ctx, credsStrict, func(st *store) error { return f(&st.creds) })
}

// changeSecrets edits the shared keys: f validates before it changes
// anything (it returns the error otherwise). Established SAs are not
// touched: a key is only used to authenticate new IKE SAs.
func (d *Daemon) changeSecrets(f func(st *store) error) error {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	if err := f(d.store); err != nil {
		return err
	}
	d.cfg.Store(d.store.effective())
	return nil
}

// terminate deletes a connection's IKE SAs (the peers are told), waiting
// at most terminateTimeout.
func (d *Daemon) terminate(ctx context.Context, name string) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), terminateTimeout)
	defer cancel()
	if n, err := d.engine.Terminate(tctx, name); n > 0 {
		d.log.Info("configuration changed: IKE SAs deleted", "conn", name, "ike_sas", n, "err", err)
	}
}

// unloadConn is unload-conn's path: the connection leaves the running
// configuration and the engine, and its SAs are deleted (the peers are
// told). Like loadConns it patches the lists instead of rebuilding them.
func (d *Daemon) unloadConn(ctx context.Context, name string) error {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	if !d.store.unloadConn(name) {
		return fmt.Errorf("connection '%s' not found", name)
	}
	prev := d.cfg.Load()
	cfg := &config.Config{Connections: without(prev.Connections, d.effConns[name]), Secrets: prev.Secrets, Pools: prev.Pools, Dir: prev.Dir}
	peers := without(d.engine.Peers(), d.effPeers[name])
	delete(d.effConns, name)
	delete(d.effPeers, name)
	d.cfg.Store(cfg)
	d.engine.SetPeers(peers)
	d.resyncPolicies()
	d.terminate(ctx, name)
	return nil
}

// resyncPolicies installs the traps and shunts of the running
// configuration (checked before it was stored). d.changeMu is held.
func (d *Daemon) resyncPolicies() {
	want, err := wantPolicies(d.cfg.Load(), d.effPeers)
	if err != nil {
		d.log.Error("trap and shunt policies", "err", err)
		return
	}
	d.syncPolicies(want)
}

// without returns a copy of list without x (compared as pointers, which
// is cheaper than names when there are thousands).
func without[T comparable](list []T, x T) []T {
	out := make([]T, 0, len(list))
	if i := slices.Index(list, x); i >= 0 {
		return append(append(out, list[:i]...), list[i+1:]...)
	}
	return append(out, list...)
}
