//go:build netns

package netns

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// hostConfs are confs for a host-to-host child (local_ts = remote_ts =
// dynamic: the two outer addresses) with each side's mode.
func hostConfs(s *lab.SiteToSite, leftMode, rightMode string) (left, right string) {
	return hostConfsWith(s, leftMode, rightMode, nil)
}

// hostConfsWith is hostConfs with a hook to change both siteConfs first.
func hostConfsWith(s *lab.SiteToSite, leftMode, rightMode string, change func(l, r *siteConf)) (left, right string) {
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	if change != nil {
		change(&lc, &rc)
	}
	lc.localNet, lc.remoteNet, rc.localNet, rc.remoteNet = "dynamic", "dynamic", "dynamic", "dynamic"
	left = strings.Replace(lc.String(), "mode = tunnel", "mode = "+leftMode, 1)
	right = strings.Replace(rc.String(), "mode = tunnel", "mode = "+rightMode, 1)
	return left, right
}

// capture runs tcpdump on ns's outer interface until the returned stop,
// which returns the path of the pcap.
func capture(t *testing.T, ns *lab.Namespace) (stop func() string) {
	t.Helper()
	dir := t.TempDir()
	pcap, logf := filepath.Join(dir, "outer.pcap"), filepath.Join(dir, "tcpdump.log")
	dump, err := ns.Start(logf, "tcpdump", "--immediate-mode", "-Z", "root", "-i", lab.OuterIf, "-U", "-n", "-w", pcap)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "tcpdump listening", 5*time.Second, func() bool {
		b, _ := os.ReadFile(logf)
		return strings.Contains(string(b), "listening on")
	})
	return func() string {
		time.Sleep(200 * time.Millisecond)
		dump.Stop()
		return pcap
	}
}

// countPackets returns how many packets of pcap match the tcpdump filter.
func countPackets(ctx context.Context, t *testing.T, pcap, filter string) int {
	t.Helper()
	out, err := exec.CommandContext(ctx, "tcpdump", "-r", pcap, "-n", filter).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s %q: %v\n%s", pcap, filter, err, out)
	}
	return strings.Count(string(out), "\n")
}

// policyRouting returns ns's rule and table-7296 routes as `ip` shows them.
func policyRouting(ctx context.Context, t *testing.T, ns *lab.Namespace) (rules, routes string) {
	t.Helper()
	r, err := ns.Run(ctx, "ip", "-4", "rule", "show")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := ns.Run(ctx, "ip", "-4", "route", "show", "table", "all")
	if err != nil {
		t.Fatal(err)
	}
	var tbl []string
	for _, l := range strings.Split(string(rt), "\n") {
		if strings.Contains(l, "table 7296") {
			tbl = append(tbl, l)
		}
	}
	return string(r), strings.Join(tbl, "\n")
}

// TestTransportMode: goipsec to goipsec in transport mode (RFC 4303
// 3.1.1, negotiated with USE_TRANSPORT_MODE, RFC 7296 1.3.1) between the
// two outer hosts: list-sas shows TRANSPORT on both; pings and 10 MB of
// TCP each way to the peer's own address arrive intact, while the capture
// on the wire holds (raw) ESP and not one ICMP or TCP packet in the
// clear; swanctl shows TRANSPORT too; the daemons' own IKE and ESP datagrams to the same address are
// kept out of the TUN by policy routing (table 7296), which `down` and the
// daemon's exit remove again.
func TestTransportMode(t *testing.T) {
	s := topology(t)
	lc, rc := hostConfs(s, "transport", "transport")
	stop := capture(t, s.Left)
	left := startDaemon(t, s.Left, "left", lc)
	right := startDaemon(t, s.Right, "right", rc)
	ctx := ctxFor(t, 120*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	for _, d := range []*daemon{left, right} {
		c := childOf(t, d.sas(ctx))
		if c["mode"] != "TRANSPORT" || c["state"] != "INSTALLED" {
			t.Fatalf("child SA: %v", c)
		}
	}
	// What strongSwan's own swanctl shows over goipsec's VICI socket.
	sw := newSwanctl(t, left)
	sw.must(ctx, []string{"INSTALLED, TRANSPORT"}, "--list-sas")
	sw.must(ctx, []string{"net: TRANSPORT"}, "--list-conns")
	sw.must(ctx, []string{"TRANSPORT"}, "--list-pols")
	c := childOf(t, left.sas(ctx))
	if lt, rt := c["local-ts"], c["remote-ts"]; !strings.Contains(strings.Join(toStrings(lt), ","), "192.0.2.1/32") || !strings.Contains(strings.Join(toStrings(rt), ","), "192.0.2.2/32") {
		t.Fatalf("selectors %v === %v, want the two hosts", lt, rt)
	}
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		rules, routes := policyRouting(ctx, t, ns)
		if !strings.Contains(rules, "not from all fwmark 0x7296 lookup 7296") || !strings.Contains(routes, "dev goipsec0") {
			t.Fatalf("%s: policy routing missing:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
	}

	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
		t.Fatalf("ping left -> right in transport mode: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightOuter, s.LeftOuter, 3); err != nil {
		t.Fatalf("ping right -> left in transport mode: %v\n%s", err, out)
	}
	for _, dir := range []struct {
		name     string
		from, to *lab.Namespace
		src, dst string
	}{
		{"left->right", s.Left, s.Right, s.LeftOuter.String(), s.RightOuter.String()},
		{"right->left", s.Right, s.Left, s.RightOuter.String(), s.LeftOuter.String()},
	} {
		res, err := lab.TCPTransfer(ctx, dir.from, dir.to, mustAddr(dir.src), mustAddr(dir.dst), 10<<20)
		if err != nil || !res.Intact {
			t.Fatalf("TCP %s: %v %v", dir.name, res, err)
		}
		t.Logf("TCP %s: %v", dir.name, res)
	}
	for _, d := range []*daemon{left, right} {
		c := childOf(t, d.sas(ctx))
		if c["bytes-in"] == "0" || c["bytes-out"] == "0" || c["packets-in"] == "0" {
			t.Errorf("counters did not move: %v", c)
		}
	}
	pcap := stop()
	clear := countPackets(ctx, t, pcap, "icmp or tcp")
	// No NAT and encap = no: raw ESP (TestTransportModeRawAndUDP does both).
	espPkts := countPackets(ctx, t, pcap, "ip proto 50")
	t.Logf("on the wire: %d ESP packets, %d ICMP/TCP in the clear", espPkts, clear)
	if clear != 0 {
		out, _ := exec.CommandContext(ctx, "tcpdump", "-r", pcap, "-n", "-c", "5", "icmp or tcp").Output()
		t.Fatalf("%d packets in the clear on the wire:\n%s", clear, out)
	}
	// GSO/GRO make packets of up to 64 KB on the veth.
	if espPkts < 2*3+2*(10<<20)/(64<<10) {
		t.Fatalf("only %d ESP packets on the wire for 6 pings and 20 MB", espPkts)
	}

	// `down`: the SAs go, and with them rule, routes and marks; the two
	// hosts talk in the clear again.
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "SAs deleted on both sides", 5*time.Second, func() bool {
		return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
	})
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		if rules, routes := policyRouting(ctx, t, ns); strings.Contains(rules, "7296") || routes != "" {
			t.Errorf("%s: policy routing left after down:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 1); err != nil {
		t.Errorf("plain ping after down: %v\n%s", err, out)
	}

	// Up again, then the daemon exits: nothing is left behind either.
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up again: %v\n%s", err, out)
	}
	if rules, _ := policyRouting(ctx, t, s.Left); !strings.Contains(rules, "lookup 7296") {
		t.Fatalf("no rule after the second up:\n%s", rules)
	}
	if err := left.proc.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if rules, routes := policyRouting(ctx, t, s.Left); strings.Contains(rules, "7296") || routes != "" {
		t.Errorf("policy routing left after the daemon exited:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
	}
}

// TestTransportModeDeclined: a transport request the responder does not
// agree to makes a tunnel mode SA (RFC 7296 1.3.1; strongSwan's
// child_create does the same), here host to host between two goipsec
// daemons, so the tunnel's selectors cover the peer and the policy
// routing carries it too.
func TestTransportModeDeclined(t *testing.T) {
	s := topology(t)
	lc, rc := hostConfs(s, "transport", "tunnel")
	left := startDaemon(t, s.Left, "left", lc)
	right := startDaemon(t, s.Right, "right", rc)
	ctx := ctxFor(t, 90*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	for _, d := range []*daemon{left, right} {
		if c := childOf(t, d.sas(ctx)); c["mode"] != "TUNNEL" {
			t.Fatalf("child SA: %v", c)
		}
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
		t.Fatalf("ping through the host-to-host tunnel: %v\n%s", err, out)
	}
	res, err := lab.TCPTransfer(ctx, s.Right, s.Left, s.RightOuter, s.LeftOuter, 1<<20)
	if err != nil || !res.Intact {
		t.Fatalf("TCP: %v %v", res, err)
	}
	if c := childOf(t, left.sas(ctx)); c["packets-in"] == "0" {
		t.Errorf("the traffic did not go through the tunnel: %v", c)
	}
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{v}
	}
	return nil
}

// TestTransportModeStrongSwanTunnel: goipsec asks strongSwan, configured
// for a host-to-host tunnel, for transport mode. strongSwan's responder
// declines (child_create's check_mode: its child is not transport) and
// goes on with a tunnel mode SA, which its kernel-libipsec data plane then
// cannot route ("conflicts with IKE traffic", DESIGN.md), so it answers
// TS_UNACCEPTABLE. goipsec fails the Child SA cleanly: `up` names the
// notify, both sides keep the IKE SA without a Child SA (RFC 7296 1.2;
// strongSwan: "failed to establish CHILD_SA, keeping IKE_SA"), no policy
// routing is left, and `down` removes the IKE SA on both sides.
func TestTransportModeStrongSwanTunnel(t *testing.T) {
	s := topology(t)
	lc, rc := hostConfs(s, "transport", "tunnel")
	charon := startCharon(t, s.Right, rc)
	left := startDaemon(t, s.Left, "left", lc)
	ctx := ctxFor(t, 90*time.Second)
	out, err := left.cli(ctx, "up", "site")
	if err == nil || !strings.Contains(out, "TS_UNACCEPTABLE") {
		t.Fatalf("goipsec up: %v, want TS_UNACCEPTABLE\n%s", err, out)
	}
	t.Logf("goipsec up said: %s", strings.TrimSpace(out))
	if log := charon.Log(); !strings.Contains(log, "conflicts with IKE traffic") || !strings.Contains(log, "keeping IKE_SA") {
		t.Fatalf("strongSwan did not go the way described:\n%s", log)
	}
	sas := left.sas(ctx)
	if len(sas) != 1 {
		t.Fatalf("goipsec has %d IKE SAs, want 1: %v", len(sas), sas)
	}
	if sa, _ := sas[0]["site"].(map[string]any); sa == nil || sa["state"] != "ESTABLISHED" || len(asMap(sa["child-sas"])) != 0 {
		t.Fatalf("goipsec IKE SA: %v", sas[0])
	}
	sw, err := charon.Swanctl(ctx, "--list-sas")
	if err != nil || !strings.Contains(sw, "ESTABLISHED") || strings.Contains(sw, "INSTALLED") {
		t.Fatalf("strongSwan --list-sas: %v\n%s", err, sw)
	}
	if rules, routes := policyRouting(ctx, t, s.Left); strings.Contains(rules, "7296") || routes != "" {
		t.Errorf("policy routing left behind:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
	}
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "no SAs on either side", 10*time.Second, func() bool {
		sw, err := charon.Swanctl(ctx, "--list-sas")
		return err == nil && !strings.Contains(sw, "ESTABLISHED") && len(left.sas(ctx)) == 0
	})
}

// TestTransportModeRekeys: both daemons rekey the transport-mode Child SA
// every ~2 s and the IKE SA every ~5 s under a TCP stream between the two
// hosts: the new SAs stay transport mode (USE_TRANSPORT_MODE in the rekey,
// RFC 7296 1.3.3), the data arrives intact, no ESP packet is dropped for
// want of an SA, and the policy routing shared by the old and new SA stays
// in place throughout.
func TestTransportModeRekeys(t *testing.T) {
	s := topology(t)
	lc, rc := hostConfsWith(s, "transport", "transport", func(l, r *siteConf) {
		l.extraConn, l.extraChild = shortIKELife, shortChildLife
		r.extraConn, r.extraChild = shortIKELife, shortChildLife
	})
	left := startDaemon(t, s.Left, "left", lc)
	right := startDaemon(t, s.Right, "right", rc)
	ctx := ctxFor(t, 120*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	first := childOf(t, left.sas(ctx))["spi-in"]
	res, err := lab.TCPThroughput(ctxFor(t, 40*time.Second), s.Left, s.Right, s.LeftOuter, s.RightOuter, 10*time.Second)
	if err != nil || !res.Intact {
		t.Fatalf("TCP across rekeys: %v %v", res, err)
	}
	t.Logf("TCP across rekeys: %v", res)
	waitUntil(t, "one IKE SA with one Child SA on each side", 15*time.Second, func() bool {
		return oneChild(left.sas(ctx)) && oneChild(right.sas(ctx))
	})
	for name, d := range map[string]*daemon{"left": left, "right": right} {
		c := childOf(t, d.sas(ctx))
		if c["mode"] != "TRANSPORT" {
			t.Errorf("%s: rekeyed child SA: %v", name, c)
		}
		drops := dropsOf(ctx, t, d)
		for _, k := range []string{"esp-no_sa", "esp-no_policy", "esp-auth", "esp-policy"} {
			if v, ok := drops[k]; ok && v != "0" {
				t.Errorf("%s dropped ESP (%s = %v)", name, k, v)
			}
		}
	}
	if c := childOf(t, left.sas(ctx)); c["spi-in"] == first {
		t.Errorf("Child SA was not rekeyed: SPI %v", first)
	}
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		if rules, routes := policyRouting(ctx, t, ns); !strings.Contains(rules, "lookup 7296") || !strings.Contains(routes, "dev goipsec0") {
			t.Errorf("%s: policy routing lost in the rekeys:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
