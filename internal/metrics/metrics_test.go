package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func snapshot() Snapshot {
	return Snapshot{
		IKESAs: []IKESA{
			{Conn: "site", UniqueID: 1, State: "ESTABLISHED", Children: []ChildSA{
				{Name: "net", UniqueID: 4, BytesIn: 100, PacketsIn: 2, BytesOut: 3000, PacketsOut: 5,
					Drops: map[string]uint64{"replay": 2, "integrity": 0, "policy": 1}},
				{Name: "voip", UniqueID: 5, BytesIn: 1, PacketsIn: 1, BytesOut: 7, PacketsOut: 1},
			}},
			{Conn: "road", UniqueID: 2, State: "CONNECTING"},
		},
		Tunnels:        []Tunnel{{"site", "net"}, {"site", "voip"}, {"road", "laptop"}},
		DataplaneDrops: map[string]uint64{"replay": 3, "integrity": 1, "policy": 0, "malformed": 2, "no_sa": 9},
		IKEDrops:       map[string]uint64{"malformed": 4},
		IKERekeys:      1, ChildRekeys: 6,
	}
}

// TestCollector checks every metric against a known snapshot.
func TestCollector(t *testing.T) {
	m := New(snapshot)
	m.ObserveHandshake(3 * time.Millisecond)
	m.ObserveHandshake(2 * time.Second)
	want := `
# HELP goipsec_child_sa_bytes_total Inner (plaintext) bytes through a Child SA.
# TYPE goipsec_child_sa_bytes_total counter
goipsec_child_sa_bytes_total{child="net",child_sa="4",conn="site",direction="in",ike_sa="1"} 100
goipsec_child_sa_bytes_total{child="net",child_sa="4",conn="site",direction="out",ike_sa="1"} 3000
goipsec_child_sa_bytes_total{child="voip",child_sa="5",conn="site",direction="in",ike_sa="1"} 1
goipsec_child_sa_bytes_total{child="voip",child_sa="5",conn="site",direction="out",ike_sa="1"} 7
# HELP goipsec_child_sa_dropped_packets_total Inbound packets a Child SA dropped, by reason (replay: RFC 4303 3.4.3, integrity: 3.4.4, policy: RFC 4301 5.2).
# TYPE goipsec_child_sa_dropped_packets_total counter
goipsec_child_sa_dropped_packets_total{child="net",child_sa="4",conn="site",ike_sa="1",reason="integrity"} 0
goipsec_child_sa_dropped_packets_total{child="net",child_sa="4",conn="site",ike_sa="1",reason="policy"} 1
goipsec_child_sa_dropped_packets_total{child="net",child_sa="4",conn="site",ike_sa="1",reason="replay"} 2
# HELP goipsec_ike_sa_bytes Inner bytes carried by the current Child SAs of an IKE SA (drops when a Child SA is rekeyed or deleted).
# TYPE goipsec_ike_sa_bytes gauge
goipsec_ike_sa_bytes{conn="site",direction="in",ike_sa="1"} 101
goipsec_ike_sa_bytes{conn="site",direction="out",ike_sa="1"} 3007
# HELP goipsec_ike_sas IKE SAs by state.
# TYPE goipsec_ike_sas gauge
goipsec_ike_sas{state="CONNECTING"} 1
goipsec_ike_sas{state="ESTABLISHED"} 1
# HELP goipsec_ike_sas_half_open IKE SAs whose IKE_SA_INIT or IKE_AUTH has not finished.
# TYPE goipsec_ike_sas_half_open gauge
goipsec_ike_sas_half_open 1
# HELP goipsec_esp_dropped_packets_total ESP and TUN packets the data plane dropped, by reason (replay: RFC 4303 3.4.3, integrity: 3.4.4, policy: RFC 4301 5.2, no_sa: RFC 4303 3.4.2, ...).
# TYPE goipsec_esp_dropped_packets_total counter
goipsec_esp_dropped_packets_total{reason="integrity"} 1
goipsec_esp_dropped_packets_total{reason="malformed"} 2
goipsec_esp_dropped_packets_total{reason="no_sa"} 9
goipsec_esp_dropped_packets_total{reason="policy"} 0
goipsec_esp_dropped_packets_total{reason="replay"} 3
# HELP goipsec_rekeys_total Completed rekeys (RFC 7296 2.8, 2.18), by SA kind.
# TYPE goipsec_rekeys_total counter
goipsec_rekeys_total{kind="child"} 6
goipsec_rekeys_total{kind="ike"} 1
# HELP goipsec_tunnel_up 1 if the configured Child SA is installed, else 0.
# TYPE goipsec_tunnel_up gauge
goipsec_tunnel_up{child="laptop",conn="road"} 0
goipsec_tunnel_up{child="net",conn="site"} 1
goipsec_tunnel_up{child="voip",conn="site"} 1
# HELP goipsec_tunnels_configured Configured Child SAs (connection/child pairs).
# TYPE goipsec_tunnels_configured gauge
goipsec_tunnels_configured 3
# HELP goipsec_tunnels_down Configured Child SAs with no installed Child SA.
# TYPE goipsec_tunnels_down gauge
goipsec_tunnels_down 1
# HELP goipsec_ike_handshake_duration_seconds Time from the creation of an IKE SA to its establishment (IKE_SA_INIT and IKE_AUTH, RFC 7296 1.2), retransmissions included.
# TYPE goipsec_ike_handshake_duration_seconds histogram
goipsec_ike_handshake_duration_seconds_bucket{le="0.001"} 0
goipsec_ike_handshake_duration_seconds_bucket{le="0.0025"} 0
goipsec_ike_handshake_duration_seconds_bucket{le="0.005"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.01"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.025"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.05"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.1"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.25"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="0.5"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="1"} 1
goipsec_ike_handshake_duration_seconds_bucket{le="2.5"} 2
goipsec_ike_handshake_duration_seconds_bucket{le="5"} 2
goipsec_ike_handshake_duration_seconds_bucket{le="10"} 2
goipsec_ike_handshake_duration_seconds_bucket{le="30"} 2
goipsec_ike_handshake_duration_seconds_bucket{le="+Inf"} 2
goipsec_ike_handshake_duration_seconds_sum 2.003
goipsec_ike_handshake_duration_seconds_count 2
`
	names := []string{"goipsec_child_sa_bytes_total", "goipsec_child_sa_dropped_packets_total", "goipsec_ike_sa_bytes", "goipsec_ike_sas",
		"goipsec_ike_sas_half_open", "goipsec_esp_dropped_packets_total", "goipsec_rekeys_total",
		"goipsec_tunnel_up", "goipsec_tunnels_configured", "goipsec_tunnels_down",
		"goipsec_ike_handshake_duration_seconds"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestHandler serves the text format over HTTP, reading the state at
// scrape time.
func TestHandler(t *testing.T) {
	calls := 0
	m := New(func() Snapshot { calls++; return snapshot() })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for i := 1; i <= 2; i++ {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `goipsec_esp_dropped_packets_total{reason="replay"} 3`) ||
			!strings.Contains(string(body), "go_goroutines") {
			t.Fatalf("scrape:\n%s", body)
		}
		if calls != i {
			t.Errorf("source called %d times after %d scrapes", calls, i)
		}
	}
}
