//go:build netns

package netns

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// Short lifetimes so that a 12-second transfer crosses several rekeys.
const (
	shortIKELife   = "rekey_time = 5s\n        over_time = 60s\n        rand_time = 1s"
	shortChildLife = "rekey_time = 2s\n                life_time = 60s\n                rand_time = 1s"
)

// TestGoipsecRekeys: goipsec rekeys the Child SA every ~2s and the IKE SA
// every ~5s (CREATE_CHILD_SA as initiator, RFC 7296 1.3.2, 1.3.3) while a
// TCP transfer runs: the data arrives intact and neither data plane ever
// saw an ESP packet for an SA it did not have (make-before-break). With
// both sides rekeying, their rekeys collide now and then (RFC 7296 2.8.1).
func TestGoipsecRekeys(t *testing.T) {
	for _, who := range []string{"left", "both"} {
		t.Run(who+"-rekeys", func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
			lc.extraConn, lc.extraChild = shortIKELife, shortChildLife
			if who == "both" {
				rc.extraConn, rc.extraChild = lc.extraConn, lc.extraChild
			}
			left := startDaemon(t, s.Left, "left", lc.String())
			right := startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 120*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			first := childOf(t, left.sas(ctx))["spi-in"]
			firstIKE := left.sas(ctx)[0]["site"].(map[string]any)["uniqueid"]
			res, err := lab.TCPThroughput(ctxFor(t, 40*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, 12*time.Second)
			if err != nil || !res.Intact {
				t.Fatalf("TCP across rekeys: %v %v", res, err)
			}
			t.Logf("TCP across rekeys: %v", res)
			waitUntil(t, "one IKE SA with one Child SA on each side", 15*time.Second, func() bool {
				return oneChild(left.sas(ctx)) && oneChild(right.sas(ctx))
			})
			if c := childOf(t, left.sas(ctx)); c["spi-in"] == first {
				t.Errorf("Child SA was not rekeyed: SPI %v", first)
			}
			if id := left.sas(ctx)[0]["site"].(map[string]any)["uniqueid"]; id == firstIKE {
				t.Errorf("IKE SA was not rekeyed (unique id %v)", id)
			}
			for name, d := range map[string]*daemon{"left": left, "right": right} {
				drops := dropsOf(ctx, t, d)
				t.Logf("%s drops: no_sa %v no_policy %v replay %v auth %v", name, drops["esp-no_sa"], drops["esp-no_policy"], drops["esp-replay"], drops["esp-auth"])
				for _, k := range []string{"esp-no_sa", "esp-no_policy", "esp-auth"} {
					if drops[k] != "0" {
						t.Errorf("%s dropped ESP (%s = %v): a rekey broke before it made", name, k, drops[k])
					}
				}
			}
		})
	}
}

// TestGoipsecRekeysStrongSwan: goipsec starts the rekeys of the Child SA
// and of the IKE SA against strongSwan while TCP runs through the tunnel.
func TestGoipsecRekeysStrongSwan(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	lc.extraConn, lc.extraChild = shortIKELife, shortChildLife
	charon := startCharon(t, s.Right, rc.String()) // strongSwan's default lifetimes: 4h and 1h
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 120*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	first := childOf(t, left.sas(ctx))["spi-in"]
	res, err := lab.TCPThroughput(ctxFor(t, 40*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, 12*time.Second)
	if err != nil || !res.Intact {
		t.Fatalf("TCP across rekeys: %v %v", res, err)
	}
	t.Logf("TCP across goipsec's rekeys: %v", res)
	waitUntil(t, "one IKE SA with one Child SA", 15*time.Second, func() bool { return oneChild(left.sas(ctx)) })
	if c := childOf(t, left.sas(ctx)); c["spi-in"] == first {
		t.Errorf("Child SA was not rekeyed")
	}
	out, _ := charon.Swanctl(ctx, "--list-sas")
	t.Logf("strongSwan after goipsec's rekeys:\n%s", out)
	if n := strings.Count(out, "ESTABLISHED"); n != 1 {
		t.Errorf("strongSwan has %d IKE SAs, want 1", n)
	}
	if strings.Count(out, "INSTALLED") != 1 {
		t.Errorf("strongSwan does not have exactly one installed Child SA")
	}
	if !strings.Contains(out, "#") || strings.Contains(out, "#1,") {
		t.Errorf("strongSwan's IKE SA was not replaced:\n%s", out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
		t.Fatalf("ping after rekeys: %v\n%s", err, out)
	}
}

// TestDPDDetectsDeadPeer: the right daemon is killed without a word;
// after dpd_delay of silence the left one sends liveness checks, gives up
// after its retransmissions (RFC 7296 2.4) and clears the SAs.
func TestDPDDetectsDeadPeer(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.extraConn = "dpd_delay = 2s"
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 150*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if err := right.proc.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-right.proc.Done()
	killed := time.Now()
	// 2s of silence, then 1+2+4+8+16+32s of retransmissions.
	waitUntil(t, "left clears the SAs of the dead peer", 90*time.Second, func() bool { return len(left.sas(ctx)) == 0 })
	t.Logf("dead peer detected after %v", time.Since(killed).Round(100*time.Millisecond))
	if d := time.Since(killed); d < 60*time.Second {
		t.Errorf("SAs cleared after %v, before the retransmissions could have run out", d)
	}
}

func oneChild(sas []map[string]any) bool {
	if len(sas) != 1 {
		return false
	}
	sa, _ := sas[0]["site"].(map[string]any)
	children, _ := sa["child-sas"].(map[string]any)
	return len(children) == 1
}

func dropsOf(ctx context.Context, t *testing.T, d *daemon) map[string]any {
	t.Helper()
	st, err := d.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drops, _ := st["goipsec-drops"].(map[string]any)
	return drops
}

// TestRekeyCollisionsStrongSwan: goipsec and strongSwan both rekey every
// few seconds, so their CREATE_CHILD_SA exchanges cross now and then
// (RFC 7296 2.8.1): whatever the ordering, TCP gets through intact and
// both end with one IKE SA and one Child SA.
func TestRekeyCollisionsStrongSwan(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	// No random jitter and the same times on both sides: after each rekey
	// both restart their timers within a round trip of each other, so the
	// next rekeys start together and cross.
	lc.extraConn = "rekey_time = 7s\n        over_time = 60s\n        rand_time = 0s"
	lc.extraChild = "rekey_time = 2s\n                life_time = 60s\n                rand_time = 0s"
	rc.extraConn, rc.extraChild = lc.extraConn, lc.extraChild
	charon := startCharon(t, s.Right, rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 120*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	res, err := lab.TCPThroughput(ctxFor(t, 40*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, 15*time.Second)
	if err != nil || !res.Intact {
		out, _ := charon.Swanctl(ctx, "--list-sas")
		t.Fatalf("TCP across rekeys from both sides: %v %v\nstrongSwan:\n%s", res, err, out)
	}
	t.Logf("TCP across rekeys from both sides: %v", res)
	glog, _ := os.ReadFile(left.log)
	t.Logf("goipsec: %d Child SA rekeys, %d IKE SA rekeys, %d collisions, %d TEMPORARY_FAILUREs; strongSwan: %d rekeys seen in its log",
		strings.Count(string(glog), "Child SA rekeyed")+strings.Count(string(glog), "peer rekeys Child SA"),
		strings.Count(string(glog), "IKE SA rekeyed")+strings.Count(string(glog), "peer rekeyed the IKE SA"),
		strings.Count(string(glog), "collision\""), strings.Count(string(glog), "TEMPORARY_FAILURE"),
		strings.Count(charon.Log(), "rekey"))
	_, rerr := os.Stat(left.log)
	if rerr != nil {
		t.Logf("goipsec log: %v", rerr)
	}
	waitUntil(t, "goipsec between rekeys with one IKE SA and one Child SA", 10*time.Second, func() bool { return oneChild(left.sas(ctx)) })
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("strongSwan's SAs at the end:\n%s", last)
		}
	}()
	waitUntil(t, "strongSwan between rekeys with one IKE SA and one Child SA", 10*time.Second, func() bool {
		out, err := charon.Swanctl(ctx, "--list-sas")
		last = fmt.Sprintf("%s(err %v, %d ESTABLISHED, %d INSTALLED)", out, err, strings.Count(out, "ESTABLISHED"), strings.Count(out, "INSTALLED"))
		// Replaced SAs linger as REKEYED for strongSwan's delete_rekeyed_delay;
		// redundant ones from collisions must not stay INSTALLED.
		return err == nil && strings.Count(out, "ESTABLISHED") == 1 && strings.Count(out, "INSTALLED") == 1
	})
	for _, l := range strings.Split(string(glog), "\n") {
		if strings.Contains(l, "collision") {
			t.Log(l)
		}
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 3); err != nil {
		t.Fatalf("ping after rekeys: %v\n%s", err, out)
	}
}
