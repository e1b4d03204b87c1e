package daemon

import (
	"github.com/goipsec/goipsec/internal/metrics"
)

// metricsSnapshot reads the live state for one Prometheus scrape: the
// engine's SAs (with the data plane's per-SA counters), the configured
// children, and the drop and rekey counters. Nothing is counted per packet
// for it.
func (d *Daemon) metricsSnapshot() metrics.Snapshot {
	s := metrics.Snapshot{
		DataplaneDrops: map[string]uint64{},
		IKEDrops:       d.engine.Stats.Snapshot(),
	}
	s.IKERekeys, s.ChildRekeys = d.engine.Stats.Rekeys()
	for reason, n := range d.dp.Counters().Map() {
		switch reason {
		case "auth":
			reason = "integrity" // ICV check failed, RFC 4303 3.4.4
		case "keepalive", "dummy":
			continue // not drops of traffic
		}
		s.DataplaneDrops[reason] = n
	}
	for _, sa := range d.engine.SAs() {
		m := metrics.IKESA{Conn: nameOr(sa), UniqueID: sa.UniqueID, State: sa.State.String()}
		for _, c := range sa.Children {
			m.Children = append(m.Children, metrics.ChildSA{
				Name: c.Name, UniqueID: c.UniqueID,
				BytesIn: c.BytesIn, PacketsIn: c.PacketsIn,
				BytesOut: c.BytesOut, PacketsOut: c.PacketsOut,
				Drops: map[string]uint64{"replay": c.DropsReplay, "integrity": c.DropsIntegrity, "policy": c.DropsPolicy},
			})
		}
		s.IKESAs = append(s.IKESAs, m)
	}
	for _, c := range d.cfg.Load().Connections {
		for _, ch := range c.Children {
			if ch.Mode == "pass" || ch.Mode == "drop" {
				continue // shunts are policies, never tunnels that are up or down
			}
			s.Tunnels = append(s.Tunnels, metrics.Tunnel{Conn: c.Name, Child: ch.Name})
		}
	}
	return s
}
