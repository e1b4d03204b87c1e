//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// startCharon runs strongSwan's charon (kernel-libipsec data plane) in ns
// with conf loaded.
func startCharon(t *testing.T, ns *lab.Namespace, conf string) *lab.Charon {
	t.Helper()
	labtest.RequireStrongSwan(t)
	c, err := lab.StartCharon(ns, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- charon log ---\n%s", c.Log())
		}
		c.Stop()
	})
	if err := c.LoadConfig(conf); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStrongSwan runs goipsec (left) against strongSwan (right) for each
// suite and each initiator: SAs come up on both sides with the expected
// algorithms, traffic passes both ways intact, and `goipsec down` deletes
// the SAs on both sides (checked with swanctl --list-sas).
func TestStrongSwan(t *testing.T) {
	for _, sc := range suites {
		for _, initiator := range []string{"goipsec", "strongswan"} {
			t.Run(sc.name+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology(t)
				lc, rc := confs(s, sc.ike, sc.esp)
				charon := startCharon(t, s.Right, rc.String())
				left := startDaemon(t, s.Left, "left", lc.String())
				ctx := ctxFor(t, 120*time.Second)
				if initiator == "goipsec" {
					if out, err := left.cli(ctx, "up", "site"); err != nil {
						t.Fatalf("goipsec up: %v\n%s", err, out)
					}
				} else {
					if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
						t.Fatalf("swanctl --initiate: %v\n%s", err, out)
					}
				}
				c := childOf(t, left.sas(ctx))
				if c["encr-alg"] != sc.encrAlg {
					t.Errorf("goipsec child SA: %v", c)
				}
				out, err := charon.Swanctl(ctx, "--list-sas")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED", strings.ReplaceAll(sc.encrAlg, "_16", "_16-256")) && !contains(out, "ESTABLISHED", "INSTALLED", sc.encrAlg) {
					t.Fatalf("strongSwan --list-sas: %v\n%s", err, out)
				}
				t.Logf("strongSwan --list-sas:\n%s", out)
				checkTraffic(ctx, t, s)
				if out, err := left.cli(ctx, "down", "site"); err != nil {
					t.Fatalf("goipsec down: %v\n%s", err, out)
				}
				waitUntil(t, "strongSwan's SAs deleted", 10*time.Second, func() bool {
					out, err := charon.Swanctl(ctx, "--list-sas")
					return err == nil && !strings.Contains(out, "ESTABLISHED") && !strings.Contains(out, "INSTALLED")
				})
				if n := len(left.sas(ctx)); n != 0 {
					t.Errorf("goipsec still has %d IKE SAs", n)
				}
			})
		}
	}
}

// TestStrongSwanTerminates: a DELETE from strongSwan removes goipsec's SAs.
func TestStrongSwanTerminates(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	charon := startCharon(t, s.Right, rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 60*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if out, err := charon.Swanctl(ctx, "--terminate", "--ike", "site", "--timeout", "10"); err != nil {
		t.Fatalf("swanctl --terminate: %v\n%s", err, out)
	}
	waitUntil(t, "goipsec's SAs deleted", 5*time.Second, func() bool { return len(left.sas(ctx)) == 0 })
}

// TestStrongSwanWrongPSK: strongSwan refuses a wrong PSK and goipsec says so.
func TestStrongSwanWrongPSK(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	rc.psk = "strongSwan knows another secret"
	charon := startCharon(t, s.Right, rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 60*time.Second)
	out, err := left.cli(ctx, "up", "site")
	if err == nil || !strings.Contains(out, "AUTHENTICATION_FAILED") {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if n := len(left.sas(ctx)); n != 0 {
		t.Errorf("goipsec kept %d IKE SAs", n)
	}
	waitUntil(t, "no SA on strongSwan", 5*time.Second, func() bool {
		out, err := charon.Swanctl(ctx, "--list-sas")
		return err == nil && !strings.Contains(out, "ESTABLISHED")
	})
}
