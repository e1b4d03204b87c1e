//go:build netns

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// pingReplies pings count times at 0.2 s from src to dst in ns and
// returns how many replies came back.
func pingReplies(ctx context.Context, t *testing.T, ns *lab.Namespace, src, dst netip.Addr, count int) int {
	t.Helper()
	out, _ := lab.Ping(ctx, ns, src, dst, count)
	m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	t.Logf("ping %s -> %s: %d of %d replies", src, dst, n, count)
	return n
}

// dropCounter reads one of the daemon's data-plane drop counters (VICI stats).
func dropCounter(ctx context.Context, t *testing.T, d *daemon, name string) int {
	t.Helper()
	st, err := d.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drops, _ := st["goipsec-drops"].(map[string]any)
	v, ok := drops["esp-"+name].(string)
	if !ok {
		t.Fatalf("no counter esp-%s in %v", name, drops)
	}
	n, _ := strconv.Atoi(v)
	return n
}

// trapScenario runs the trap checks against a peer that answers as
// responder: no SA before traffic, the first pings bring the tunnel up
// without losing one, `goipsec down` leaves the trap and the next packet
// brings the tunnel back. peerSAs reports whether the peer has an SA.
func trapScenario(ctx context.Context, t *testing.T, s *lab.SiteToSite, left *daemon, peerSAs func() bool) {
	t.Helper()
	if n := len(left.sas(ctx)); n != 0 || peerSAs() {
		t.Fatalf("SAs before any traffic (left %d)", n)
	}
	sw := newSwanctl(t, left)
	sw.must(ctx, []string{"site/net, TUNNEL", "local:  " + s.LeftNet.String(), "remote: " + s.RightNet.String()}, "--list-pols")
	sw.must(ctx, []string{"site/net, TUNNEL"}, "--list-pols", "--trap")
	if out, _ := sw.run(ctx, "--list-pols", "--drop"); strings.Contains(out, "site/net") {
		t.Errorf("--list-pols --drop lists the trap:\n%s", out)
	}

	// The first ping is held while IKE runs, then sent: all 5 come back.
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 5); n != 5 {
		t.Fatalf("%d of 5 replies through the trap", n)
	}
	c := childOf(t, left.sas(ctx))
	if c["state"] != "INSTALLED" || !peerSAs() {
		t.Fatalf("child SA after the trap fired: %v", c)
	}
	if n := dropCounter(ctx, t, left, "trap_queue_full") + dropCounter(ctx, t, left, "trap_failed") + dropCounter(ctx, t, left, "trap_expired"); n != 0 {
		t.Errorf("%d trapped packets dropped", n)
	}

	// down: the SAs go, the trap stays, traffic brings the tunnel back.
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "SAs deleted on both sides", 10*time.Second, func() bool {
		return len(left.sas(ctx)) == 0 && !peerSAs()
	})
	sw.must(ctx, []string{"site/net, TUNNEL"}, "--list-pols")
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 5); n != 5 {
		t.Fatalf("%d of 5 replies after down", n)
	}
	if c := childOf(t, left.sas(ctx)); c["state"] != "INSTALLED" {
		t.Fatalf("child SA after the trap fired again: %v", c)
	}

	// swanctl --uninstall takes the trap away: after down, traffic
	// finds no policy; --install puts it back.
	sw.must(ctx, nil, "--uninstall", "--child", "net")
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "SAs deleted", 10*time.Second, func() bool { return len(left.sas(ctx)) == 0 && !peerSAs() })
	if out, _ := sw.run(ctx, "--list-pols"); strings.Contains(out, "site/net") {
		t.Fatalf("trap still listed after --uninstall:\n%s", out)
	}
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 2); n != 0 || len(left.sas(ctx)) != 0 {
		t.Fatalf("traffic without the trap: %d replies, %d SAs", n, len(left.sas(ctx)))
	}
	sw.must(ctx, nil, "--install", "--child", "net")
	sw.must(ctx, []string{"site/net, TUNNEL"}, "--list-pols")
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 5); n != 5 {
		t.Fatalf("%d of 5 replies after --install", n)
	}
}

// TestTrapGoipsec: start_action = trap on the left goipsec, the right
// goipsec answers.
func TestTrapGoipsec(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.startAct = "trap"
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 120*time.Second)
	trapScenario(ctx, t, s, left, func() bool { return len(right.sas(ctx)) > 0 })
}

// TestTrapStrongSwan: start_action = trap on the left goipsec, strongSwan
// answers.
func TestTrapStrongSwan(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.startAct = "trap"
	charon := startCharon(t, s.Right, rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 120*time.Second)
	trapScenario(ctx, t, s, left, func() bool {
		out, err := charon.Swanctl(ctx, "--list-sas")
		return err == nil && strings.Contains(out, "INSTALLED")
	})
	// The first TSi and TSr were the ping that hit the trap (RFC 7296
	// 2.9), before the configured subnets; strongSwan logs its own side
	// (our TSr) first.
	want := fmt.Sprintf("looking for a child config for %s/32[icmp] %s === %s/32[icmp] %s",
		s.RightInner, s.RightNet, s.LeftInner, s.LeftNet)
	if log := charon.Log(); !strings.Contains(log, want) {
		t.Errorf("strongSwan's log has no %q:\n%s", want, tail(log, 60))
	}
}

// TestTrapBurstUDP: a burst of UDP datagrams into a trap, within the
// queue bound (8 packets), all reach the far end once the tunnel is up.
func TestTrapBurstUDP(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.startAct = "trap"
	left := startDaemon(t, s.Left, "left", lc.String())
	startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 60*time.Second)
	got := make(chan int, 1)
	// The receiver counts datagrams for 5 s.
	go func() {
		out, _ := s.Right.Run(ctx, "/usr/bin/python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("`+s.RightInner.String()+`", 9999))
s.settimeout(5)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n)
`)
		n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		got <- n
	}()
	time.Sleep(500 * time.Millisecond)
	if out, err := s.Left.Run(ctx, "/usr/bin/python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("`+s.LeftInner.String()+`", 0))
for i in range(8):
    s.sendto(b"x" * 500, ("`+s.RightInner.String()+`", 9999))
`); err != nil {
		t.Fatalf("sender: %v\n%s", err, out)
	}
	if n := <-got; n != 8 {
		t.Errorf("%d of 8 datagrams sent into the trap arrived", n)
	}
	if n := dropCounter(ctx, t, left, "trap_queue_full"); n != 0 {
		t.Errorf("trap_queue_full = %d", n)
	}
	// One acquire for the whole burst (no initiation storm); all 8 held
	// and released.
	st, err := left.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	traps, _ := st["goipsec-traps"].(map[string]any)
	if traps["acquires"] != "1" || traps["held"] != "8" || traps["released"] != "8" {
		t.Errorf("trap stats: %v", traps)
	}
}

// TestShuntsNetns: inside the tunnel's 10.1.0.0/24 <-> 10.2.0.0/24, a pass
// child for the hosts 10.1.0.1 <-> 10.2.0.1 sends their traffic in the
// clear (over a plain route between the sites, which the tunnel's more
// specific route into the TUN would otherwise override), a drop child
// drops 10.2.0.3's (counted), and the tunnel still carries 10.1.0.2 <->
// 10.2.0.2.
func TestShuntsNetns(t *testing.T) {
	s := topology(t)
	ctx := ctxFor(t, 90*time.Second)
	// A second host on each LAN, and plain routes between the LANs via
	// the outer link (so the clear path exists where the tunnel does not
	// claim it).
	for _, c := range []struct {
		ns         *lab.Namespace
		addr, peer string
		other      string
	}{{s.Left, "10.1.0.2/24", s.RightOuter.String(), "10.2.0.0/16"}, {s.Right, "10.2.0.2/24", s.LeftOuter.String(), "10.1.0.0/16"}} {
		for _, argv := range [][]string{
			{"ip", "addr", "add", c.addr, "dev", lab.InnerIf},
			{"ip", "route", "add", c.other, "via", c.peer},
		} {
			if out, err := c.ns.Run(ctx, argv...); err != nil {
				t.Fatalf("%v: %v\n%s", argv, err, out)
			}
		}
	}
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.startAct = "start"
	rc.startAct = "none"
	shunts := func(lnet, rhost, drop string) string {
		return `}
            lan {
                local_ts = ` + lnet + `
                remote_ts = ` + rhost + `
                mode = pass
            }
            blk {
                local_ts = ` + lnet + `
                remote_ts = ` + drop + `
                mode = drop
                start_action = trap`
	}
	// The child section is closed by the extra text; its own closing
	// brace then closes the last shunt.
	lc.extraChild = strings.TrimSuffix(shunts(s.LeftNet.String(), "10.2.0.1/32", "10.2.0.3/32"), "\n")
	rc.extraChild = strings.TrimSuffix(shunts(s.RightNet.String(), "10.1.0.1/32", "10.1.0.3/32"), "\n")
	right := startDaemon(t, s.Right, "right", rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	waitUntil(t, "tunnel up", 30*time.Second, func() bool { return len(left.sas(ctx)) > 0 && len(right.sas(ctx)) > 0 })
	sw := newSwanctl(t, left)
	sw.must(ctx, []string{"site/lan, PASS", "site/blk, DROP", "remote: 10.2.0.1/32"}, "--list-pols")

	// Through the tunnel: 10.1.0.2 <-> 10.2.0.2.
	before := childOf(t, left.sas(ctx))["packets-out"]
	if n := pingReplies(ctx, t, s.Left, mustAddr("10.1.0.2"), mustAddr("10.2.0.2"), 3); n != 3 {
		t.Fatalf("tunnel ping: %d of 3", n)
	}
	mid := childOf(t, left.sas(ctx))["packets-out"]
	if mid == before {
		t.Fatalf("tunnel ping did not use the tunnel (packets-out %v)", mid)
	}
	// In the clear: 10.1.0.1 <-> 10.2.0.1, the SA's counters stay.
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 3); n != 3 {
		t.Fatalf("pass ping: %d of 3", n)
	}
	if after := childOf(t, left.sas(ctx))["packets-out"]; after != mid {
		t.Errorf("pass traffic went into the tunnel (packets-out %v -> %v)", mid, after)
	}
	if n := dropCounter(ctx, t, left, "bypass_in_tun"); n != 0 {
		t.Errorf("bypass_in_tun = %d: pass traffic reached the TUN", n)
	}
	// Dropped: 10.1.0.1 -> 10.2.0.3, counted.
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, mustAddr("10.2.0.3"), 2); n != 0 {
		t.Errorf("drop ping got %d replies", n)
	}
	if n := dropCounter(ctx, t, left, "shunt_drop"); n < 2 {
		t.Errorf("shunt_drop = %d, want >= 2", n)
	}
	if after := childOf(t, left.sas(ctx))["packets-out"]; after != mid {
		t.Errorf("dropped traffic went into the tunnel (packets-out %v -> %v)", mid, after)
	}
}

// TestCloseActionTrap: close_action = trap on the left goipsec; when the
// peer deletes the IKE SA, no new SA is set up until traffic comes, and
// then the first packets bring the tunnel back without loss. Against
// goipsec and strongSwan.
func TestCloseActionTrap(t *testing.T) {
	for _, peer := range []string{"goipsec", "strongswan"} {
		t.Run(peer, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, suites[0].ike, suites[0].esp)
			lc.extraChild = "close_action = trap"
			ctx := ctxFor(t, 90*time.Second)
			var peerSAs func() bool
			var deleteFromPeer func()
			if peer == "goipsec" {
				right := startDaemon(t, s.Right, "right", rc.String())
				peerSAs = func() bool { return len(right.sas(ctx)) > 0 }
				deleteFromPeer = func() {
					if out, err := right.cli(ctx, "down", "site"); err != nil {
						t.Fatalf("goipsec down on the peer: %v\n%s", err, out)
					}
				}
			} else {
				charon := startCharon(t, s.Right, rc.String())
				peerSAs = func() bool {
					out, err := charon.Swanctl(ctx, "--list-sas")
					return err == nil && strings.Contains(out, "INSTALLED")
				}
				deleteFromPeer = func() {
					if out, err := charon.Swanctl(ctx, "--terminate", "--ike", "site"); err != nil {
						t.Fatalf("swanctl --terminate: %v\n%s", err, out)
					}
				}
			}
			left := startDaemon(t, s.Left, "left", lc.String())
			sw := newSwanctl(t, left)
			if out, _ := sw.run(ctx, "--list-pols"); strings.Contains(out, "site/net") {
				t.Fatalf("a trap before anything closed:\n%s", out)
			}
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			deleteFromPeer()
			waitUntil(t, "SAs gone and the trap installed", 10*time.Second, func() bool {
				out, _ := sw.run(ctx, "--list-pols")
				return len(left.sas(ctx)) == 0 && !peerSAs() && strings.Contains(out, "site/net, TUNNEL")
			})
			time.Sleep(time.Second)
			if len(left.sas(ctx)) != 0 {
				t.Fatal("close_action = trap set the tunnel up again without traffic")
			}
			if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 5); n != 5 {
				t.Fatalf("%d of 5 replies through the trap", n)
			}
			if c := childOf(t, left.sas(ctx)); c["state"] != "INSTALLED" {
				t.Fatalf("child SA: %v", c)
			}
		})
	}
}

// TestDPDActionTrap: dpd_action = trap on the left goipsec; the right
// daemon dies without a word, DPD clears the SAs and installs the trap
// (no new SA without traffic); once a new right daemon runs, the first
// packets bring the tunnel back without loss.
func TestDPDActionTrap(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.extraConn = "dpd_delay = 2s"
	lc.extraChild = "dpd_action = trap"
	right := startDaemon(t, s.Right, "right", rc.String())
	left := startDaemon(t, s.Left, "left", lc.String(), "--retransmit-timeout", "500ms", "--retransmit-tries", "3")
	ctx := ctxFor(t, 90*time.Second)
	sw := newSwanctl(t, left)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if err := right.proc.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-right.proc.Done()
	waitUntil(t, "DPD clears the SAs and installs the trap", 40*time.Second, func() bool {
		out, _ := sw.run(ctx, "--list-pols")
		return len(left.sas(ctx)) == 0 && strings.Contains(out, "site/net, TUNNEL")
	})
	startDaemon(t, s.Right, "right2", rc.String())
	time.Sleep(time.Second)
	if len(left.sas(ctx)) != 0 {
		t.Fatal("dpd_action = trap set the tunnel up again without traffic")
	}
	if n := pingReplies(ctx, t, s.Left, s.LeftInner, s.RightInner, 5); n != 5 {
		t.Fatalf("%d of 5 replies through the trap", n)
	}
	if c := childOf(t, left.sas(ctx)); c["state"] != "INSTALLED" {
		t.Fatalf("child SA: %v", c)
	}
}
