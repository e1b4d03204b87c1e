//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestChildlessStrongSwan: childless IKE SAs (RFC 6023) with strongSwan
// each way. The IKE SA comes up alone (swanctl --initiate --ike,
// goipsec up --ike), then the Child SA follows with CREATE_CHILD_SA; and
// goipsec with childless = force creates even the first Child SA that
// way.
func TestChildlessStrongSwan(t *testing.T) {
	childCount := func(sas []map[string]any) int {
		if len(sas) != 1 {
			return -1
		}
		sa, _ := sas[0]["site"].(map[string]any)
		children, _ := sa["child-sas"].(map[string]any)
		return len(children)
	}
	t.Run("strongswan-initiates", func(t *testing.T) {
		s := topology(t)
		lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		charon := startCharon(t, s.Left, lc.String())
		right := startDaemon(t, s.Right, "right", rc.String())
		ctx := ctxFor(t, 60*time.Second)
		if out, err := charon.Swanctl(ctx, "--initiate", "--ike", "site"); err != nil {
			t.Fatalf("strongSwan --initiate --ike: %v\n%s", err, out)
		}
		if n := childCount(right.sas(ctx)); n != 0 {
			t.Fatalf("goipsec has %d Child SAs on a childless IKE SA", n)
		}
		if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net"); err != nil {
			t.Fatalf("strongSwan --initiate --child: %v\n%s", err, out)
		}
		waitUntil(t, "the Child SA on goipsec", 10*time.Second, func() bool { return childCount(right.sas(ctx)) == 1 })
		if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
		out, _ := charon.Swanctl(ctx, "--list-sas")
		if strings.Count(out, "ESTABLISHED") != 1 || strings.Count(out, "INSTALLED") != 1 {
			t.Errorf("strongSwan does not have one IKE SA with one Child SA:\n%s", out)
		}
	})
	for _, force := range []bool{false, true} {
		name := "goipsec-up-ike"
		if force {
			name = "goipsec-childless-force"
		}
		t.Run(name, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			if force {
				lc.extraConn = "childless = force"
			}
			charon := startCharon(t, s.Right, rc.String())
			left := startDaemon(t, s.Left, "left", lc.String())
			ctx := ctxFor(t, 60*time.Second)
			if !force {
				if out, err := left.cli(ctx, "up", "site", "--ike"); err != nil {
					t.Fatalf("goipsec up --ike: %v\n%s", err, out)
				}
				out, _ := charon.Swanctl(ctx, "--list-sas")
				if !strings.Contains(out, "ESTABLISHED") || strings.Contains(out, "INSTALLED") {
					t.Fatalf("strongSwan after a childless IKE SA:\n%s", out)
				}
				if n := childCount(left.sas(ctx)); n != 0 {
					t.Fatalf("goipsec has %d Child SAs on a childless IKE SA", n)
				}
			}
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			if n := childCount(left.sas(ctx)); n != 1 {
				t.Fatalf("goipsec has %d Child SAs, want 1", n)
			}
			if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			if force && !strings.Contains(charon.Log(), "CREATE_CHILD_SA request") {
				t.Errorf("strongSwan saw no CREATE_CHILD_SA: the first Child SA came in IKE_AUTH")
			}
		})
	}
}
