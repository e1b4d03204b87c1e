// Package metrics exports goipsec's state to Prometheus (the text
// exposition format over HTTP, github.com/prometheus/client_golang).
//
// Nothing is counted here per packet: the data plane and the IKE engine
// keep their own atomic counters, and a collector reads a Snapshot of the
// live state on every scrape. Only the handshake-latency histogram is fed
// as events happen, once per IKE SA.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is the state one scrape reports. The daemon builds it from the
// engine's SAs, the configuration and the counters.
type Snapshot struct {
	IKESAs []IKESA
	// Tunnels are the configured Child SAs (connection and child names).
	Tunnels []Tunnel
	// DataplaneDrops are ESP packets dropped, by reason (replay,
	// integrity, policy, malformed, no_sa, ...).
	DataplaneDrops map[string]uint64
	// IKEDrops are IKE messages dropped, by reason.
	IKEDrops               map[string]uint64
	IKERekeys, ChildRekeys uint64
}

// IKESA is one IKE SA.
type IKESA struct {
	Conn     string
	UniqueID uint32
	State    string // CONNECTING, ESTABLISHED, DELETING, ...
	Children []ChildSA
}

// ChildSA is one installed Child SA; the byte counts are of inner packets.
type ChildSA struct {
	Name                 string
	UniqueID             uint32
	BytesIn, PacketsIn   uint64
	BytesOut, PacketsOut uint64
	// Drops on this SA by reason: replay, integrity, policy.
	Drops map[string]uint64
}

// Tunnel is a configured Child SA.
type Tunnel struct{ Conn, Child string }

// HandshakeBuckets are the handshake-latency histogram's upper bounds in
// seconds: an IKE_SA_INIT + IKE_AUTH on a LAN takes milliseconds, one
// with retransmissions seconds.
var HandshakeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics is goipsec's Prometheus registry.
type Metrics struct {
	reg       *prometheus.Registry
	handshake prometheus.Histogram
}

// New creates the registry; source is called once per scrape. It also
// exports the Go runtime's and the process's standard metrics.
func New(source func() Snapshot) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		handshake: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "goipsec_ike_handshake_duration_seconds",
			Help:    "Time from the creation of an IKE SA to its establishment (IKE_SA_INIT and IKE_AUTH, RFC 7296 1.2), retransmissions included.",
			Buckets: HandshakeBuckets,
		}),
	}
	m.reg.MustRegister(m.handshake, &collector{source: source},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveHandshake records one IKE SA's handshake duration.
func (m *Metrics) ObserveHandshake(d time.Duration) { m.handshake.Observe(d.Seconds()) }

// Handler serves the metrics (mount it at /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// Registry returns the registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	descIKESAs = prometheus.NewDesc("goipsec_ike_sas",
		"IKE SAs by state.", []string{"state"}, nil)
	descHalfOpen = prometheus.NewDesc("goipsec_ike_sas_half_open",
		"IKE SAs whose IKE_SA_INIT or IKE_AUTH has not finished.", nil, nil)
	descIKEBytes = prometheus.NewDesc("goipsec_ike_sa_bytes",
		"Inner bytes carried by the current Child SAs of an IKE SA (drops when a Child SA is rekeyed or deleted).",
		[]string{"conn", "ike_sa", "direction"}, nil)
	descIKEPackets = prometheus.NewDesc("goipsec_ike_sa_packets",
		"Packets carried by the current Child SAs of an IKE SA.",
		[]string{"conn", "ike_sa", "direction"}, nil)
	descChildBytes = prometheus.NewDesc("goipsec_child_sa_bytes_total",
		"Inner (plaintext) bytes through a Child SA.",
		[]string{"conn", "child", "ike_sa", "child_sa", "direction"}, nil)
	descChildPackets = prometheus.NewDesc("goipsec_child_sa_packets_total",
		"Packets through a Child SA.",
		[]string{"conn", "child", "ike_sa", "child_sa", "direction"}, nil)
	descChildDrops = prometheus.NewDesc("goipsec_child_sa_dropped_packets_total",
		"Inbound packets a Child SA dropped, by reason (replay: RFC 4303 3.4.3, integrity: 3.4.4, policy: RFC 4301 5.2).",
		[]string{"conn", "child", "ike_sa", "child_sa", "reason"}, nil)
	descDrops = prometheus.NewDesc("goipsec_esp_dropped_packets_total",
		"ESP and TUN packets the data plane dropped, by reason (replay: RFC 4303 3.4.3, integrity: 3.4.4, policy: RFC 4301 5.2, no_sa: RFC 4303 3.4.2, ...).",
		[]string{"reason"}, nil)
	descIKEDrops = prometheus.NewDesc("goipsec_ike_dropped_messages_total",
		"IKE messages the engine dropped, by reason.", []string{"reason"}, nil)
	descRekeys = prometheus.NewDesc("goipsec_rekeys_total",
		"Completed rekeys (RFC 7296 2.8, 2.18), by SA kind.", []string{"kind"}, nil)
	descTunnels = prometheus.NewDesc("goipsec_tunnels_configured",
		"Configured Child SAs (connection/child pairs).", nil, nil)
	descTunnelsDown = prometheus.NewDesc("goipsec_tunnels_down",
		"Configured Child SAs with no installed Child SA.", nil, nil)
	descTunnelUp = prometheus.NewDesc("goipsec_tunnel_up",
		"1 if the configured Child SA is installed, else 0.", []string{"conn", "child"}, nil)
)

// collector turns a Snapshot into metrics on every scrape.
type collector struct{ source func() Snapshot }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIKESAs, descHalfOpen, descIKEBytes, descIKEPackets,
		descChildBytes, descChildPackets, descChildDrops, descDrops, descIKEDrops, descRekeys, descTunnels,
		descTunnelsDown, descTunnelUp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.source()
	states := map[string]int{"CONNECTING": 0, "ESTABLISHED": 0}
	up := map[Tunnel]bool{}
	for _, sa := range s.IKESAs {
		states[sa.State]++
		id := strconv.FormatUint(uint64(sa.UniqueID), 10)
		var bi, bo, pi, po uint64
		for _, ch2 := range sa.Children {
			cid := strconv.FormatUint(uint64(ch2.UniqueID), 10)
			ch <- counter(descChildBytes, ch2.BytesIn, sa.Conn, ch2.Name, id, cid, "in")
			ch <- counter(descChildBytes, ch2.BytesOut, sa.Conn, ch2.Name, id, cid, "out")
			ch <- counter(descChildPackets, ch2.PacketsIn, sa.Conn, ch2.Name, id, cid, "in")
			ch <- counter(descChildPackets, ch2.PacketsOut, sa.Conn, ch2.Name, id, cid, "out")
			for reason, n := range ch2.Drops {
				ch <- counter(descChildDrops, n, sa.Conn, ch2.Name, id, cid, reason)
			}
			bi, bo, pi, po = bi+ch2.BytesIn, bo+ch2.BytesOut, pi+ch2.PacketsIn, po+ch2.PacketsOut
			up[Tunnel{sa.Conn, ch2.Name}] = true
		}
		if sa.State != "CONNECTING" {
			ch <- gauge(descIKEBytes, bi, sa.Conn, id, "in")
			ch <- gauge(descIKEBytes, bo, sa.Conn, id, "out")
			ch <- gauge(descIKEPackets, pi, sa.Conn, id, "in")
			ch <- gauge(descIKEPackets, po, sa.Conn, id, "out")
		}
	}
	for state, n := range states {
		ch <- gauge(descIKESAs, uint64(n), state)
	}
	ch <- gauge(descHalfOpen, uint64(states["CONNECTING"]))
	for reason, n := range s.DataplaneDrops {
		ch <- counter(descDrops, n, reason)
	}
	for reason, n := range s.IKEDrops {
		ch <- counter(descIKEDrops, n, reason)
	}
	ch <- counter(descRekeys, s.IKERekeys, "ike")
	ch <- counter(descRekeys, s.ChildRekeys, "child")
	down := 0
	for _, t := range s.Tunnels {
		v := uint64(0)
		if up[t] {
			v = 1
		} else {
			down++
		}
		ch <- gauge(descTunnelUp, v, t.Conn, t.Child)
	}
	ch <- gauge(descTunnels, uint64(len(s.Tunnels)))
	ch <- gauge(descTunnelsDown, uint64(down))
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}
