//go:build netns

package lab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// netnsList returns the output of `ip netns list`.
func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func hasNetns(list, name string) bool {
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func TestNamespace(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	ns, err := lab.NewNamespace("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if !strings.HasPrefix(ns.Name, "labtest-") || len(ns.Name) != len("labtest-")+8 {
		t.Errorf("name %q, want labtest-<8 hex>", ns.Name)
	}
	if !hasNetns(netnsList(t), ns.Name) {
		t.Fatalf("%s missing from ip netns list", ns.Name)
	}

	ctx := context.Background()
	out, err := ns.Run(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	// A fresh namespace has only lo, and NewNamespace brought it up.
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("links in fresh namespace:\n%s", out)
	}
	if _, err := ns.Run(ctx, "sh", "-c", "echo boom; exit 3"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Run of failing command: err = %v, want one carrying the output", err)
	}

	// Do: sockets made inside belong to the namespace; the caller's
	// namespace is untouched afterwards.
	var names []string
	if err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Errorf("interfaces seen inside Do: %v, want [lo]", names)
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	var got []byte
	if err := ns.Do(func() error {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		_, err = c.Read(buf)
		got = buf
		return err
	}); err != nil || string(got) != "hi" {
		t.Errorf("loopback inside the namespace: got %q, err %v", got, err)
	}
	wantErr := errors.New("from f")
	if err := ns.Do(func() error { return wantErr }); err != wantErr {
		t.Errorf("Do returned %v, want f's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "oops" {
				t.Errorf("recovered %v, want f's panic re-raised", r)
			}
		}()
		ns.Do(func() error { panic("oops") })
	}()

	// Background processes die with Close.
	p, err := ns.Start(t.TempDir()+"/sleep.log", "sleep", "1000")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Errorf("pid %d still running after Close", p.PID())
	}
	if err := ns.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if hasNetns(netnsList(t), ns.Name) {
		t.Errorf("%s still listed after Close", ns.Name)
	}
	if _, err := ns.Start(t.TempDir()+"/x.log", "true"); !errors.Is(err, lab.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}

// A process that ignores SIGTERM gets SIGKILL; the caller's error is nil
// because the process is gone.
func TestProcessStopEscalates(t *testing.T) {
	labtest.RequireRoot(t)
	restore := lab.SetStopTimeoutForTest(200 * time.Millisecond)
	defer restore()
	ns, err := lab.NewNamespace("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	log := t.TempDir() + "/p.log"
	// Ignored signals stay ignored across exec.
	p, err := ns.Start(log, "sh", "-c", `trap "" TERM; exec sleep 1000`)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let sh install the trap
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("not exited after Stop")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stopped after %v: SIGTERM was not ignored, test proves nothing", d)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestSiteToSite(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	s, err := lab.NewSiteToSite("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, err := lab.Ping(ctx, s.Left, s.LeftOuter, s.RightOuter, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3 received") {
		t.Errorf("ping output:\n%s", out)
	}
	// Without a tunnel the LANs cannot reach each other: no route.
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 1); err == nil {
		t.Errorf("inner ping succeeded without a tunnel:\n%s", out)
	}
	for _, ns := range []*lab.Namespace{s.Left, s.Right} {
		out, err := ns.Run(ctx, "ip", "-o", "addr", "show")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{lab.OuterIf, lab.InnerIf} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: no %s in\n%s", ns, want, out)
			}
		}
	}

	const n = 10 << 20
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, n)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Intact || res.Bytes != n || res.Duration <= 0 {
		t.Errorf("TCPTransfer: %v", res)
	}
	t.Logf("TCPTransfer over veth: %v", res)

	// The other direction, to the inner address of the receiver's own LAN
	// (local delivery, no routing between sites needed).
	res, err = lab.TCPTransfer(ctx, s.Right, s.Left, netip.Addr{}, s.LeftOuter, 1)
	if err != nil || !res.Intact || res.Bytes != 1 {
		t.Errorf("1-byte TCPTransfer right->left: %v, %v", res, err)
	}

	res, err = lab.TCPThroughput(ctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Intact || res.Bytes == 0 || res.Duration < 500*time.Millisecond {
		t.Errorf("TCPThroughput: %v", res)
	}
	t.Logf("TCPThroughput over veth: %v", res)

	// A cancelled context stops a transfer instead of hanging.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := lab.TCPTransfer(cctx, s.Left, s.Right, s.LeftOuter, s.RightOuter, n); err == nil {
		t.Error("TCPTransfer with cancelled context succeeded")
	}
	// Nothing listens on an unconfigured address.
	if _, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftOuter, netip.MustParseAddr("192.0.2.99"), 1); err == nil {
		t.Error("TCPTransfer to an address the receiver does not have succeeded")
	}

	names := []string{s.Left.Name, s.Right.Name}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	list := netnsList(t)
	for _, name := range names {
		if hasNetns(list, name) {
			t.Errorf("%s still listed after Close", name)
		}
	}
}

// Two topologies with the same prefix coexist (unique names, interfaces
// never in the caller's namespace).
func TestSiteToSiteConcurrent(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	a, err := lab.NewSiteToSite("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lab.NewSiteToSite("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Left.Name == b.Left.Name {
		t.Fatalf("same name %s twice", a.Left.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []*lab.SiteToSite{a, b} {
		if out, err := lab.Ping(ctx, s.Right, s.RightOuter, s.LeftOuter, 1); err != nil {
			t.Errorf("%s: %v\n%s", s.Right, err, out)
		}
	}
}
