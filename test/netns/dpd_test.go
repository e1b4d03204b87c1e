//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestDPDStrongSwan: dead peer detection (RFC 7296 2.4) between goipsec
// and strongSwan, each side checking the other with dpd_delay = 2s and a
// short retransmission schedule. While both run, the liveness checks are
// answered and the tunnel stays; once the checked side is killed without a
// word, the checking side clears its SAs.
func TestDPDStrongSwan(t *testing.T) {
	t.Run("goipsec-checks", func(t *testing.T) {
		s := topology(t)
		lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		lc.extraConn = "dpd_delay = 2s"
		charon := startCharon(t, s.Right, rc.String())
		left := startDaemon(t, s.Left, "left", lc.String(), "--retransmit-timeout", "500ms", "--retransmit-tries", "3")
		ctx := ctxFor(t, 90*time.Second)
		if out, err := left.cli(ctx, "up", "site"); err != nil {
			t.Fatalf("goipsec up: %v\n%s", err, out)
		}
		time.Sleep(8 * time.Second) // idle: several liveness checks, all answered
		if !oneChild(left.sas(ctx)) {
			t.Fatal("goipsec dropped a live strongSwan peer")
		}
		if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 1); err != nil {
			t.Fatalf("ping after idle DPD: %v\n%s", err, out)
		}
		if err := charon.Process().Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-charon.Process().Done()
		killed := time.Now()
		// 2s of silence, then 0.5+1+2+4s of retransmissions.
		waitUntil(t, "goipsec clears the SAs of the dead strongSwan", 30*time.Second, func() bool { return len(left.sas(ctx)) == 0 })
		t.Logf("dead strongSwan detected after %v", time.Since(killed).Round(100*time.Millisecond))
	})
	t.Run("strongswan-checks", func(t *testing.T) {
		s := topology(t)
		lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		lc.extraConn = "dpd_delay = 2s"
		// charon: 1s, 1s, 1s (retransmit_base 1 keeps the timeout flat).
		charon := startCharonWith(t, s.Left, lc.String(), "retransmit_timeout = 1.0\n    retransmit_base = 1.0\n    retransmit_tries = 2")
		right := startDaemon(t, s.Right, "right", rc.String())
		ctx := ctxFor(t, 90*time.Second)
		if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net"); err != nil {
			t.Fatalf("strongSwan initiate: %v\n%s", err, out)
		}
		time.Sleep(8 * time.Second)
		out, _ := charon.Swanctl(ctx, "--list-sas")
		if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, "INSTALLED") {
			t.Fatalf("strongSwan dropped a live goipsec peer:\n%s", out)
		}
		// charon logs each liveness check it sends (IKE log level 1).
		if n := strings.Count(charon.Log(), "sending DPD request"); n < 2 {
			t.Errorf("strongSwan sent %d DPD requests in 8 idle seconds, want at least 2", n)
		}
		if err := right.proc.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-right.proc.Done()
		killed := time.Now()
		waitUntil(t, "strongSwan clears the SAs of the dead goipsec", 30*time.Second, func() bool {
			out, _ := charon.Swanctl(ctx, "--list-sas")
			return !strings.Contains(out, "ESTABLISHED")
		})
		t.Logf("dead goipsec detected after %v", time.Since(killed).Round(100*time.Millisecond))
	})
}
