package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/dataplane"
	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
)

// peersFromConfig turns the validated configuration into the engine's
// peer configs, resolving DNS names in local_addrs / remote_addrs; creds
// gives the credentials of pubkey connections.
func peersFromConfig(ctx context.Context, cfg *config.Config, creds func() (*credentials, error)) ([]*ike.PeerConfig, error) {
	peers, _, err := peersAndPools(ctx, cfg, creds, nil)
	return peers, err
}

// peersAndPools is peersFromConfig that also builds the address pools,
// keeping those of old whose definition did not change.
func peersAndPools(ctx context.Context, cfg *config.Config, creds func() (*credentials, error), old poolSet) ([]*ike.PeerConfig, poolSet, error) {
	pools, err := updatePools(old, cfg.Pools)
	if err != nil {
		return nil, nil, err
	}
	var out []*ike.PeerConfig
	for _, c := range cfg.Connections {
		p, key, err := peerWithAuth(ctx, c, creds)
		if err == nil {
			if err = setVIPs(p, c, pools); err != nil {
				key = "pools"
			}
		}
		if err != nil {
			if key == "" {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%v: connections.%s.%s: %w", c.Pos, c.Name, key, err)
		}
		out = append(out, p)
	}
	return out, pools, nil
}

// usesPubKey reports whether a connection authenticates a side with
// certificates or raw public keys.
func usesPubKey(c *config.Connection) bool {
	return c.Local.Auth == "pubkey" || c.Remote.Auth == "pubkey"
}

// peerWithAuth converts one connection with its credentials; an error
// about a key of the connection names it, one about credentials (key "")
// names its file and line itself.
func peerWithAuth(ctx context.Context, c *config.Connection, creds func() (*credentials, error)) (*ike.PeerConfig, string, error) {
	p, key, err := peerFromConnection(ctx, c)
	if err != nil || !usesPubKey(c) {
		return p, key, err
	}
	cr, err := creds()
	if err != nil {
		return nil, "", err
	}
	if err := cr.authFromConfig(c, p); err != nil {
		return nil, "", err
	}
	return p, "", nil
}

// credsOnce loads credentials on first use and remembers them (or the
// error): only configurations with pubkey connections read the swanctl
// directories.
func credsOnce(load func() (*credentials, error)) func() (*credentials, error) {
	var c *credentials
	var err error
	done := false
	return func() (*credentials, error) {
		if !done {
			c, err = load()
			done = true
		}
		return c, err
	}
}

// peerFromConnection converts one connection; on error it names the key.
func peerFromConnection(ctx context.Context, c *config.Connection) (*ike.PeerConfig, string, error) {
	p := &ike.PeerConfig{
		Name:       c.Name,
		LocalPort:  uint16(c.LocalPort),
		RemotePort: uint16(c.RemotePort),
		Proposals:  c.Proposals,
		IKELife: ike.IKELifetimes{
			RekeyTime: c.Life.RekeyTime, ReauthTime: c.Life.ReauthTime, OverTime: c.Life.OverTime, RandTime: c.Life.RandTime,
		},
		DPDDelay:    c.DPDDelay,
		KeyingTries: c.KeyingTries,
		Unique:      c.Unique,
		Childless:   c.Childless,
	}
	if c.KeyingTries == 0 {
		p.KeyingTries = -1 // swanctl: 0 tries forever
	}
	var err error
	if p.Fragmentation, err = ike.ParseFragmentationMode(c.Fragmentation); err != nil {
		return nil, "fragmentation", err
	}
	if p.LocalAddrs, _, err = addrPrefixes(ctx, c.LocalAddrs); err != nil {
		return nil, "local_addrs", err
	}
	var hosts []netip.Addr
	if p.RemoteAddrs, hosts, err = addrPrefixes(ctx, c.RemoteAddrs); err != nil {
		return nil, "remote_addrs", err
	}
	if len(hosts) > 0 {
		p.RemoteHost = hosts[0]
	}
	if p.LocalID, err = identity(c.Local.ID); err != nil {
		return nil, "local.id", err
	}
	if p.RemoteID, err = identity(c.Remote.ID); err != nil {
		return nil, "remote.id", err
	}
	for _, ch := range c.Children {
		if ch.Mode == "pass" || ch.Mode == "drop" {
			continue // shunt policies (trap.go): nothing to negotiate, never offered or accepted
		}
		p.Children = append(p.Children, &ike.ChildConfig{
			Name:         ch.Name,
			LocalTS:      ch.LocalSelectors,
			RemoteTS:     ch.RemoteSelectors,
			ESPProposals: ch.ESPProposals,
			StartAction:  ch.StartAction,
			Mode:         modeOf(ch.Mode),
			Life: ike.ChildLifetimes{
				RekeyTime: ch.Life.RekeyTime, LifeTime: ch.Life.LifeTime, RandTime: ch.Life.RandTime,
				RekeyBytes: ch.Life.RekeyBytes, LifeBytes: ch.Life.LifeBytes, RandBytes: ch.Life.RandBytes,
				RekeyPackets: ch.Life.RekeyPackets, LifePackets: ch.Life.LifePackets, RandPackets: ch.Life.RandPackets,
			},
			DPDAction:    actionOf(ch.DPDAction),
			CloseAction:  actionOf(ch.CloseAction),
			ReplayWindow: replayWindowOf(ch.ReplayWindow),
			TFCPadding:   tfcPaddingOf(ch.TFCPadding),
		})
	}
	return p, "", nil
}

// replayWindowOf maps replay_window (0: off) to the engine's setting.
func replayWindowOf(n int) int {
	if n == 0 {
		return esp.ReplayDisabled
	}
	return n
}

// tfcPaddingOf maps tfc_padding to octets: mtu is the TUN's MTU, the
// largest inner packet the data plane reads.
func tfcPaddingOf(n int) int {
	if n == config.TFCPaddingMTU {
		return dataplane.DefaultMTU
	}
	return n
}

// actionOf maps swanctl's dpd_action/close_action words to the engine's.
func actionOf(s string) string {
	switch s {
	case "restart", "start":
		return ike.ActionRestart
	case "clear":
		return ike.ActionClear
	case "trap":
		return ike.ActionTrap
	}
	return ike.ActionNone
}

// addrPrefixes converts swanctl address specs (IPs, CIDR, ranges, %any,
// DNS names) to prefixes, and reports the single host addresses in order
// (the ones an initiator can send to).
func addrPrefixes(ctx context.Context, specs []string) ([]netip.Prefix, []netip.Addr, error) {
	var prefixes []netip.Prefix
	var hosts []netip.Addr
	for _, s := range specs {
		switch {
		case strings.HasPrefix(s, "%any"):
			return nil, hosts, nil // any address matches; nothing to restrict
		case strings.Contains(s, "/"):
			pr, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, nil, err
			}
			prefixes = append(prefixes, pr.Masked())
		case isRange(s):
			lo, hi, _ := strings.Cut(s, "-")
			a, b := netip.MustParseAddr(strings.TrimSpace(lo)), netip.MustParseAddr(strings.TrimSpace(hi))
			prefixes = append(prefixes, ts.FromRange(a, b).Prefixes()...)
		default:
			a, err := netip.ParseAddr(s)
			if err != nil {
				a, err = resolve(ctx, s)
				if err != nil {
					return nil, nil, err
				}
			}
			a = a.Unmap()
			hosts = append(hosts, a)
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return prefixes, hosts, nil
}

// isRange reports whether s is an address range "a-b" (DNS names may
// contain dashes too).
func isRange(s string) bool {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && a.Is4() == b.Is4() && !b.Less(a)
}

// lookupNetIP resolves DNS names in the config (a variable for tests).
var lookupNetIP = net.DefaultResolver.LookupNetIP

func resolve(ctx context.Context, name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := lookupNetIP(ctx, "ip", name)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q: %v", name, err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil // IPv4 first for names with both, as before IPv6 outer support
		}
	}
	return addrs[0], nil
}

func identity(s string) (ike.Identity, error) {
	if s == "" {
		return ike.Identity{}, nil
	}
	id, err := config.ParseIdentity(s)
	if err != nil {
		return ike.Identity{}, err
	}
	if id.IsAny() {
		return ike.Identity{}, nil
	}
	return ike.Identity{Type: id.Type, Data: id.Data}, nil
}

// sharedKey adapts the config's PSK lookup to engine identities.
func sharedKey(cfg func() *config.Config) func(local, remote ike.Identity) ([]byte, bool) {
	return func(local, remote ike.Identity) ([]byte, bool) {
		return cfg().SharedKey(local.String(), remote.String())
	}
}

// modeOf maps swanctl's children.<child>.mode (validated by config) to the
// mode the engine asks for.
func modeOf(s string) sadb.Mode {
	if s == "transport" {
		return sadb.ModeTransport
	}
	return sadb.ModeTunnel
}
