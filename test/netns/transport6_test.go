//go:build netns

package netns

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// policyRouting6 is policyRouting for IPv6: `ip -6 rule` and the IPv6
// routes of table 7296.
func policyRouting6(ctx context.Context, t *testing.T, ns *lab.Namespace) (rules, routes string) {
	t.Helper()
	r, err := ns.Run(ctx, "ip", "-6", "rule", "show")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := ns.Run(ctx, "ip", "-6", "route", "show", "table", "7296")
	if err != nil && !strings.Contains(string(rt), "FIB table does not exist") {
		t.Fatalf("ip -6 route show table 7296: %v\n%s", err, rt)
	}
	if err != nil {
		rt = nil
	}
	return string(r), strings.TrimSpace(string(rt))
}

// clearTraffic6 is the tcpdump filter for what must never be on the wire
// in the clear: TCP and ICMPv6 echo (neighbour discovery is ICMPv6 too,
// and stays in the clear, as it must).
const clearTraffic6 = "tcp or (icmp6 and (ip6[40] == 128 or ip6[40] == 129))"

// TestTransportModeIPv6: goipsec to goipsec in transport mode over IPv6
// (RFC 4303 3.1.1) between 2001:db8::1 and 2001:db8::2: list-sas shows
// TRANSPORT on both; ping6 and 10 MB of TCP each way to the peer's own
// address arrive intact, while the capture holds ESP in UDP over IPv6 and
// no TCP or ICMPv6 echo in the clear; the daemons' own datagrams to the
// same address are kept out of the TUN by `ip -6 rule not fwmark 0x7296
// lookup 7296`, which `down` and the daemon's exit remove again.
func TestTransportModeIPv6(t *testing.T) {
	s := topology6(t, lab.SiteOptions{IPv6Outer: true})
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
	c := childOf(t, left.sas(ctx))
	if lt, rt := strings.Join(toStrings(c["local-ts"]), ","), strings.Join(toStrings(c["remote-ts"]), ","); !strings.Contains(lt, "2001:db8::1/128") || !strings.Contains(rt, "2001:db8::2/128") {
		t.Fatalf("selectors %v === %v, want the two hosts", lt, rt)
	}
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		rules, routes := policyRouting6(ctx, t, ns)
		if !strings.Contains(rules, "not from all fwmark 0x7296 lookup 7296") || !strings.Contains(routes, "dev goipsec0") {
			t.Fatalf("%s: IPv6 policy routing missing:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
		t.Logf("%s: table 7296: %s", ns, routes)
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
		t.Fatalf("ping6 left -> right in transport mode: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightOuter, s.LeftOuter, 3); err != nil {
		t.Fatalf("ping6 right -> left in transport mode: %v\n%s", err, out)
	}
	for _, dir := range []struct {
		name     string
		from, to *lab.Namespace
	}{{"left->right", s.Left, s.Right}, {"right->left", s.Right, s.Left}} {
		src, dst := s.LeftOuter, s.RightOuter
		if dir.from == s.Right {
			src, dst = dst, src
		}
		res, err := lab.TCPTransfer(ctx, dir.from, dir.to, src, dst, 10<<20)
		if err != nil || !res.Intact || res.Bytes != 10<<20 {
			t.Fatalf("TCP %s: %v %v", dir.name, res, err)
		}
		t.Logf("TCP %s: %v", dir.name, res)
	}
	for _, d := range []*daemon{left, right} {
		c := childOf(t, d.sas(ctx))
		if c["bytes-in"] == "0" || c["bytes-out"] == "0" || c["packets-in"] == "0" {
			t.Errorf("counters did not move: %v", c)
		}
		drops := dropsOf(ctx, t, d)
		for _, k := range []string{"esp-unsupported", "esp-malformed", "esp-policy", "esp-no_policy"} {
			if v, ok := drops[k]; ok && v != "0" {
				t.Errorf("dropped (%s = %v)", k, v)
			}
		}
	}
	pcap := stop()
	clear := countPackets(ctx, t, pcap, clearTraffic6)
	espPkts := countPackets(ctx, t, pcap, "ip6 and (udp port 4500 or ip6 proto 50)")
	t.Logf("on the wire: %d ESP (raw or in UDP, IPv6) packets, %d TCP/ICMPv6 echo in the clear", espPkts, clear)
	if clear != 0 {
		out, _ := exec.CommandContext(ctx, "tcpdump", "-r", pcap, "-n", "-c", "5", clearTraffic6).Output()
		t.Fatalf("%d packets in the clear on the wire:\n%s", clear, out)
	}
	if espPkts < 2*3+2*(10<<20)/(64<<10) {
		t.Fatalf("only %d ESP packets on the wire for 6 pings and 20 MB", espPkts)
	}

	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "SAs deleted on both sides", 5*time.Second, func() bool {
		return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
	})
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		if rules, routes := policyRouting6(ctx, t, ns); strings.Contains(rules, "7296") || routes != "" {
			t.Errorf("%s: policy routing left after down:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 1); err != nil {
		t.Errorf("plain ping6 after down: %v\n%s", err, out)
	}

	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up again: %v\n%s", err, out)
	}
	if rules, _ := policyRouting6(ctx, t, s.Left); !strings.Contains(rules, "lookup 7296") {
		t.Fatalf("no rule after the second up:\n%s", rules)
	}
	if err := left.proc.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if rules, routes := policyRouting6(ctx, t, s.Left); strings.Contains(rules, "7296") || routes != "" {
		t.Errorf("policy routing left after the daemon exited:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
	}
}

// TestTransportModeIPv6Rekeys: TestTransportModeRekeys over IPv6: both
// daemons rekey the transport-mode Child SA every ~2 s and the IKE SA
// every ~5 s under a TCP stream between the two hosts; the data arrives
// intact, the new SAs stay transport mode, no ESP is dropped, and the
// IPv6 policy routing stays in place.
func TestTransportModeIPv6Rekeys(t *testing.T) {
	s := topology6(t, lab.SiteOptions{IPv6Outer: true})
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
		if c := childOf(t, d.sas(ctx)); c["mode"] != "TRANSPORT" {
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
		if rules, routes := policyRouting6(ctx, t, ns); !strings.Contains(rules, "lookup 7296") || !strings.Contains(routes, "dev goipsec0") {
			t.Errorf("%s: policy routing lost in the rekeys:\nrules:\n%s\ntable 7296:\n%s", ns, rules, routes)
		}
	}
}

// TestHostTunnelIPv6: a tunnel-mode SA whose selectors are the two IPv6
// hosts themselves (host to host, DESIGN.md): the same IPv6 policy
// routing carries it; ping6 and TCP between the hosts go through the
// tunnel (the SA's counters move, nothing in the clear).
func TestHostTunnelIPv6(t *testing.T) {
	s := topology6(t, lab.SiteOptions{IPv6Outer: true})
	lc, rc := hostConfs(s, "tunnel", "tunnel")
	stop := capture(t, s.Left)
	left := startDaemon(t, s.Left, "left", lc)
	right := startDaemon(t, s.Right, "right", rc)
	ctx := ctxFor(t, 90*time.Second)
	if out, err := right.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	for _, d := range []*daemon{left, right} {
		if c := childOf(t, d.sas(ctx)); c["mode"] != "TUNNEL" || c["state"] != "INSTALLED" {
			t.Fatalf("child SA: %v", c)
		}
	}
	if rules, routes := policyRouting6(ctx, t, s.Left); !strings.Contains(rules, "lookup 7296") || !strings.Contains(routes, "2001:db8::2 dev goipsec0") {
		t.Fatalf("IPv6 policy routing missing:\nrules:\n%s\ntable 7296:\n%s", rules, routes)
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
		t.Fatalf("ping6 through the host-to-host tunnel: %v\n%s", err, out)
	}
	res, err := lab.TCPTransfer(ctx, s.Right, s.Left, s.RightOuter, s.LeftOuter, 4<<20)
	if err != nil || !res.Intact {
		t.Fatalf("TCP: %v %v", res, err)
	}
	t.Logf("TCP right->left: %v", res)
	if c := childOf(t, left.sas(ctx)); c["packets-in"] == "0" || c["packets-out"] == "0" {
		t.Errorf("the traffic did not go through the tunnel: %v", c)
	}
	pcap := stop()
	if n := countPackets(ctx, t, pcap, clearTraffic6); n != 0 {
		t.Fatalf("%d TCP/ICMPv6 echo packets in the clear", n)
	}
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	waitUntil(t, "policy routing removed", 5*time.Second, func() bool {
		rules, routes := policyRouting6(ctx, t, s.Left)
		return !strings.Contains(rules, "7296") && routes == ""
	})
}
