package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
)

// poolSet is the daemon's virtual IP pools (RFC 7296 2.19; swanctl.conf
// pools) by name: one *ike.AddressPool per configured pool, shared by
// every connection that names it, so that a peer gets one lease however
// many connections it may match.
type poolSet map[string]*daemonPool

type daemonPool struct {
	cfg  *config.Pool
	pool *ike.AddressPool
}

// updatePools builds the pools of a configuration. A pool whose
// addresses did not change keeps its *ike.AddressPool, and with it its
// leases (online and offline), across a reload, as strongSwan's do:
// peers come back to the address they had, and leases in use are not
// handed out twice. Its new attributes take effect with commit.
func updatePools(old poolSet, pools []*config.Pool) (poolSet, error) {
	out := make(poolSet, len(pools))
	for _, c := range pools {
		if o := old[c.Name]; o != nil && sameRange(o.cfg, c) {
			out[c.Name] = &daemonPool{cfg: c, pool: o.pool}
			continue
		}
		p, err := ike.NewAddressPool(c.Name, c.First, c.Last)
		if err != nil {
			return nil, fmt.Errorf("%v: pools.%s.addrs: %w", c.Pos, c.Name, err)
		}
		p.DNS = slices.Clone(c.DNS)
		out[c.Name] = &daemonPool{cfg: c, pool: p}
	}
	return out, nil
}

// sameRange reports whether two definitions of a pool hand out the same
// addresses.
func sameRange(a, b *config.Pool) bool {
	return a.Name == b.Name && a.First == b.First && a.Last == b.Last
}

// logLimited warns about the new pools (not in old) whose subnet is
// larger than charon's pools go, as charon does ("virtual IP pool too
// large, limiting to ..."): an IPv6 /64 leases from its first 2^31
// addresses only.
func (ps poolSet) logLimited(log *slog.Logger, old poolSet) {
	for name, p := range ps {
		if o := old[name]; p.cfg.Limited && (o == nil || o.pool != p.pool) {
			log.Warn("virtual IP pool too large, limiting to its first 2^31 addresses (as charon)",
				"pool", name, "addrs", p.cfg.Addrs, "first", p.cfg.First, "last", p.cfg.Last)
		}
	}
}

// commit gives kept pools their new attributes, once the configuration
// change that made ps cannot fail any more.
func (ps poolSet) commit() {
	for _, p := range ps {
		p.pool.SetDNS(p.cfg.DNS)
	}
}

// enginePools resolves a connection's pool names. A name that is not
// configured is an error: the config checks pools of its own file, but a
// connection loaded over VICI may outlive the pool in a reload.
func (ps poolSet) enginePools(names []string) ([]*ike.AddressPool, error) {
	var out []*ike.AddressPool
	for _, n := range names {
		p := ps[n]
		if p == nil {
			return nil, fmt.Errorf("unknown pool %q (no pools.%s section)", n, n)
		}
		out = append(out, p.pool)
	}
	return out, nil
}

// setVIPs gives a peer the connection's virtual IP settings: the
// addresses to request as initiator and the pools to lease from as
// responder.
func setVIPs(p *ike.PeerConfig, c *config.Connection, pools poolSet) error {
	var err error
	if p.Pools, err = pools.enginePools(c.Pools); err != nil {
		return err
	}
	p.VIPs = slices.Clone(c.VIPs)
	return nil
}

// samePoolsOf reports whether a running peer leases from the pools the
// connection's names resolve to now (a changed pool is a new object).
func samePoolsOf(p *ike.PeerConfig, c *config.Connection, pools poolSet) bool {
	now, err := pools.enginePools(c.Pools)
	return err == nil && slices.Equal(p.Pools, now)
}

// poolStats is a pool's leases and the base address charon reports for
// it: a subnet pool's given address (its network address, typically,
// which is not handed out), else the first address.
type poolStats struct {
	ike.PoolStats
	base netip.Addr
}

// stats lists the pools' leases by name, for get-pools.
func (ps poolSet) stats() []poolStats {
	out := make([]poolStats, 0, len(ps))
	for _, p := range ps {
		s := poolStats{PoolStats: p.pool.Stats(), base: p.cfg.First}
		if pr, err := netip.ParsePrefix(p.cfg.Addrs); err == nil {
			s.base = pr.Addr().Unmap()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b poolStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// vipStrings formats addresses for VICI lists.
func vipStrings(list []netip.Addr) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	return out
}

// PoolReport is a pool a connection leases virtual IPs from (goipsec
// check).
type PoolReport struct {
	Name  string   `json:"name"`
	Addrs string   `json:"addrs"`
	First string   `json:"first"`
	Last  string   `json:"last"`
	DNS   []string `json:"dns,omitempty"`
	// Limited: the subnet has more than 2^31 addresses (an IPv6 /64)
	// and only its first 2^31 are leased, as in charon.
	Limited bool `json:"limited,omitempty"`
}

func vipReport(c *config.Connection, cfg *config.Config) ([]string, []PoolReport) {
	var pools []PoolReport
	for _, n := range c.Pools {
		if p := cfg.Pool(n); p != nil {
			pools = append(pools, PoolReport{Name: p.Name, Addrs: p.Addrs, First: p.First.String(), Last: p.Last.String(), DNS: vipStrings(p.DNS), Limited: p.Limited})
		}
	}
	return vipStrings(c.VIPs), pools
}

func writeVIPs(w io.Writer, r ConnReport) {
	if len(r.VIPs) > 0 {
		fmt.Fprintf(w, "  virtual IP: asks for %s in IKE_AUTH (CFG_REQUEST, RFC 7296 2.19); local_ts dynamic stands for the assigned address\n", strings.Join(r.VIPs, ","))
	}
	for _, p := range r.Pools {
		dns := ""
		if len(p.DNS) > 0 {
			dns = ", dns " + strings.Join(p.DNS, ",")
		}
		limited := ""
		if p.Limited {
			limited = " (a subnet of more than 2^31 addresses: its first 2^31 only, as charon limits it)"
		}
		fmt.Fprintf(w, "  virtual IPs: leases %s-%s from pool %s (addrs %s)%s%s to peers that ask; remote_ts dynamic stands for the lease\n", p.First, p.Last, p.Name, p.Addrs, limited, dns)
	}
}
