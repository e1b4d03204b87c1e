package daemon

import (
	"context"
	"fmt"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/vici"
)

// registerVICIConfig installs the commands swanctl --load-all and its
// siblings send (strongSwan vici README, "load-conn" through "get-pools"):
// connections and pre-shared keys are loaded into the daemon's store and
// applied like a reload; certificates, private keys and authorities
// layer over the swanctl credential directories beside the config file
// (vicicreds.go); pools layer over the file's like connections
// (vicipools.go).
func (d *Daemon) registerVICIConfig() {
	d.vici.Handle("load-conn", d.viciLoadConn)
	d.vici.Handle("unload-conn", d.viciUnloadConn)
	d.vici.Handle("get-conns", d.viciGetConns)
	d.vici.Handle("load-shared", d.viciLoadShared)
	d.vici.Handle("unload-shared", d.viciUnloadShared)
	d.vici.Handle("get-shared", d.viciGetShared)
	d.vici.Handle("clear-creds", d.viciClearCreds)
	d.vici.Handle("reload-settings", d.viciReloadSettings)

	d.vici.Handle("load-cert", d.viciLoadCert)
	d.vici.Handle("load-key", d.viciLoadKey)
	d.vici.Handle("unload-key", d.viciUnloadKey)
	d.vici.Handle("get-keys", d.viciGetKeys)
	d.vici.Handle("list-certs", d.viciListCerts)
	d.vici.Handle("load-authority", d.viciLoadAuthority)
	d.vici.Handle("unload-authority", d.viciUnloadAuthority)
	d.vici.Handle("get-authorities", d.viciGetAuthorities)
	d.vici.Handle("list-authorities", d.viciListAuthorities)
	d.vici.Handle("load-token", refuse("smartcard (PKCS #11) keys are not supported yet"))
	d.vici.Handle("load-pool", d.viciLoadPool)
	d.vici.Handle("unload-pool", d.viciUnloadPool)
	d.vici.Handle("get-pools", d.viciGetPools)
	// Commands of features goipsec does not have yet: a reason, not
	// CMD_UNKNOWN, so swanctl prints why.
	d.vici.Handle("install", d.viciInstall)
	d.vici.Handle("uninstall", d.viciUninstall)
	d.vici.Handle("redirect", refuse("IKE redirect (RFC 5685) is not supported yet"))
	d.vici.Handle("get-counters", refuse("IKE event counters are not supported yet; stats reports goipsec's drop counters"))
	d.vici.Handle("reset-counters", refuse("IKE event counters are not supported yet"))
	d.vici.Handle("get-algorithms", d.viciGetAlgorithms)
	d.vici.Handle("flush-certs", func(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
		return msg("success", "yes"), nil // there is no certificate cache to flush
	})
}

// refuse answers a command goipsec cannot carry out with the reason.
func refuse(reason string) vici.Handler {
	return func(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
		return failure("%s", reason), nil
	}
}

// viciLoadConn: request {<name> = {swanctl.conf connection keys}};
// response {success, errmsg}. The connection is validated exactly like
// one in the config file, replaces a loaded one of the same name (its SAs
// are deleted if its configuration changed) and, with start_action =
// start, is initiated.
func (d *Daemon) viciLoadConn(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	conns, err := connectionsFromVICI(req, func(n string) bool { return d.cfg.Load().Pool(n) != nil })
	if err != nil {
		return failure("%v", err), nil
	}
	if err := d.loadConns(ctx, conns); err != nil {
		return failure("%v", err), nil
	}
	for _, c := range conns {
		d.log.Info("connection loaded over VICI", "conn", c.Name)
	}
	return msg("success", "yes"), nil
}

// viciUnloadConn: request {name}; response {success, errmsg}. The
// connection's SAs are deleted (the peers are told): without its
// configuration nothing could rekey or check them.
func (d *Daemon) viciUnloadConn(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	name := req.GetString("name")
	if name == "" {
		return failure("unload-conn: missing name"), nil
	}
	if err := d.unloadConn(ctx, name); err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("connection unloaded over VICI", "conn", name)
	return msg("success", "yes"), nil
}

// viciGetConns: response {conns = [names]}.
func (d *Daemon) viciGetConns(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	names := []string{}
	for _, c := range d.cfg.Load().Connections {
		names = append(names, c.Name)
	}
	return msg("conns", names), nil
}

// viciLoadShared: request {id, type, data, owners = [identities]};
// response {success, errmsg}.
func (d *Daemon) viciLoadShared(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	var sec *config.Secret
	err := d.changeSecrets(func(st *store) error {
		var err error
		if sec, err = st.secretFromVICI(req); err != nil {
			return err
		}
		st.loadSecret(sec)
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("shared key loaded over VICI", "id", sec.Name, "owners", sec.IDs)
	return msg("success", "yes"), nil
}

// viciUnloadShared: request {id}; response {success, errmsg}.
func (d *Daemon) viciUnloadShared(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	id := req.GetString("id")
	err := d.changeSecrets(func(st *store) error {
		if !st.unloadSecret(id) {
			return fmt.Errorf("shared key '%s' not found", id)
		}
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	return msg("success", "yes"), nil
}

// viciGetShared: response {keys = [ids]} (the secrets' section names).
func (d *Daemon) viciGetShared(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	ids := []string{}
	for _, s := range d.cfg.Load().Secrets {
		ids = append(ids, s.Name)
	}
	return msg("keys", ids), nil
}

// viciClearCreds drops the shared keys, certificates and private keys
// loaded over VICI (README "clear-creds": only credentials loaded over
// vici). A pubkey connection that cannot do without them keeps its
// previous credentials (swanctl --clear loads them again right after).
func (d *Daemon) viciClearCreds(ctx context.Context, _ *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	err := d.change(ctx, credsCleared, func(st *store) error {
		st.clearVICICreds()
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	return msg("success", "yes"), nil
}

// viciReloadSettings re-reads the config file (goipsec's settings are its
// swanctl.conf) and applies it like SIGHUP.
func (d *Daemon) viciReloadSettings(ctx context.Context, _ *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	if err := d.Reload(ctx); err != nil {
		return failure("reload failed: %v", err), nil
	}
	return msg("success", "yes"), nil
}
