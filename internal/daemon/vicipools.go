package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/vici"
)

// The VICI pool commands of strongSwan's vici plugin (README.md
// "load-pool", "unload-pool", "get-pools"; vici_attribute.c), which
// swanctl --load-pools and --list-pools send. Pools loaded over VICI
// layer over the config file's like connections do (store.go), and go
// through the same validation.

// poolsFromVICI turns a load-pool request ({<name> = {addrs = <subnet,
// range or address>, <attribute> = [values]}}) into pools: the message
// becomes the tree pools { <name> { ... } } for config.FromTree.
func poolsFromVICI(req *vici.Message) ([]*config.Pool, error) {
	if req.Len() == 0 {
		return nil, fmt.Errorf("load-pool: no pool in the request")
	}
	pools := &config.Section{Name: "pools"}
	for _, name := range req.Keys() {
		sub := req.GetSection(name)
		if sub == nil {
			return nil, fmt.Errorf("pools.%s: a pool must be a section", name)
		}
		pools.Sections = append(pools.Sections, treeFromVICI(name, sub))
	}
	cfg, err := config.FromTree(&config.Section{Sections: []*config.Section{pools}})
	if err != nil {
		return nil, err
	}
	return cfg.Pools, nil
}

// viciLoadPool: request {<name> = {addrs, dns = [...]}}; response
// {success, errmsg}. A pool loaded again with the same addresses keeps
// its leases and takes the new attributes; with other addresses it
// replaces the old one only while no lease of it is online (charon:
// "vici pool %s has online leases, unable to replace").
func (d *Daemon) viciLoadPool(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	pools, err := poolsFromVICI(req)
	if err != nil {
		return failure("%v", err), nil
	}
	err = d.change(ctx, credsSame, func(st *store) error {
		for _, p := range pools {
			if old := d.pools[p.Name]; old != nil && !sameRange(old.cfg, p) && old.pool.Stats().Online > 0 {
				return fmt.Errorf("vici pool %s has online leases, unable to replace", p.Name)
			}
			st.loadPool(p)
		}
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	for _, p := range pools {
		d.log.Info("pool loaded over VICI", "pool", p.Name, "addrs", p.Addrs)
	}
	return msg("success", "yes"), nil
}

// viciUnloadPool: request {name}; response {success, errmsg}. A pool with
// online leases stays (as in charon); so does one a connection names
// (the change fails with that connection's error).
func (d *Daemon) viciUnloadPool(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	name := req.GetString("name")
	if name == "" {
		return failure("missing pool name to unload"), nil
	}
	err := d.change(ctx, credsSame, func(st *store) error {
		if p := d.pools[name]; p != nil && p.pool.Stats().Online > 0 {
			return fmt.Errorf("%s has online leases, unable to unload", name)
		}
		if !st.unloadPool(name) {
			return fmt.Errorf("%s not found", name)
		}
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("pool unloaded over VICI", "pool", name)
	return msg("success", "yes"), nil
}

// viciGetPools: request {leases = yes|no, name = optional filter};
// response {<name> = {base, size, online, offline, leases = {<n> =
// {address, identity, status}}}}, as charon reports them: base is a
// subnet pool's given address (10.3.0.0 for 10.3.0.0/24, which is not
// handed out) or a range's first address; size counts the addresses
// handed out.
func (d *Daemon) viciGetPools(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	withLeases := req != nil && req.GetString("leases") == "yes"
	filter := ""
	if req != nil {
		filter = req.GetString("name")
	}
	d.changeMu.Lock()
	stats := d.pools.stats()
	d.changeMu.Unlock()
	out := vici.NewMessage()
	for _, s := range stats {
		if filter != "" && s.Name != filter {
			continue
		}
		m := msg("base", s.base.String(), "size", strconv.FormatUint(s.Size, 10),
			"online", strconv.Itoa(s.Online), "offline", strconv.Itoa(s.Offline))
		if withLeases {
			leases := vici.NewMessage()
			i := 0
			for _, l := range sortedLeases(s.OnlineLeases, s.OfflineLeases) {
				_ = leases.Set(strconv.Itoa(i), msg("address", l.addr.String(), "identity", l.id, "status", l.status))
				i++
			}
			_ = m.Set("leases", leases)
		}
		_ = out.Set(s.Name, m)
	}
	return out, nil
}

type leaseInfo struct {
	addr       netip.Addr
	id, status string
}

func sortedLeases(online, offline map[netip.Addr]string) []leaseInfo {
	var out []leaseInfo
	for a, id := range online {
		out = append(out, leaseInfo{a, id, "online"})
	}
	for a, id := range offline {
		out = append(out, leaseInfo{a, id, "offline"})
	}
	slices.SortFunc(out, func(x, y leaseInfo) int { return x.addr.Compare(y.addr) })
	return out
}
