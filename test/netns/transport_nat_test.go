//go:build netns

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestTransportModeNAT: goipsec to goipsec in transport mode with the
// client behind lab.NATSites' masquerade (172.16.0.2 seen as 192.0.2.1),
// as strongSwan does it: the server's selectors name the NAT's address,
// the client's its own, both SAs are TRANSPORT. TCP both ways is the
// proof of RFC 3948 3.1.2: every segment's checksum was computed over the
// sender's view of the addresses (172.16.0.2 <-> 192.0.2.2 on the client,
// 192.0.2.1 <-> 192.0.2.2 on the server) and must be fixed up on
// decapsulation, or the receiving kernel drops it and no connection
// comes up. Rekeys by both sides keep it working, and the capture on the
// client shows no TCP in the clear.
func TestTransportModeNAT(t *testing.T) {
	s := natTopology(t)
	cc, sc := natConfs(s, "")
	for _, c := range []*siteConf{&cc, &sc} {
		c.localNet, c.remoteNet = "dynamic", "dynamic"
	}
	clientConf := strings.Replace(cc.String(), "mode = tunnel", "mode = transport", 1)
	serverConf := strings.Replace(sc.String(), "mode = tunnel", "mode = transport", 1)
	stop := capture(t, s.Left)
	server := startDaemon(t, s.Right, "server", serverConf)
	client := startDaemon(t, s.Left, "client", clientConf)
	ctx := ctxFor(t, 120*time.Second)
	if out, err := client.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	checkSelectors := func(when string) {
		t.Helper()
		for _, x := range []struct {
			d             *daemon
			local, remote netip.Addr
		}{
			{client, s.LeftOuter, s.RightOuter},
			{server, s.RightOuter, s.RouterPublic},
		} {
			c := childOf(t, x.d.sas(ctx))
			lt, rt := strings.Join(toStrings(c["local-ts"]), ","), strings.Join(toStrings(c["remote-ts"]), ",")
			if c["mode"] != "TRANSPORT" || lt != x.local.String()+"/32" || rt != x.remote.String()+"/32" {
				t.Fatalf("%s: child SA %s === %s (%v), want %s === %s in transport mode", when, lt, rt, c["mode"], x.local, x.remote)
			}
		}
	}
	checkSelectors("up")
	if out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3); err != nil {
		t.Fatalf("ping client -> server: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightOuter, s.RouterPublic, 3); err != nil {
		t.Fatalf("ping server -> client (the NAT's address): %v\n%s", err, out)
	}
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, 10<<20)
	if err != nil || !res.Intact {
		t.Fatalf("TCP client -> server: %v %v", res, err)
	}
	t.Logf("TCP client -> server: %v", res)
	n, err := reverseTransfer(ctx, s.Right, s.Left, s.RouterPublic, s.LeftOuter, 10<<20)
	if err != nil {
		t.Fatalf("TCP server -> client: %v", err)
	}
	t.Logf("TCP server -> client: %d bytes intact", n)

	for name, d := range map[string]*daemon{"client": client, "server": server} {
		before := childOf(t, client.sas(ctx))["spi-in"]
		if out, ok := newSwanctl(t, d).run(ctx, "--rekey", "--child", "net"); !ok {
			t.Fatalf("%s: swanctl --rekey --child net:\n%s", name, out)
		}
		waitUntil(t, "the Child SA rekeyed by the "+name, 15*time.Second, func() bool {
			return oneChild(client.sas(ctx)) && oneChild(server.sas(ctx)) && childOf(t, client.sas(ctx))["spi-in"] != before
		})
		checkSelectors("after a rekey by the " + name)
	}
	if _, err := reverseTransfer(ctx, s.Right, s.Left, s.RouterPublic, s.LeftOuter, 1<<20); err != nil {
		t.Fatalf("TCP server -> client after the rekeys: %v", err)
	}
	if res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, 1<<20); err != nil || !res.Intact {
		t.Fatalf("TCP client -> server after the rekeys: %v %v", res, err)
	}
	for _, d := range []*daemon{client, server} {
		drops := dropsOf(ctx, t, d)
		for _, k := range []string{"esp-policy", "esp-no_policy", "esp-malformed", "esp-unsupported"} {
			if v, ok := drops[k]; ok && v != "0" {
				t.Errorf("dropped (%s = %v)", k, v)
			}
		}
	}
	pcap := stop()
	if n := countPackets(ctx, t, pcap, "tcp or icmp"); n != 0 {
		t.Fatalf("%d TCP/ICMP packets in the clear behind the NAT", n)
	}
}

// reverseTransfer sends n random bytes over TCP from the namespace from
// to a listener on listen in to, dialling dial (the address from knows
// the listener by, the NAT's public one) and checks they arrive intact:
// lab.TCPTransfer listens where it dials, which the NAT rules out here.
func reverseTransfer(ctx context.Context, from, to *lab.Namespace, dial, listen netip.Addr, n int) (int, error) {
	var ln *net.TCPListener
	if err := to.Do(func() error {
		var err error
		ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(listen, 0)))
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	want := make([]byte, n)
	rand.Read(want)
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	err := from.Do(func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(dial, port).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(want)
		return err
	})
	if err != nil {
		return 0, err
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			return len(b), fmt.Errorf("received %d bytes, not the %d sent", len(b), n)
		}
		return len(b), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
