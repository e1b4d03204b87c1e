package daemon

import (
	"context"

	"github.com/goipsec/goipsec/internal/vici"
)

// VICI install and uninstall (swanctl --install / --uninstall): a trap
// policy for a tunnel child, or its shunt for a pass or drop child,
// installed or removed by hand. A trap installed this way stays while the
// child is configured the same; an uninstalled start_action = trap trap or
// shunt comes back with the next configuration change, as in charon.

// policyName finds "conn/child" for a request's child and optional ike.
func (d *Daemon) policyName(req *vici.Message) (string, bool) {
	child, conn := req.GetString("child"), req.GetString("ike")
	if child == "" {
		return "", false
	}
	for _, c := range d.cfg.Load().Connections {
		if conn != "" && c.Name != conn {
			continue
		}
		for _, ch := range c.Children {
			if ch.Name == child {
				return c.Name + "/" + ch.Name, true
			}
		}
	}
	return "", false
}

// viciInstall: request {child, ike}; response {success, errmsg}.
func (d *Daemon) viciInstall(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	name, ok := d.policyName(req)
	if !ok || d.dp == nil {
		return failure("configuration name not found"), nil
	}
	ps := d.pols
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.want.shunts[name]; ok {
		if _, done := ps.installed.shunts[name]; !done {
			if err := d.dp.InstallShunt(s); err != nil {
				return failure("installing %s failed: %v", name, err), nil
			}
			ps.installed.shunts[name] = s
		}
		return msg("success", "yes"), nil
	}
	if _, done := ps.installed.traps[name]; done {
		return msg("success", "yes"), nil
	}
	spec, ok := ps.want.possible[name]
	if !ok {
		if err := ps.want.possibleErr[name]; err != nil {
			return failure("installing %s failed: %v", name, err), nil
		}
		return failure("configuration name not found"), nil
	}
	if err := d.dp.InstallTrap(spec.trap); err != nil {
		return failure("installing %s failed: %v", name, err), nil
	}
	ps.installed.traps[name] = spec
	ps.extra[name] = true
	d.log.Info("trap policy installed (VICI install)", "child", name)
	return msg("success", "yes"), nil
}

// viciUninstall: request {child, ike}; response {success, errmsg}.
func (d *Daemon) viciUninstall(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	name, ok := d.policyName(req)
	if !ok || d.dp == nil {
		return failure("policy '%s' not found", req.GetString("child")), nil
	}
	ps := d.pols
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.installed.traps[name]; ok {
		d.dp.RemoveTrap(name)
		delete(ps.installed.traps, name)
		delete(ps.extra, name)
		d.log.Info("trap policy uninstalled", "child", name)
		return msg("success", "yes"), nil
	}
	if _, ok := ps.installed.shunts[name]; ok {
		d.dp.RemoveShunt(name)
		delete(ps.installed.shunts, name)
		d.log.Info("shunt policy uninstalled", "child", name)
		return msg("success", "yes"), nil
	}
	return failure("policy '%s' not found", req.GetString("child")), nil
}
