package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/sadb"
)

const trapConf = `connections {
    site {
        local_addrs = %s
        remote_addrs = %s
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = %s
                remote_ts = 10.2.0.0/24
                start_action = trap
            }
            %s
        }
    }
}
`

func policiesOf(t *testing.T, local, remote, lts, extra string) (policySet, error) {
	t.Helper()
	cfg, err := config.Parse("test.conf", []byte(fmt.Sprintf(trapConf, local, remote, lts, extra)))
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
	if err != nil {
		t.Fatal(err)
	}
	return wantPolicies(cfg, byName(peers, func(p *ike.PeerConfig) string { return p.Name }))
}

// TestWantPolicies: traps get their dynamic selectors resolved to the
// connection's addresses; what cannot be trapped or shunted safely is an
// error naming the key; shunt children never reach the engine.
func TestWantPolicies(t *testing.T) {
	set, err := policiesOf(t, "192.0.2.1", "192.0.2.2", "dynamic", "")
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := set.traps["site/net"]
	if !ok || tr.conn != "site" || tr.child != "net" || tr.trap.Peer.String() != "192.0.2.2" {
		t.Fatalf("trap: %+v", set.traps)
	}
	if got := fmt.Sprint(tr.trap.LocalTS, tr.trap.RemoteTS); got != "[192.0.2.1/32] [10.2.0.0/24]" {
		t.Errorf("trap selectors %s", got)
	}

	pass := `lan {
                local_ts = 10.1.0.0/16
                remote_ts = 10.2.0.8/32
                mode = pass
            }
            blk {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.9/32
                mode = drop
            }`
	set, err = policiesOf(t, "192.0.2.1", "192.0.2.2", "10.1.0.0/24", pass)
	if err != nil {
		t.Fatal(err)
	}
	if s := set.shunts["site/lan"]; s.Action != sadb.Bypass || fmt.Sprint(s.RemoteTS) != "[10.2.0.8/32]" {
		t.Errorf("pass shunt: %+v", s)
	}
	if s := set.shunts["site/blk"]; s.Action != sadb.Discard {
		t.Errorf("drop shunt: %+v", s)
	}

	for _, tt := range []struct{ local, remote, lts, extra, want string }{
		{"192.0.2.1", "%any", "10.1.0.0/24", "", "site.children.net.start_action: start_action = trap needs a single remote_addrs address"},
		{"%any", "192.0.2.2", "dynamic", "", "site.children.net.local_ts: start_action = trap with local_ts = dynamic needs a single local_addrs address"},
		// The pass child's local_ts does not cover the tunnel's: routing
		// 10.2.0.8 around the TUN would leak 10.1.0.0/24's traffic.
		{"192.0.2.1", "192.0.2.2", "10.1.0.0/24", strings.Replace(pass, "10.1.0.0/16", "10.1.0.0/25", 1), "site.children.lan.remote_ts: mode = pass for 10.2.0.8/32 would also bypass site/net"},
		{"192.0.2.1", "192.0.2.2", "10.1.0.0/24", strings.Replace(pass, "10.2.0.9/32", "192.0.2.0/24", 1), "site.children.blk.remote_ts: mode = drop for the IKE peer 192.0.2.2"},
	} {
		_, err := policiesOf(t, tt.local, tt.remote, tt.lts, tt.extra)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s %s: got %v, want %q", tt.local, tt.remote, tt.lts, err, tt.want)
		}
	}

	// Host to host: the peer 10.2.0.5 inside remote_ts is a trap too,
	// routed by the data plane's policy routing (dataplane/hostroute.go).
	set, err = policiesOf(t, "192.0.2.1", "10.2.0.5", "10.1.0.0/24", "")
	if err != nil {
		t.Fatalf("host-to-host trap: %v", err)
	}
	if tr := set.traps["site/net"]; tr.trap.Peer.String() != "10.2.0.5" || fmt.Sprint(tr.trap.RemoteTS) != "[10.2.0.0/24]" {
		t.Errorf("host-to-host trap: %+v", tr)
	}

	// dpd_action/close_action = trap: a trap to install on demand.
	od := `od {
                local_ts = 10.1.0.0/24
                remote_ts = 10.3.0.0/24
                start_action = start
                close_action = trap
            }`
	set, err = policiesOf(t, "192.0.2.1", "192.0.2.2", "10.1.0.0/24", od)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.onDemand["site/od"]; !ok || len(set.traps) != 1 {
		t.Errorf("close_action = trap: onDemand %v, traps %v", set.onDemand, set.traps)
	}
	_, err = policiesOf(t, "192.0.2.1", "%any", "10.1.0.0/24", strings.Replace(od, "close_action", "dpd_action", 1))
	if err == nil || !strings.Contains(err.Error(), "site.children.net.start_action") {
		t.Errorf("got %v", err) // net's own start_action = trap is reported first
	}

	cfg, err := config.Parse("test.conf", []byte(fmt.Sprintf(trapConf, "192.0.2.1", "192.0.2.2", "10.1.0.0/24", pass)))
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(peers[0].Children); n != 1 {
		t.Errorf("engine sees %d children, want 1 (shunts are not negotiated)", n)
	}
}

// TestExplainChecksPolicies: goipsec check refuses the trap and shunt
// policies the daemon would refuse, and describes shunts as such.
func TestExplainChecksPolicies(t *testing.T) {
	bad := `lan {
                local_ts = 10.1.0.0/25
                remote_ts = 10.2.0.8/32
                mode = pass
            }`
	cfg, err := config.Parse("test.conf", []byte(fmt.Sprintf(trapConf, "192.0.2.1", "192.0.2.2", "10.1.0.0/24", bad)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Explain(context.Background(), cfg, "", CheckOffer{}); err == nil || !strings.Contains(err.Error(), "would also bypass site/net") {
		t.Errorf("Explain: %v", err)
	}
	good := strings.Replace(bad, "10.1.0.0/25", "10.1.0.0/24", 1)
	cfg, err = config.Parse("test.conf", []byte(fmt.Sprintf(trapConf, "192.0.2.1", "192.0.2.2", "10.1.0.0/24", good)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Explain(context.Background(), cfg, "", CheckOffer{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteExplanation(&b, r)
	if !strings.Contains(b.String(), "a BYPASS shunt policy") || !strings.Contains(b.String(), "start_action trap") {
		t.Errorf("check output:\n%s", b.String())
	}
}
