//go:build netns

package netns

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// shortReauth makes an IKE SA reauthenticate every 5-6 s (swanctl.conf
// reauth_time; rekey_time then defaults to 0).
const shortReauth = "reauth_time = 6s\n        over_time = 60s\n        rand_time = 1s"

// TestReauthStrongSwan: reauthentication (a new IKE SA from IKE_SA_INIT
// on, its Child SA recreated, the old IKE SA deleted) while a TCP
// transfer runs, against strongSwan both ways: goipsec reauthenticating
// make-before-break, and strongSwan reauthenticating with its default
// break-before-make and with charon.make_before_break = yes. The
// transfer arrives intact and each side ends with one IKE SA, replaced
// (not the first), with one Child SA.
func TestReauthStrongSwan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		goipsec   bool   // goipsec reauthenticates (else strongSwan)
		charonCfg string // strongswan.conf charon lines
	}{
		{name: "goipsec", goipsec: true},
		{name: "strongswan-break-before-make"},
		{name: "strongswan-make-before-break", charonCfg: "make_before_break = yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			if tc.goipsec {
				lc.extraConn = shortReauth
			} else {
				rc.extraConn = shortReauth
			}
			left := startDaemon(t, s.Left, "left", lc.String())
			charon := startCharonWith(t, s.Right, rc.String(), tc.charonCfg)
			ctx := ctxFor(t, 120*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			first := left.sas(ctx)[0]["site"].(map[string]any)["uniqueid"]
			res, err := lab.TCPThroughput(ctxFor(t, 40*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, 14*time.Second)
			if err != nil || !res.Intact {
				t.Fatalf("TCP across reauthentications: %v %v", res, err)
			}
			t.Logf("TCP across reauthentications: %v", res)
			waitUntil(t, "one IKE SA with one Child SA on each side", 20*time.Second, func() bool {
				out, _ := charon.Swanctl(ctx, "--list-sas")
				return oneChild(left.sas(ctx)) && strings.Count(out, "ESTABLISHED") == 1 && strings.Count(out, "INSTALLED") == 1
			})
			sas := left.sas(ctx)
			if id := sas[0]["site"].(map[string]any)["uniqueid"]; id == first {
				t.Errorf("goipsec still has its first IKE SA (%v)", id)
			}
			out, _ := charon.Swanctl(ctx, "--list-sas")
			t.Logf("strongSwan after the reauthentications:\n%s", out)
			if strings.Contains(out, "#1,") {
				t.Errorf("strongSwan's first IKE SA is still there")
			}
			// A reauthentication is a new IKE_SA_INIT and IKE_AUTH:
			// strongSwan logs "IKE_SA site[N] established between" for
			// each (a rekey would be "rekeyed between").
			log := charon.Log()
			if n := strings.Count(log, "] established between"); n < 2 {
				t.Errorf("strongSwan's log names %d IKE SAs, want several:\n%s", n, tail(log, 40))
			}
			if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
				t.Fatalf("ping after reauthentications: %v\n%s", err, out)
			}
		})
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
