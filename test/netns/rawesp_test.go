//go:build netns

package netns

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestRawESP: goipsec to goipsec with encap = no (swanctl's default) and
// no NAT between them, over IPv4 and over IPv6: NAT detection (RFC 7296
// 2.23) finds none, so IKE stays on port 500 and ESP goes raw, IP
// protocol 50 (RFC 4303 2). The capture on the wire holds ESP packets and
// not one UDP 4500 datagram; ping and 10 MB of TCP each way arrive
// intact; list-sas has no "encap" and no NAT flags, and `goipsec status`
// says ESP, not ESP in UDP. With encap = yes on one side the same path
// carries ESP in UDP 4500 instead (strongSwan's nat-fake on that side),
// and no raw ESP.
func TestRawESP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  lab.SiteOptions
		encap bool
	}{
		{"ipv4", lab.SiteOptions{}, false},
		{"ipv6", lab.SiteOptions{IPv6Outer: true}, false},
		{"ipv4-encap-yes", lab.SiteOptions{}, true},
		{"ipv6-encap-yes", lab.SiteOptions{IPv6Outer: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := topology6(t, tc.opts)
			lc, rc := confs(s, suites[0].ike, suites[0].esp)
			if tc.encap {
				lc.extraConn = "encap = yes"
			} else {
				lc.extraConn = "encap = no" // the default, spelled out once
			}
			stop := capture(t, s.Left)
			left := startDaemon(t, s.Left, "left", lc.String())
			right := startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 120*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			checkFraming(ctx, t, left, "left", tc.encap, map[bool]string{true: "nat-fake", false: ""}[tc.encap])
			checkFraming(ctx, t, right, "right", tc.encap, map[bool]string{true: "nat-remote", false: ""}[tc.encap])
			checkTraffic(ctx, t, s)
			out, err := left.cli(ctx, "status")
			framing := map[bool]string{true: "TUNNEL, ESP in UDP SPIs", false: "TUNNEL, ESP SPIs"}[tc.encap]
			if err != nil || !strings.Contains(out, framing) {
				t.Errorf("goipsec status, want %q: %v\n%s", framing, err, out)
			}
			pcap := stop()
			host := "host " + s.RightOuter.String()
			raw := countPackets(ctx, t, pcap, host+" and "+espFilter(s))
			udpESP := countPackets(ctx, t, pcap, host+" and udp port 4500 and not "+keepaliveOrIKE(s))
			ike500 := countPackets(ctx, t, pcap, host+" and udp port 500")
			t.Logf("on the wire: %d raw ESP, %d ESP in UDP 4500, %d IKE on 500", raw, udpESP, ike500)
			// 6 pings and 20 MB of TCP are thousands of packets.
			const least = 2000
			if tc.encap {
				if raw != 0 || udpESP < least/64 { // GSO: up to 64 packets per captured datagram
					t.Fatalf("encap = yes: %d raw ESP, %d ESP in UDP 4500; want none and many", raw, udpESP)
				}
				return
			}
			if udpESP != 0 || raw < least {
				out, _ := exec.CommandContext(ctx, "tcpdump", "-r", pcap, "-n", "-c", "5", "udp port 4500").Output()
				t.Fatalf("encap = no: %d raw ESP, %d UDP 4500; want many and none:\n%s", raw, udpESP, out)
			}
			if ike500 == 0 {
				t.Error("no IKE on port 500: did IKE float to 4500 without a NAT?")
			}
		})
	}
}

// espFilter is the tcpdump filter for raw ESP in s's outer family.
func espFilter(s *lab.SiteToSite) string {
	if s.RightOuter.Is6() {
		return "ip6 proto 50"
	}
	return "ip proto 50"
}

// keepaliveOrIKE matches the UDP 4500 datagrams that are not ESP: IKE
// behind the non-ESP marker (four zero octets, RFC 3948 2.2) and
// NAT-keepalives (one 0xFF octet). tcpdump's udp[] offsets work on IPv4
// only, so for IPv6 the UDP header is found at its fixed offset (no
// extension headers on this path).
func keepaliveOrIKE(s *lab.SiteToSite) string {
	if s.RightOuter.Is6() {
		return "(ip6[48:4] = 0 or ip6[4:2] = 9)"
	}
	return "(udp[8:4] = 0 or udp[4:2] = 9)"
}

// checkFraming checks d's Child SA: encap = yes in list-sas exactly when
// ESP is in UDP, and which NAT flag the IKE SA shows ("" for none).
func checkFraming(ctx context.Context, t *testing.T, d *daemon, name string, encap bool, natFlag string) {
	t.Helper()
	sas := d.sas(ctx)
	c := childOf(t, sas)
	if got := c["encap"] == "yes"; got != encap {
		t.Errorf("%s: child encap %v, want %v: %v", name, c["encap"], encap, c)
	}
	sa, _ := sas[0]["site"].(map[string]any)
	for _, k := range []string{"nat-local", "nat-remote", "nat-fake", "nat-any"} {
		want := k == natFlag || (k == "nat-any" && natFlag != "")
		if got := sa[k] == "yes"; got != want {
			t.Errorf("%s: %s = %v, want %v", name, k, sa[k], want)
		}
	}
	port := map[bool]string{true: "4500", false: "500"}[encap]
	if sa["local-port"] != port || sa["remote-port"] != port {
		t.Errorf("%s: IKE SA on %v -> %v, want port %s", name, sa["local-port"], sa["remote-port"], port)
	}
}

// TestTransportModeRawAndUDP: host-to-host transport mode carries the
// hosts' own traffic as raw ESP by default and as ESP in UDP with encap =
// yes; either way the daemons' own packets (the raw ESP socket is marked
// like the UDP ones) bypass the TUN through policy routing, and nothing
// crosses the wire in the clear.
func TestTransportModeRawAndUDP(t *testing.T) {
	for _, encap := range []bool{false, true} {
		t.Run(fmt.Sprintf("encap=%v", encap), func(t *testing.T) {
			s := topology(t)
			lc, rc := hostConfsWith(s, "transport", "transport", func(l, r *siteConf) {
				if encap {
					l.extraConn, r.extraConn = "encap = yes", "encap = yes"
				}
			})
			stop := capture(t, s.Left)
			left := startDaemon(t, s.Left, "left", lc)
			startDaemon(t, s.Right, "right", rc)
			ctx := ctxFor(t, 90*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			if c := childOf(t, left.sas(ctx)); c["mode"] != "TRANSPORT" || (c["encap"] == "yes") != encap {
				t.Fatalf("child SA: %v", c)
			}
			if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
				t.Fatalf("ping in transport mode: %v\n%s", err, out)
			}
			res, err := lab.TCPTransfer(ctx, s.Right, s.Left, s.RightOuter, s.LeftOuter, 4<<20)
			if err != nil || !res.Intact {
				t.Fatalf("TCP: %v %v", res, err)
			}
			pcap := stop()
			clear := countPackets(ctx, t, pcap, "icmp or tcp")
			raw := countPackets(ctx, t, pcap, "ip proto 50")
			udpESP := countPackets(ctx, t, pcap, "udp port 4500 and udp[8:4] != 0")
			t.Logf("on the wire: %d raw ESP, %d ESP in UDP, %d in the clear", raw, udpESP, clear)
			if clear != 0 {
				t.Fatalf("%d packets in the clear", clear)
			}
			if encap && (raw != 0 || udpESP == 0) || !encap && (udpESP != 0 || raw < 100) {
				t.Fatalf("encap %v: %d raw ESP, %d ESP in UDP", encap, raw, udpESP)
			}
		})
	}
}
