//go:build netns

package netns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var suites = []struct {
	name, ike, esp, encrAlg string
}{
	{"aes256gcm", "aes256gcm16-prfsha256-x25519", "aes256gcm16", "AES_GCM_16"},
	{"chacha20poly1305", "chacha20poly1305-prfsha384-ecp256", "chacha20poly1305", "CHACHA20_POLY1305"},
}

// TestGoipsecToGoipsec brings up a tunnel between two goipsec daemons,
// each side initiating once, checks traffic and that `goipsec down`
// deletes the SAs on both sides.
func TestGoipsecToGoipsec(t *testing.T) {
	for _, sc := range suites {
		for _, initiator := range []string{"left", "right"} {
			t.Run(sc.name+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology(t)
				lc, rc := confs(s, sc.ike, sc.esp)
				left := startDaemon(t, s.Left, "left", lc.String())
				right := startDaemon(t, s.Right, "right", rc.String())
				init, resp := left, right
				if initiator == "right" {
					init, resp = right, left
				}
				ctx := ctxFor(t, 90*time.Second)
				if out, err := init.cli(ctx, "up", "site"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
				for _, d := range []*daemon{init, resp} {
					c := childOf(t, d.sas(ctx))
					if c["encr-alg"] != sc.encrAlg || c["state"] != "INSTALLED" {
						t.Fatalf("child SA: %v", c)
					}
				}
				checkTraffic(ctx, t, s)
				// The counters saw the traffic.
				c := childOf(t, left.sas(ctx))
				if c["bytes-out"] == "0" || c["bytes-in"] == "0" {
					t.Errorf("left counters did not move: %v", c)
				}
				out, err := init.cli(ctx, "status")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED", s.LeftNet.String(), s.RightNet.String()) {
					t.Errorf("goipsec status: %v\n%s", err, out)
				}
				if out, err := init.cli(ctx, "down", "site"); err != nil {
					t.Fatalf("goipsec down: %v\n%s", err, out)
				}
				waitUntil(t, "SAs deleted on both sides", 5*time.Second, func() bool {
					return len(init.sas(ctx)) == 0 && len(resp.sas(ctx)) == 0
				})
				if _, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 1); err == nil {
					t.Error("ping still passes after the tunnel was deleted")
				}
			})
		}
	}
}

// TestWrongPSK: the user hears AUTHENTICATION_FAILED and no SA is left.
func TestWrongPSK(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	rc.psk = "not the same secret at all"
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 60*time.Second)
	out, err := left.cli(ctx, "up", "site")
	if err == nil {
		t.Fatalf("goipsec up succeeded with a wrong PSK:\n%s", out)
	}
	if !strings.Contains(out, "AUTHENTICATION_FAILED") {
		t.Fatalf("goipsec up did not report AUTHENTICATION_FAILED:\n%s", out)
	}
	t.Logf("goipsec up said: %s", strings.TrimSpace(out))
	waitUntil(t, "no SAs on either side", 5*time.Second, func() bool {
		return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
	})
}

// TestStartActionStart: a child with start_action=start comes up when the
// daemons start, without anyone running `up`.
func TestStartActionStart(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	lc.startAct = "start"
	right := startDaemon(t, s.Right, "right", rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 30*time.Second)
	waitUntil(t, "tunnel up by start_action", 10*time.Second, func() bool {
		return len(left.sas(ctx)) == 1 && len(right.sas(ctx)) == 1
	})
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

// TestShutdownDeletes: stopping a daemon (SIGTERM) tells the peer, which
// removes its SAs too.
func TestShutdownDeletes(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 30*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if err := left.proc.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	waitUntil(t, "right's SAs deleted after left shut down", 5*time.Second, func() bool {
		return len(right.sas(ctx)) == 0
	})
}

// TestGarbageDoesNotDisturb: junk on the IKE and NAT-T ports is dropped and
// counted while the tunnel keeps carrying traffic.
func TestGarbageDoesNotDisturb(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 60*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	// From the left namespace, spray the right daemon's ports.
	junk := []string{
		"\x00", "\xff", strings.Repeat("\x00", 4) + "garbage IKE", "\x01\x02\x03\x04\x00\x00\x00\x01" + strings.Repeat("A", 64),
		strings.Repeat("\x17", 300),
	}
	err := s.Left.Do(func() error {
		for _, port := range []uint16{500, 4500} {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.RightOuter, port)))
			if err != nil {
				return err
			}
			for _, j := range junk {
				if _, err := c.Write([]byte(j)); err != nil {
					return err
				}
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sending junk: %v", err)
	}
	checkTraffic(ctx, t, s)
	st, err := right.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drops, _ := st["goipsec-drops"].(map[string]any)
	t.Logf("right's drop counters: %v", drops)
	if drops["ike-malformed"] == "0" && drops["esp-malformed"] == "0" {
		t.Errorf("junk not counted: %v", drops)
	}
}

// TestPeerRestart: the left daemon dies without a word (SIGKILL) and comes
// back; its new IKE_AUTH carries INITIAL_CONTACT, so the right daemon drops
// the stale SAs and traffic flows through the new tunnel at once.
func TestPeerRestart(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	left := startDaemon(t, s.Left, "left", lc.String())
	right := startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 60*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if err := left.proc.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-left.proc.Done()
	if n := len(right.sas(ctx)); n != 1 {
		t.Fatalf("right has %d IKE SAs after the kill, want the stale one", n)
	}
	left = startDaemon(t, s.Left, "left-again", lc.String())
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up after restart: %v\n%s", err, out)
	}
	waitUntil(t, "right keeps only the new IKE SA", 5*time.Second, func() bool { return len(right.sas(ctx)) == 1 })
	checkTraffic(ctx, t, s)
}

// TestGoipsecESPTransforms: goipsec to goipsec with transforms strongSwan's
// userspace data plane lacks (CCM, GMAC, ESN).
func TestGoipsecESPTransforms(t *testing.T) {
	for _, tc := range []struct{ esp, encr, integ string }{
		{"aes256-sha256-esn", "AES_CBC", "HMAC_SHA2_256_128"},
		{"aes128ccm16", "AES_CCM_16", ""},
		{"aes256gmac", "NULL_AUTH_AES_GMAC", ""},
		{"aes256ctr-sha512", "AES_CTR", "HMAC_SHA2_512_256"},
		{"aes256gcm16-esn", "AES_GCM_16", ""},
	} {
		t.Run(tc.esp, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, suites[0].ike, tc.esp)
			left := startDaemon(t, s.Left, "left", lc.String())
			startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 60*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			c := childOf(t, left.sas(ctx))
			integ, _ := c["integ-alg"].(string)
			if c["encr-alg"] != tc.encr || integ != tc.integ {
				t.Errorf("child SA algorithms %v/%v, want %s/%s", c["encr-alg"], integ, tc.encr, tc.integ)
			}
			if strings.Contains(tc.esp, "esn") != (c["esn"] == "1") {
				t.Errorf("ESN negotiated: %v", c["esn"])
			}
			checkTraffic(ctx, t, s)
		})
	}
}
