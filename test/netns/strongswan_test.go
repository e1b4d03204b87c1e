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
	return startCharonWith(t, ns, conf, "")
}

// startCharonWith is startCharon with extra strongswan.conf charon lines.
func startCharonWith(t *testing.T, ns *lab.Namespace, conf, charonConf string) *lab.Charon {
	t.Helper()
	c := runCharon(t, ns, charonConf)
	if err := c.LoadConfig(conf); err != nil {
		t.Fatal(err)
	}
	return c
}

// runCharon starts charon in ns with extra strongswan.conf charon lines and
// no swanctl.conf yet (callers put credentials into its Dir first); it is
// stopped at the end of the test, and its log shown if the test failed.
func runCharon(t *testing.T, ns *lab.Namespace, charonConf string) *lab.Charon {
	t.Helper()
	labtest.RequireStrongSwan(t)
	c, err := lab.StartCharonWith(ns, t.TempDir(), charonConf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- charon log ---\n%s", c.Log())
		}
		c.Stop()
	})
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

// TestStrongSwanRekeys: strongSwan rekeys the Child SA and the IKE SA every
// few seconds (CREATE_CHILD_SA, RFC 7296 1.3.2, 1.3.3) while TCP runs
// through the tunnel; goipsec answers, moves to the new SAs, and not a
// byte is lost or corrupted.
func TestStrongSwanRekeys(t *testing.T) {
	for _, initiator := range []string{"goipsec", "strongswan"} {
		t.Run(initiator+"-initiates", func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
			lc.esp = "aes256gcm16-x25519" // PFS on child rekeys
			// Hard lifetimes well beyond the rekeys: strongSwan otherwise
			// schedules a delete at rekey_time + 10% that races the rekey.
			rc.extraConn = "rekey_time = 5s\n        over_time = 60s\n        rand_time = 0s"
			rc.extraChild = "rekey_time = 2s\n                life_time = 60s\n                rand_time = 0s"
			charon := startCharon(t, s.Right, rc.String())
			left := startDaemon(t, s.Left, "left", lc.String())
			ctx := ctxFor(t, 120*time.Second)
			if initiator == "goipsec" {
				if out, err := left.cli(ctx, "up", "site"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
			} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			first := childOf(t, left.sas(ctx))["spi-in"]
			res, err := lab.TCPThroughput(ctxFor(t, 30*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, 12*time.Second)
			if err != nil || !res.Intact {
				t.Fatalf("TCP across rekeys: %v %v", res, err)
			}
			t.Logf("TCP across rekeys: %v", res)
			waitUntil(t, "one IKE SA with one Child SA after the old ones were deleted", 10*time.Second, func() bool {
				sas := left.sas(ctx)
				if len(sas) != 1 {
					return false
				}
				sa, _ := sas[0]["site"].(map[string]any)
				children, _ := sa["child-sas"].(map[string]any)
				return len(children) == 1
			})
			c := childOf(t, left.sas(ctx))
			if c["spi-in"] == first {
				t.Errorf("Child SA was not rekeyed: SPI %v", first)
			}
			sa := left.sas(ctx)[0]["site"].(map[string]any)
			if sa["uniqueid"] == "1" {
				t.Errorf("IKE SA was not rekeyed: %v", sa)
			}
			out, _ := charon.Swanctl(ctx, "--list-sas")
			t.Logf("strongSwan after rekeys:\n%s", out)
			if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
				t.Fatalf("ping after rekeys: %v\n%s", err, out)
			}
			if out, err := left.cli(ctx, "down", "site"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
			waitUntil(t, "strongSwan's SAs deleted", 10*time.Second, func() bool {
				out, err := charon.Swanctl(ctx, "--list-sas")
				return err == nil && !strings.Contains(out, "ESTABLISHED")
			})
		})
	}
}

// TestStrongSwanESPTransforms: ESP with the cipher+integrity transforms
// (RFC 3602, 3686, 4868, 2404) that strongSwan's userspace data plane
// supports, goipsec initiating: SAs agree and traffic passes both ways.
func TestStrongSwanESPTransforms(t *testing.T) {
	for _, tc := range []struct{ esp, encr, integ string }{
		{"aes256-sha256", "AES_CBC", "HMAC_SHA2_256_128"},
		{"aes128-sha1", "AES_CBC", "HMAC_SHA1_96"},
		{"aes192-sha384", "AES_CBC", "HMAC_SHA2_384_192"},
		{"aes256-sha512", "AES_CBC", "HMAC_SHA2_512_256"},
		{"aes128ctr-sha256", "AES_CTR", "HMAC_SHA2_256_128"},
	} {
		t.Run(tc.esp, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", tc.esp)
			charon := startCharon(t, s.Right, rc.String())
			left := startDaemon(t, s.Left, "left", lc.String())
			ctx := ctxFor(t, 60*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			c := childOf(t, left.sas(ctx))
			if c["encr-alg"] != tc.encr || c["integ-alg"] != tc.integ {
				t.Errorf("child SA algorithms: %v/%v, want %s/%s", c["encr-alg"], c["integ-alg"], tc.encr, tc.integ)
			}
			out, err := charon.Swanctl(ctx, "--list-sas")
			if err != nil || !strings.Contains(out, "INSTALLED") {
				t.Fatalf("strongSwan --list-sas: %v\n%s", err, out)
			}
			t.Logf("strongSwan: %s", strings.TrimSpace(strings.Split(strings.Split(out, "ESP:")[1], "\n")[0]))
			checkTraffic(ctx, t, s)
		})
	}
}
