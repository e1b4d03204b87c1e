//go:build netns

package netns

import (
	"testing"
	"time"
)

// TestGoipsecToGoipsecMLKEM brings up a tunnel between two goipsec
// daemons over real sockets with additional ML-KEM key exchanges in
// IKE_INTERMEDIATE exchanges (RFC 9370, RFC 9242), and with ML-KEM as
// the only key exchange, and checks traffic through the tunnel.
func TestGoipsecToGoipsecMLKEM(t *testing.T) {
	for _, ike := range []string{
		"aes256gcm16-prfsha384-x25519-ke1_mlkem768",
		"aes256gcm16-prfsha384-ecp384-ke1_mlkem1024-ke2_mlkem768",
		"aes256gcm16-prfsha384-mlkem768",
	} {
		t.Run(ike, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, ike, "aes256gcm16")
			left := startDaemon(t, s.Left, "left", lc.String())
			right := startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 90*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			for _, d := range []*daemon{left, right} {
				if c := childOf(t, d.sas(ctx)); c["state"] != "INSTALLED" {
					t.Fatalf("child SA: %v", c)
				}
			}
			checkTraffic(ctx, t, s)
			if out, err := left.cli(ctx, "down", "site"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
			waitUntil(t, "SAs deleted on both sides", 5*time.Second, func() bool {
				return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
			})
		})
	}
}
