package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
)

// terminateTimeout bounds how long a configuration change waits for the
// peers of removed or changed connections to acknowledge their DELETEs.
const terminateTimeout = 10 * time.Second

// change edits the configuration store and applies the result: f changes
// st; if the effective configuration it leaves cannot be turned into
// engine peers, nothing changes and the error is returned. Changes are
// serialised.
func (d *Daemon) change(ctx context.Context, f func(st *store) error) error {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	// f works on a copy, so a failed change leaves no trace.
	trial := d.store.clone()
	if err := f(trial); err != nil {
		return err
	}
	if err := d.apply(ctx, trial.effective()); err != nil {
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
	err = d.change(ctx, func(st *store) error {
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
// their *ike.PeerConfig (the engine ties SAs to it); the SAs of removed
// and changed connections are deleted; start_action = start children of
// new and changed connections are initiated in the background.
func (d *Daemon) apply(ctx context.Context, cfg *config.Config) error {
	old := d.cfg.Load()
	oldConns := byName(old.Connections, func(c *config.Connection) string { return c.Name })
	oldPeers := byName(d.engine.Peers(), func(p *ike.PeerConfig) string { return p.Name })
	var peers []*ike.PeerConfig
	var started []*ike.PeerConfig // new or changed: start_action applies
	keep := map[string]bool{}
	for _, c := range cfg.Connections {
		// Same pointer: untouched since the last change (the common case
		// when one of many connections is loaded); else compare.
		if o := oldConns[c.Name]; o != nil && (o == c || sameConnection(o, c)) && oldPeers[c.Name] != nil {
			peers = append(peers, oldPeers[c.Name])
			keep[c.Name] = true
			continue
		}
		p, key, err := peerFromConnection(ctx, c)
		if err != nil {
			return fmt.Errorf("connections.%s.%s: %w", c.Name, key, err)
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
	d.cfg.Store(cfg)
	d.engine.SetPeers(peers)
	if len(gone) > 0 {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), terminateTimeout)
		defer cancel()
		for _, name := range gone {
			n, err := d.engine.Terminate(tctx, name)
			if n > 0 {
				d.log.Info("configuration changed: IKE SAs deleted", "conn", name, "ike_sas", n, "err", err)
			}
		}
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

// clone copies the store's layers (the entries themselves are immutable).
func (s *store) clone() *store {
	cp := *s
	cp.conns = append([]*config.Connection(nil), s.conns...)
	cp.secrets = append([]*config.Secret(nil), s.secrets...)
	cp.hiddenConns = make(map[string]bool, len(s.hiddenConns))
	for k, v := range s.hiddenConns {
		cp.hiddenConns[k] = v
	}
	cp.hiddenSecrets = make(map[string]bool, len(s.hiddenSecrets))
	for k, v := range s.hiddenSecrets {
		cp.hiddenSecrets[k] = v
	}
	return &cp
}
