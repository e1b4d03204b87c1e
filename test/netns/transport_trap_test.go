//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestTransportModeTrap: start_action = trap on a host-to-host
// transport-mode child, over IPv4 and IPv6: the trap alone installs the
// policy routing (the peer's address into the TUN, the daemons' own
// datagrams around it), so the first pings to the peer are held, bring
// the SA up in transport mode and all come back; after `down` the trap
// keeps the routing and the next ping brings the SA back; the daemon's
// exit removes everything.
func TestTransportModeTrap(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		t.Run(name, func(t *testing.T) {
			s := topology6(t, lab.SiteOptions{IPv6Outer: v6})
			lc, rc := hostConfsWith(s, "transport", "transport", func(l, r *siteConf) { l.startAct = "trap" })
			left := startDaemon(t, s.Left, "left", lc)
			right := startDaemon(t, s.Right, "right", rc)
			ctx := ctxFor(t, 120*time.Second)
			routing := func() (string, string) {
				if v6 {
					return policyRouting6(ctx, t, s.Left)
				}
				return policyRouting(ctx, t, s.Left)
			}
			if n := len(left.sas(ctx)); n != 0 {
				t.Fatalf("%d SAs before any traffic", n)
			}
			if rules, routes := routing(); !strings.Contains(rules, "lookup 7296") || !strings.Contains(routes, s.RightOuter.String()+" dev goipsec0") {
				t.Fatalf("no policy routing for the trap:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
			}
			if n := pingReplies(ctx, t, s.Left, s.LeftOuter, s.RightOuter, 5); n != 5 {
				t.Fatalf("%d of 5 replies through the trap", n)
			}
			for _, d := range []*daemon{left, right} {
				if c := childOf(t, d.sas(ctx)); c["mode"] != "TRANSPORT" || c["state"] != "INSTALLED" {
					t.Fatalf("child SA after the trap fired: %v", c)
				}
			}
			if n := dropCounter(ctx, t, left, "trap_queue_full") + dropCounter(ctx, t, left, "trap_failed") + dropCounter(ctx, t, left, "trap_expired"); n != 0 {
				t.Errorf("%d trapped packets dropped", n)
			}
			res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, 1<<20)
			if err != nil || !res.Intact {
				t.Fatalf("TCP: %v %v", res, err)
			}

			if out, err := left.cli(ctx, "down", "site"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
			waitUntil(t, "SAs deleted on both sides", 10*time.Second, func() bool {
				return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
			})
			if rules, _ := routing(); !strings.Contains(rules, "lookup 7296") {
				t.Fatalf("the trap lost its policy routing with the SA:\n%s", rules)
			}
			if n := pingReplies(ctx, t, s.Left, s.LeftOuter, s.RightOuter, 3); n != 3 {
				t.Fatalf("%d of 3 replies after down", n)
			}
			if c := childOf(t, left.sas(ctx)); c["mode"] != "TRANSPORT" {
				t.Fatalf("child SA after the trap fired again: %v", c)
			}
			if err := left.proc.Stop(); err != nil {
				t.Logf("stop: %v", err)
			}
			if rules, routes := routing(); strings.Contains(rules, "7296") || routes != "" {
				t.Errorf("policy routing left after the daemon exited:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
			}
		})
	}
}
