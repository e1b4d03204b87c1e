package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/ts"
)

func mustSel(t *testing.T, s string) ts.Selector {
	t.Helper()
	sel, err := ts.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func updownSA(unique uint32) ike.SAInfo {
	return ike.SAInfo{
		Name: "site", UniqueID: unique,
		Local:   netip.MustParseAddrPort("192.0.2.1:4500"),
		Remote:  netip.MustParseAddrPort("198.51.100.7:4500"),
		LocalID: "left.example", RemoteID: "right.example",
		NATRemote: true,
		LocalVIPs: []netip.Addr{netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("fd00::1")},
	}
}

// TestUpdownEnv: the environment has charon's variables, in its order,
// with its formats: subnets from ranges, ICMP type and code in the
// ports, virtual IPs, PLUTO_UDP_ENC behind NAT, one run per pair of
// selectors of one family.
func TestUpdownEnv(t *testing.T) {
	c := ike.ChildInfo{Name: "net", ReqID: 7,
		LocalTS:  []ts.Selector{mustSel(t, "10.1.0.0-10.1.0.200[icmp/8]"), mustSel(t, "fd01::/64")},
		RemoteTS: []ts.Selector{mustSel(t, "10.2.0.0/24[icmp/8]")},
	}
	envs := updownEnvs(updownSA(3), c, "eth0")
	if len(envs) != 1 {
		t.Fatalf("%d runs, want 1 (the IPv6 selector has no IPv6 partner)", len(envs))
	}
	want := []string{
		"PLUTO_VERSION=1.1",
		"PLUTO_VERB=up-client",
		"PLUTO_CONNECTION=net",
		"PLUTO_INTERFACE=eth0",
		"PLUTO_REQID=7",
		"PLUTO_PROTO=esp",
		"PLUTO_UNIQUEID=3",
		"PLUTO_ME=192.0.2.1",
		"PLUTO_MY_ID=left.example",
		"PLUTO_MY_CLIENT=10.1.0.0/24",
		"PLUTO_MY_PORT=8",
		"PLUTO_MY_PROTOCOL=1",
		"PLUTO_PEER=198.51.100.7",
		"PLUTO_PEER_ID=right.example",
		"PLUTO_PEER_CLIENT=10.2.0.0/24",
		"PLUTO_PEER_PORT=0",
		"PLUTO_PEER_PROTOCOL=1",
		"PLUTO_MY_SOURCEIP=10.3.0.1",
		"PLUTO_MY_SOURCEIP4_1=10.3.0.1",
		"PLUTO_MY_SOURCEIP6_1=fd00::1",
		"PLUTO_UDP_ENC=4500",
	}
	if !slices.Equal(envs[0], want) {
		t.Errorf("env\n got %q\nwant %q", envs[0], want)
	}
	host := ike.ChildInfo{Name: "h", LocalTS: []ts.Selector{mustSel(t, "192.0.2.1")}, RemoteTS: []ts.Selector{mustSel(t, "198.51.100.7")}}
	if v := verbOf(updownEnvs(updownSA(1), host, "")[0]); v != "up-host" {
		t.Errorf("host-to-host verb %q, want up-host", v)
	}
	v6 := ike.ChildInfo{Name: "v6", LocalTS: []ts.Selector{mustSel(t, "fd01::/64")}, RemoteTS: []ts.Selector{mustSel(t, "fd02::/64")}}
	if v := verbOf(updownEnvs(updownSA(1), v6, "")[0]); v != "up-client-v6" {
		t.Errorf("IPv6 verb %q, want up-client-v6", v)
	}
}

type scriptRun struct {
	command string
	env     []string
}

// TestUpdownTunnelNotSA: a rekey (new SA up, then the old one down) runs
// nothing; the last SA going runs "down" with the environment of the
// "up", even though the SA that goes has another unique ID.
func TestUpdownTunnelNotSA(t *testing.T) {
	var runs []scriptRun
	u := newUpdownRunner(slog.New(slog.DiscardHandler), func(conn, child string) string { return "/etc/up.sh" })
	u.run = func(_ context.Context, command string, env []string) (string, error) {
		runs = append(runs, scriptRun{command, env})
		return "", nil
	}
	c := ike.ChildInfo{Name: "net", ReqID: 1, LocalTS: []ts.Selector{mustSel(t, "10.1.0.0/24")}, RemoteTS: []ts.Selector{mustSel(t, "10.2.0.0/24")}}
	c2 := c
	c2.ReqID = 2
	for _, ev := range []saEvent{
		{sa: updownSA(1), child: &c, up: true},
		{sa: updownSA(1), child: &c2, up: true},  // Child SA rekey: new SA
		{sa: updownSA(1), child: &c, up: false},  // and the old one goes
		{sa: updownSA(2), child: &c2, up: false}, // later, on a rekeyed IKE SA
	} {
		u.handle(ev)
	}
	if len(runs) != 2 {
		t.Fatalf("%d script runs, want 2 (up, down): %v", len(runs), runs)
	}
	if verbOf(runs[0].env) != "up-client" || verbOf(runs[1].env) != "down-client" {
		t.Errorf("verbs %s, %s", verbOf(runs[0].env), verbOf(runs[1].env))
	}
	if !slices.Equal(withVerb(runs[0].env, "down"), runs[1].env) {
		t.Errorf("down env differs from up env:\n%q\n%q", runs[1].env, runs[0].env)
	}
	if u.active.Load() != 0 || len(u.up) != 0 {
		t.Errorf("tunnels left: %d", len(u.up))
	}
}

// TestUpdownShell: the command runs with /bin/sh and exactly the PLUTO_
// environment; its output is returned for the log.
func TestUpdownShell(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	o, err := runShell(context.Background(), "env > "+out+"; echo hello; echo oops >&2", []string{"PLUTO_VERB=up-client", "PLUTO_ME=192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if o != "hello\noops\n" {
		t.Errorf("output %q, want stdout and stderr", o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PLUTO_VERB=up-client", "PLUTO_ME=192.0.2.1"} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("script env lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "HOME=") {
		t.Errorf("script inherited the daemon's environment:\n%s", b)
	}
	if _, err := runShell(context.Background(), "exit 3", nil); err == nil {
		t.Error("a failing script reported no error")
	}
}

// TestUpdownCommandFollowsConfig: the index of updown commands is
// rebuilt when the configuration changes (reload, load-conn).
func TestUpdownCommandFollowsConfig(t *testing.T) {
	conf := func(cmd string) *config.Config {
		c, err := config.Parse("t.conf", []byte(`connections {
    site {
        remote_addrs = 192.0.2.2
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24
                `+cmd+`
            }
        }
    }
}`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var d Daemon
	d.cfg.Store(conf("updown = /etc/a.sh"))
	if got := d.updownCommand("site", "net"); got != "/etc/a.sh" {
		t.Fatalf("updown %q, want /etc/a.sh", got)
	}
	d.cfg.Store(conf("updown = /etc/b.sh up"))
	if got := d.updownCommand("site", "net"); got != "/etc/b.sh up" {
		t.Errorf("after a config change: updown %q, want /etc/b.sh up", got)
	}
	if got := d.updownCommand("site", "other"); got != "" {
		t.Errorf("unknown child: updown %q", got)
	}
	d.cfg.Store(conf(""))
	if got := d.updownCommand("site", "net"); got != "" {
		t.Errorf("updown removed: still %q", got)
	}
}
