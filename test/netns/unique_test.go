//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestUniqueStrongSwan: strongSwan (reuse_ikesa = no, unique = never, so
// it sends no INITIAL_CONTACT the second time) initiates the same
// connection twice to goipsec; goipsec's uniqueness policy decides. With
// replace, goipsec deletes the first IKE SA (strongSwan hears the DELETE
// and is left with the second); with keep it refuses the second with
// AUTHENTICATION_FAILED and the first stays.
func TestUniqueStrongSwan(t *testing.T) {
	for _, policy := range []string{"replace", "keep"} {
		t.Run(policy, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			lc.extraConn = "unique = never"
			rc.extraConn = "unique = " + policy
			charon := startCharonWith(t, s.Left, lc.String(), "reuse_ikesa = no")
			right := startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 90*time.Second)
			if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net"); err != nil {
				t.Fatalf("first initiate: %v\n%s", err, out)
			}
			waitUntil(t, "goipsec has the first IKE SA", 10*time.Second, func() bool { return len(right.sas(ctx)) == 1 })
			first := right.sas(ctx)[0]["site"].(map[string]any)["uniqueid"]
			out, err := charon.Swanctl(ctx, "--initiate", "--child", "net")
			switch policy {
			case "replace":
				if err != nil {
					t.Fatalf("second initiate: %v\n%s", err, out)
				}
			case "keep":
				if err == nil || !strings.Contains(out, "AUTHENTICATION_FAILED") {
					t.Fatalf("second initiate was not refused (err %v):\n%s", err, out)
				}
			}
			waitUntil(t, "one IKE SA on each side", 20*time.Second, func() bool {
				out, _ := charon.Swanctl(ctx, "--list-sas")
				return len(right.sas(ctx)) == 1 && strings.Count(out, "ESTABLISHED") == 1
			})
			id := right.sas(ctx)[0]["site"].(map[string]any)["uniqueid"]
			if (policy == "replace") == (id == first) {
				t.Errorf("unique = %s: goipsec kept IKE SA %v (the first was %v)", policy, id, first)
			}
			if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
				t.Fatalf("ping through the remaining tunnel: %v\n%s", err, out)
			}
		})
	}
}
